package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baiagent/agent/stats"
)

// envPython makes a missing Python with msgpack fail TestPythonConsumer
// instead of passing it with a log line (as in rpc/codec).
const envPython = "AGENT_TEST_PYTHON"

// python finds Debian's python3 with msgpack (3.11+ for StrEnum).
func python(t *testing.T) (string, bool) {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		cmd := exec.Command(path, "-I", "-c", "import msgpack, enum; enum.StrEnum")
		cmd.Dir = t.TempDir()
		if cmd.Run() == nil {
			return path, true
		}
	}
	msg := "no python3 (3.11+) with msgpack (apt-get install python3-msgpack)"
	if os.Getenv(envPython) == "1" {
		t.Fatalf("%s=1 but %s", envPython, msg)
	}
	t.Logf("Python consumer not run: %s; set %s=1 to make this fatal", msg, envPython)
	return "", false
}

// consumerInput is what testdata/upstream_consumer.py reads.
type consumerInput struct {
	Anycast      []map[string]string `json:"anycast"`
	Broadcast    []string            `json:"broadcast"`
	NodeStats    string              `json:"node_stats"`
	KernelStats  string              `json:"kernel_stats"`
	ContainerLog []string            `json:"container_log"`
}

// consumerLine is one line the consumer prints.
type consumerLine struct {
	Via  string          `json:"via"`
	Name string          `json:"name"`
	Got  json.RawMessage `json:"got"`
}

// TestPythonConsumer has Python read what the producer wrote, as a 26.8
// manager does (msgpack with upstream's ext hooks, pickles loaded into
// classes of upstream's names, each event's deserialize and checks).
func TestPythonConsumer(t *testing.T) {
	py, ok := python(t)
	if !ok {
		return
	}
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	ch := subscribe(t, s)
	ctx := t.Context()
	hb, err := AgentHeartbeat(testAgentInfo())
	if err != nil {
		t.Fatal(err)
	}
	var in consumerInput
	publish := func(ev Event) {
		if err := p.Publish(ctx, ev); err != nil {
			t.Fatalf("%s: %v", ev.Name, err)
		}
		if ev.Delivery&Broadcast != 0 {
			select {
			case m := <-ch:
				in.Broadcast = append(in.Broadcast, m.Payload)
			case <-time.After(5 * time.Second):
				t.Fatal("no broadcast")
			}
		}
	}
	publish(hb)
	for _, tc := range eventCases(t) {
		publish(tc.ev)
	}
	rdb := s.client(t, DBStream)
	msgs, err := rdb.XRange(ctx, StreamKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		in.Anycast = append(in.Anycast, map[string]string{
			"name":     m.Values["name"].(string),
			"source":   m.Values["source"].(string),
			"args":     base64.StdEncoding.EncodeToString([]byte(m.Values["args"].(string))),
			"metadata": m.Values["metadata"].(string),
		})
	}
	mv := stats.MetricValue{"current": "1", "capacity": nil, "pct": "0.00", "unit_hint": "bytes", "stats.version": 2}
	if err := p.WriteNodeStats(ctx, stats.NodeStats{
		Node:    map[string]stats.MetricValue{"mem": mv},
		Devices: map[string]map[string]stats.MetricValue{"mem": {"root": mv}},
	}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteKernelStats(ctx, map[string]map[string]stats.MetricValue{kernelText: {"mem": mv, "cpu_util": mv}}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PushContainerLog(ctx, "c0ffee", strings.NewReader("hello\nworld\n"), 5); err != nil {
		t.Fatal(err)
	}
	stat := s.client(t, DBStatistics)
	in.NodeStats = base64.StdEncoding.EncodeToString([]byte(stat.Get(ctx, testAgentID).Val()))
	in.KernelStats = base64.StdEncoding.EncodeToString([]byte(stat.Get(ctx, kernelText).Val()))
	in.ContainerLog = s.client(t, DBContainerLog).LRange(ctx, "containerlog.c0ffee", 0, -1).Val()

	dir := t.TempDir()
	inPath := filepath.Join(dir, "in.json")
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/upstream_consumer.py")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, py, "-I", script, inPath)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("upstream_consumer.py: %v\n%s\n%s", err, out, stderr.String())
	}
	got := map[string]string{}
	var lines int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l consumerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got[l.Via+" "+l.Name] = string(l.Got)
		lines++
	}
	if want := len(in.Anycast) + len(in.Broadcast) + 3; lines != want {
		t.Errorf("%d lines, want %d:\n%s", lines, want, out)
	}
	for key, want := range map[string]string{
		"anycast agent_heartbeat": `{"images": [["cr.backend.ai/stable/python:3.13", "sha256:aa"], ["cr.backend.ai/stable/r:4", "sha256:bb"]], ` +
			`"plugins": ["cpu"], "slots": {"cpu": "8", "cuda.device": "2", "mem": "33285996544"}, ` +
			`"units": {"cpu": "count", "cuda.device": "count", "mem": "bytes"}}`,
		"broadcast kernel_terminated": `{"exit_code": -1, "reason": "unknown"}`,
		"anycast image_pull_failed":   `{"agent_id": "i-agent-test", "image": "img", "image_ref": "3.13"}`,
		"broadcast bgtask_failed":     `{"rest": ["RuntimeError('x')"], "task_id": "` + taskText + `"}`,
		"stats node":                  `["mem"]`,
		"stats kernel":                `["cpu_util", "mem"]`,
		"containerlog log":            `"hello\nworld\n"`,
	} {
		if got[key] != want {
			t.Errorf("%s:\n got %s\nwant %s", key, got[key], want)
		}
	}
	t.Logf("python read %d messages", lines)
}
