package events

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/baiagent/agent/rpc/codec"
)

var (
	kernelText  = "0f1e2d3c-4b5a-4697-8877-665544332211"
	sessionText = "6a1b7c2d-0e4f-4a5b-9c8d-7e6f5a4b3c2d"
	taskText    = "11111111-2222-4333-8444-555555555555"
)

// eventCase is an event and what a consumer must read from it.
type eventCase struct {
	name     string
	ev       Event
	delivery Delivery
	cacheID  string
	args     []any  // codec.Decode of the 26.8 args
	json     string // the main payload
}

func eventCases(t *testing.T) []eventCase {
	kid, sid, tid := mustUUID(t, kernelText), mustUUID(t, sessionText), mustUUID(t, taskText)
	project := "stable"
	ref := &codec.ImageRef{Name: "stable/python", Project: &project, Tag: "3.13",
		Registry: "cr.backend.ai", Architecture: "x86_64"}
	at := time.Unix(1724400000, 250000000)
	reason := func(v string) codec.Enum { return codec.Enum{Module: reasonModule, Class: reasonClass, Value: v} }
	refJSON := `{"name":"stable/python","project":"stable","tag":"3.13","registry":"cr.backend.ai","architecture":"x86_64","is_local":false}`
	both := Anycast | Broadcast
	return []eventCase{
		{"agent_started", AgentStarted(AgentReasonSelfStarted), Anycast, "",
			[]any{"self-started"}, `{"reason":"self-started"}`},
		{"agent_terminated", AgentTerminated(AgentReasonShutdown), Anycast, "",
			[]any{"shutdown"}, `{"reason":"shutdown"}`},
		{"agent_error", AgentError("ValueError: x <y>", "  File a.py"), Anycast, "",
			[]any{"ValueError: x <y>", "  File a.py", nil, map[string]any{}, "ERROR"},
			`{"message":"ValueError: x <y>","traceback":"  File a.py","user":null,"context_env":{},"severity":"ERROR"}`},
		{"do_agent_resource_check", DoAgentResourceCheck(testAgentID), Anycast, "",
			[]any{testAgentID}, `{"agent_id":"i-agent-test"}`},
		{"kernel_preparing", KernelPreparing(kid, sid), both, "",
			[]any{kernelText, sessionText, "", map[string]any{}},
			`{"kernel_id":"` + kernelText + `","session_id":"` + sessionText + `","reason":""}`},
		{"kernel_pulling", KernelPulling(kid, sid, "cr.backend.ai/stable/python:3.13"), both, "",
			[]any{kernelText, sessionText, "cr.backend.ai/stable/python:3.13", map[string]any{}},
			`{"kernel_id":"` + kernelText + `","session_id":"` + sessionText + `","reason":"cr.backend.ai/stable/python:3.13"}`},
		{"kernel_creating", KernelCreating(kid, sid), both, "",
			[]any{kernelText, sessionText, "", map[string]any{}},
			`{"kernel_id":"` + kernelText + `","session_id":"` + sessionText + `","reason":""}`},
		{"kernel_started", KernelStarted(kid, sid, "c0ffee", map[string]any{"kernel_host": "10.0.0.5", "repl_in_port": 30000}), both, "",
			[]any{kernelText, sessionText, "", map[string]any{
				"container_id": "c0ffee", "id": kernelText, "kernel_host": "10.0.0.5", "repl_in_port": int64(30000)}},
			`{"kernel_id":"` + kernelText + `","session_id":"` + sessionText + `","reason":"","creation_info":{"container_id":"c0ffee","id":"` + kernelText + `","kernel_host":"10.0.0.5","repl_in_port":30000}}`},
		{"kernel_terminated", KernelTerminated(kid, sid, ReasonUserRequested, 137), both, "",
			[]any{kernelText, sessionText, reason("user-requested"), int64(137)},
			`{"kernel_id":"` + kernelText + `","session_id":"` + sessionText + `","reason":"user-requested","exit_code":137}`},
		{"kernel_terminated bad reason", KernelTerminated(kid, sid, "no-such-reason", -1), both, "",
			[]any{kernelText, sessionText, reason("unknown"), int64(-1)},
			`{"kernel_id":"` + kernelText + `","session_id":"` + sessionText + `","reason":"unknown","exit_code":-1}`},
		{"do_sync_kernel_logs", DoSyncKernelLogs(kid, "c0ffee"), Anycast, "",
			[]any{kernelText, "c0ffee"}, `{"kernel_id":"` + kernelText + `","container_id":"c0ffee"}`},
		{"image_pull_started", ImagePullStarted(testAgentID, "cr.backend.ai/stable/python:3.13", ref, at), Anycast, "",
			[]any{"cr.backend.ai/stable/python:3.13", testAgentID, 1724400000.25, *ref},
			`{"image":"cr.backend.ai/stable/python:3.13","agent_id":"i-agent-test","timestamp":1724400000.25,"image_ref":` + refJSON + `}`},
		{"image_pull_started no ref", ImagePullStarted(testAgentID, "img", nil, at), Anycast, "",
			[]any{"img", testAgentID, 1724400000.25},
			`{"image":"img","agent_id":"i-agent-test","timestamp":1724400000.25,"image_ref":null}`},
		{"image_pull_finished", ImagePullFinished(testAgentID, "img", ref, at, MsgImageAlreadyExists), Anycast, "",
			[]any{"img", testAgentID, 1724400000.25, "Image already exists", *ref},
			`{"image":"img","agent_id":"i-agent-test","timestamp":1724400000.25,"msg":"Image already exists","image_ref":` + refJSON + `}`},
		{"image_pull_finished no msg", ImagePullFinished(testAgentID, "img", nil, at, ""), Anycast, "",
			[]any{"img", testAgentID, 1724400000.25, nil, nil},
			`{"image":"img","agent_id":"i-agent-test","timestamp":1724400000.25,"msg":null,"image_ref":null}`},
		{"image_pull_failed", ImagePullFailed(testAgentID, "img", ref, "timeout (s:60)"), Anycast, "",
			[]any{"img", testAgentID, "timeout (s:60)", *ref},
			`{"image":"img","agent_id":"i-agent-test","msg":"timeout (s:60)","image_ref":` + refJSON + `}`},
		{"bgtask_updated", BgtaskUpdated(tid, 3, 10, "pulling"), Broadcast, "bgtask." + taskText,
			[]any{taskText, int64(3), int64(10), "pulling"},
			`{"task_id":"` + taskText + `","current_progress":3,"total_progress":10,"message":"pulling"}`},
		{"bgtask_updated fraction", BgtaskUpdated(tid, 0.5, 1, ""), Broadcast, "bgtask." + taskText,
			[]any{taskText, 0.5, int64(1), nil},
			`{"task_id":"` + taskText + `","current_progress":0.5,"total_progress":1,"message":null}`},
		{"bgtask_done", BgtaskDone(tid, "done"), Broadcast, "bgtask." + taskText,
			[]any{taskText, "done"}, `{"task_id":"` + taskText + `","message":"done"}`},
		{"bgtask_failed", BgtaskFailed(tid, "RuntimeError('x')"), Broadcast, "bgtask." + taskText,
			[]any{taskText, "RuntimeError('x')"}, `{"task_id":"` + taskText + `","message":"RuntimeError('x')"}`},
	}
}

// TestEventBodies checks each constructor's tuple and JSON body without
// Redis.
func TestEventBodies(t *testing.T) {
	for _, tc := range eventCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ev.Delivery != tc.delivery || tc.ev.CacheID != tc.cacheID {
				t.Errorf("delivery %d cache %q, want %d %q", tc.ev.Delivery, tc.ev.CacheID, tc.delivery, tc.cacheID)
			}
			b, err := tc.ev.body(WireMsgpack26)
			if err != nil {
				t.Fatal(err)
			}
			checkArgs(t, b, tc.args)
			j, err := tc.ev.body(WireJSON)
			if err != nil {
				t.Fatal(err)
			}
			if string(j) != tc.json {
				t.Errorf("json body\n got %s\nwant %s", j, tc.json)
			}
		})
	}
}

func checkArgs(t *testing.T, packed []byte, want []any) {
	t.Helper()
	got, err := codec.Decode(packed)
	if err != nil {
		t.Fatalf("decode args: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("args\n got %#v\nwant %#v", got, want)
	}
}

// TestPublishAnycast reads every anycast event back from the stream as a
// manager's consumer does: XRANGE events, fields name, source, args,
// metadata.
func TestPublishAnycast(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	rdb := s.client(t, DBStream)
	ctx := t.Context()
	var want []eventCase
	for _, tc := range eventCases(t) {
		if err := p.Publish(ctx, tc.ev); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.delivery&Anycast != 0 {
			want = append(want, tc)
		}
	}
	msgs, err := rdb.XRange(ctx, StreamKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d stream entries, want %d", len(msgs), len(want))
	}
	for i, m := range msgs {
		tc := want[i]
		t.Run(tc.name, func(t *testing.T) {
			keys := streamKeys(t, rdb, m.ID)
			if want := []string{"name", "source", "args", "metadata"}; !reflect.DeepEqual(keys, want) {
				t.Errorf("fields %v, want %v", keys, want)
			}
			if m.Values["name"] != tc.ev.Name || m.Values["source"] != testAgentID {
				t.Errorf("name %v source %v", m.Values["name"], m.Values["source"])
			}
			if m.Values["metadata"] != metadata {
				t.Errorf("metadata %v", m.Values["metadata"])
			}
			checkArgs(t, []byte(m.Values["args"].(string)), tc.args)
		})
	}
}

// streamKeys returns the field names of stream entry id in order.
func streamKeys(t *testing.T, rdb *redis.Client, id string) []string {
	t.Helper()
	raw, err := rdb.Do(t.Context(), "XRANGE", StreamKey, id, id).Slice()
	if err != nil || len(raw) != 1 {
		t.Fatalf("xrange %s: %v %v", id, raw, err)
	}
	entry := raw[0].([]any)
	kv := entry[1].([]any)
	var keys []string
	for i := 0; i < len(kv); i += 2 {
		keys = append(keys, kv[i].(string))
	}
	return keys
}

// broadcastJSON is upstream's broadcast message.
type broadcastJSON struct {
	Name     string  `json:"name"`
	Source   string  `json:"source"`
	Args     *string `json:"args"`
	Payload  *string `json:"payload"`
	Metadata string  `json:"metadata"`
}

// subscribe subscribes to the broadcast channel before anything is
// published.
func subscribe(t *testing.T, s *redisServer) <-chan *redis.Message {
	t.Helper()
	sub := s.client(t, DBStream).Subscribe(t.Context(), BroadcastChannel)
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	return sub.Channel()
}

func receive(t *testing.T, ch <-chan *redis.Message) broadcastJSON {
	t.Helper()
	select {
	case m := <-ch:
		var b broadcastJSON
		if err := json.Unmarshal([]byte(m.Payload), &b); err != nil {
			t.Fatalf("broadcast %q: %v", m.Payload, err)
		}
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no broadcast")
	}
	return broadcastJSON{}
}

// TestPublishBroadcast subscribes to events_all and decodes every
// broadcast as upstream's MessagePayload.from_broadcast does.
func TestPublishBroadcast(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	ch := subscribe(t, s)
	rdb := s.client(t, DBStream)
	for _, tc := range eventCases(t) {
		if tc.delivery&Broadcast == 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if err := p.Publish(t.Context(), tc.ev); err != nil {
				t.Fatal(err)
			}
			b := receive(t, ch)
			if b.Name != tc.ev.Name || b.Source != testAgentID || b.Metadata != metadata || b.Args == nil || b.Payload != nil {
				t.Fatalf("broadcast %+v", b)
			}
			packed, err := base64.StdEncoding.DecodeString(*b.Args)
			if err != nil {
				t.Fatal(err)
			}
			checkArgs(t, packed, tc.args)
			if tc.cacheID == "" {
				return
			}
			cached, err := rdb.Get(t.Context(), tc.cacheID).Result()
			if err != nil {
				t.Fatalf("cached broadcast %s: %v", tc.cacheID, err)
			}
			var c broadcastJSON
			if err := json.Unmarshal([]byte(cached), &c); err != nil || !reflect.DeepEqual(c, b) {
				t.Errorf("cached %s = %s (%v), want the broadcast", tc.cacheID, cached, err)
			}
			if ttl := rdb.TTL(t.Context(), tc.cacheID).Val(); ttl <= 0 || ttl > BroadcastCacheTTL {
				t.Errorf("cache ttl %v", ttl)
			}
		})
	}
}

// TestPublishJSON checks the main wire format: payload instead of args,
// on the stream and on the channel.
func TestPublishJSON(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{WireFormat: WireJSON})
	ch := subscribe(t, s)
	rdb := s.client(t, DBStream)
	kid, sid := mustUUID(t, kernelText), mustUUID(t, sessionText)
	ev := KernelTerminated(kid, sid, ReasonSelfTerminated, 0)
	if err := p.Publish(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	wantPayload := `{"kernel_id":"` + kernelText + `","session_id":"` + sessionText + `","reason":"self-terminated","exit_code":0}`
	msgs, err := rdb.XRange(t.Context(), StreamKey, "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("xrange: %v %v", msgs, err)
	}
	if keys := streamKeys(t, rdb, msgs[0].ID); !reflect.DeepEqual(keys, []string{"name", "source", "payload", "metadata"}) {
		t.Errorf("fields %v", keys)
	}
	if got := msgs[0].Values["payload"]; got != wantPayload {
		t.Errorf("stream payload %v\nwant %s", got, wantPayload)
	}
	b := receive(t, ch)
	if b.Args != nil || b.Payload == nil || *b.Payload != wantPayload || b.Name != NameKernelTerminated {
		t.Errorf("broadcast %+v", b)
	}
}

// TestStreamTrimmed checks the approximate MAXLEN: the stream stays near
// 128 entries however many are added.
func TestStreamTrimmed(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	for i := range 1000 {
		if err := p.Publish(t.Context(), AgentStarted(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	n := s.client(t, DBStream).XLen(t.Context(), StreamKey).Val()
	if n < StreamMaxLen || n > StreamMaxLen+100 {
		t.Errorf("stream length %d after 1000 events, want about %d", n, StreamMaxLen)
	}
}

// TestPublishInvalid rejects events that cannot go on the wire, with or
// without Redis.
func TestPublishInvalid(t *testing.T) {
	p, err := New(Options{AgentID: testAgentID})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for name, ev := range map[string]Event{
		"no name":     {Delivery: Anycast},
		"no delivery": {Name: "x"},
		"bad args":    {Name: "x", Delivery: Anycast, Args: []any{make(chan int)}},
		"bad utf-8":   {Name: "x", Delivery: Anycast, Args: []any{"\xff"}},
	} {
		if err := p.Publish(context.Background(), ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: %v, want ErrInvalidEvent", name, err)
		}
	}
}
