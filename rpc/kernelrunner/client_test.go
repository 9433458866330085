package kernelrunner

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"
)

// echoStatus answers `status` as the krunner does.
func answerStatus(m msg) [][]string {
	if m.typ != msgStatus {
		return nil
	}
	b, _ := msgpack.Marshal(map[string]any{"started_at": 1234.5})
	return [][]string{{msgStatus, string(b)}}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func exitCode(r Result) int {
	if r.ExitCode == nil {
		return -999
	}
	return *r.ExitCode
}

func TestQueryFinished(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		if m.typ != msgCode {
			return nil
		}
		return [][]string{{msgStdout, "hello "}, {msgStdout, "world\n"}, finished(0)}
	})
	c := dial(t, f, Options{})
	res, err := c.Execute(ctxTimeout(t, 10*time.Second), "r1", ModeQuery, "print('hello world')", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if got := f.expect(msgCode); got.data != "print('hello world')" {
		t.Errorf("code sent = %q", got.data)
	}
	if res.RunID != "r1" || res.Status != StatusFinished || exitCode(res) != 0 {
		t.Errorf("result = %+v", res)
	}
	want := [][2]any{{"stdout", "hello world\n"}}
	if diff := cmp.Diff(want, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	// The run ended: the same id starts a new run.
	res, err = c.Execute(ctxTimeout(t, 10*time.Second), "r1", ModeQuery, "again", nil, 0, 2)
	if err != nil || res.Status != StatusFinished {
		t.Fatalf("second Execute = %+v, %v", res, err)
	}
}

func TestConsoleCoalescing(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		if m.typ != msgCode {
			return nil
		}
		return [][]string{
			{msgStdout, "a"}, {msgStdout, "b"}, {msgStderr, "c"}, {msgStderr, "d"},
			{msgStdout, "e"},
			{msgMedia, `{"type": "image/png", "data": "iVBOR"}`},
			{msgStdout, "f"}, {msgHTML, "<b>x</b>"}, {msgLog, "note"},
			{msgStdout, "h\xc3"}, {msgStdout, "\xa9llo"}, // é split across records
			{"model-service-status", "{}"}, // not an output type: ignored
			finished(0),
		}
	})
	c := dial(t, f, Options{})
	res, err := c.Execute(ctxTimeout(t, 10*time.Second), "", ModeQuery, "x", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	want := [][2]any{
		{"stdout", "ab"}, {"stderr", "cd"}, {"stdout", "e"},
		{"media", [2]any{"image/png", "iVBOR"}},
		{"stdout", "f"}, {"html", "<b>x</b>"}, {"log", "note"},
		{"stdout", "héllo"},
	}
	if diff := cmp.Diff(want, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	if len(res.RunID) != 32 {
		t.Errorf("generated run id = %q", res.RunID)
	}

	v2 := res.AsDict(0)
	wantV2 := map[string]any{
		"runId": res.RunID, "status": "finished", "exitCode": 0, "options": nil, "files": []any{},
		"console": []any{
			[]any{"stdout", "ab"}, []any{"stderr", "cd"}, []any{"stdout", "e"},
			[]any{"media", []any{"image/png", "iVBOR"}},
			[]any{"stdout", "f"}, []any{"html", "<b>x</b>"}, []any{"log", "note"},
			[]any{"stdout", "héllo"},
		},
	}
	if diff := cmp.Diff(wantV2, v2); diff != "" {
		t.Errorf("AsDict(2) (-want +got):\n%s", diff)
	}
	v1 := res.AsDict(1)
	wantV1 := map[string]any{
		"runId": res.RunID, "status": "finished", "exitCode": 0, "options": nil, "files": []any{},
		"stdout": "abefhéllo", "stderr": "cd",
		"media": []any{[]any{"image/png", "iVBOR"}}, "html": []any{"<b>x</b>"},
	}
	if diff := cmp.Diff(wantV1, v1); diff != "" {
		t.Errorf("AsDict(1) (-want +got):\n%s", diff)
	}
	if _, err := json.Marshal(v2); err != nil {
		t.Errorf("AsDict not JSON-encodable: %v", err)
	}
	if _, err := msgpack.Marshal(v2); err != nil {
		t.Errorf("AsDict not msgpack-encodable: %v", err)
	}
}

func TestWaitingInputThenInput(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		switch m.typ {
		case msgCode:
			return [][]string{{msgStdout, "Password: "}, {StatusWaitingInput, `{"is_password": true}`}}
		case msgInput:
			return [][]string{{msgStdout, "got " + m.data + "\n"}, finished(0)}
		}
		return nil
	})
	c := dial(t, f, Options{})
	ctx := ctxTimeout(t, 10*time.Second)
	res, err := c.Execute(ctx, "in", ModeQuery, "getpass()", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Status != StatusWaitingInput || res.ExitCode != nil {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff(map[string]any{"is_password": true}, res.Options); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "Password: "}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	res, err = c.Execute(ctx, "in", ModeInput, "s3cret", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute input: %v", err)
	}
	if got := f.expect(msgCode); got.data != "getpass()" {
		t.Errorf("code = %q", got.data)
	}
	if got := f.expect(msgInput); got.data != "s3cret" {
		t.Errorf("input = %q", got.data)
	}
	if res.Status != StatusFinished || exitCode(res) != 0 {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "got s3cret\n"}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
}

func TestFlushTimeoutContinued(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		if m.typ == msgCode {
			return [][]string{{msgStdout, "part1 "}}
		}
		return nil
	})
	c := dial(t, f, Options{})
	ctx := ctxTimeout(t, 10*time.Second)
	start := time.Now()
	res, err := c.Execute(ctx, "long", ModeQuery, "slow()", nil, 200*time.Millisecond, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("continued after %v, before the flush timeout", el)
	}
	if res.Status != StatusContinued || res.RunID != "long" {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "part1 "}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}

	// Output that comes while no call waits is queued for the run.
	f.send([]string{msgStdout, "part2 "}, []string{msgStdout, "part3"})
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.current != nil && len(c.current.recs) == 2
	})
	// Another run waits for this one to end.
	other := make(chan Result, 1)
	go func() {
		r, _ := c.Execute(ctx, "other", ModeContinue, "", nil, 0, 2)
		other <- r
	}()
	f.send(finished(7))
	res, err = c.Execute(ctx, "long", ModeContinue, "", nil, 5*time.Second, 2)
	if err != nil {
		t.Fatalf("Execute continue: %v", err)
	}
	if res.Status != StatusFinished || exitCode(res) != 7 {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "part2 part3"}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	// Now "other" is current and gets the next output.
	f.send([]string{msgStderr, "oops"}, finished(1))
	select {
	case r := <-other:
		if r.RunID != "other" || r.Status != StatusFinished || exitCode(r) != 1 {
			t.Errorf("other run = %+v", r)
		}
		if diff := cmp.Diff([][2]any{{"stderr", "oops"}}, r.Console); diff != "" {
			t.Errorf("other console (-want +got):\n%s", diff)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting run never got its turn")
	}
}

func TestExecTimeoutByDeadline(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		switch {
		case m.typ == msgCode && m.data == "sleep":
			return [][]string{{msgStdout, "started"}}
		case m.typ == msgCode:
			return [][]string{finished(0)}
		}
		return nil
	})
	c := dial(t, f, Options{})
	res, err := c.Execute(ctxTimeout(t, 300*time.Millisecond), "t", ModeQuery, "sleep", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Status != StatusExecTimeout || res.ExitCode != nil {
		t.Fatalf("result = %+v", res)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "started"}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	// The run ended: a new one goes through.
	res, err = c.Execute(ctxTimeout(t, 5*time.Second), "t2", ModeQuery, "x", nil, 0, 2)
	if err != nil || res.Status != StatusFinished {
		t.Fatalf("next Execute = %+v, %v", res, err)
	}
}

func TestExecTimeoutWatchdog(t *testing.T) {
	f := newFakeRunner(t, nil)
	c := dial(t, f, Options{ExecTimeout: 200 * time.Millisecond})
	res, err := c.Execute(ctxTimeout(t, 5*time.Second), "w", ModeQuery, "loop()", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res.Status != StatusExecTimeout {
		t.Fatalf("result = %+v", res)
	}
}

func TestCancelKeepsRecords(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		if m.typ == msgCode {
			return [][]string{{msgStdout, "kept"}}
		}
		return nil
	})
	c := dial(t, f, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		f.expect(msgCode)
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	_, err := c.Execute(ctx, "k", ModeQuery, "x", nil, 0, 2)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute err = %v, want context.Canceled", err)
	}
	f.send(finished(0))
	res, err := c.Execute(ctxTimeout(t, 5*time.Second), "k", ModeContinue, "", nil, 0, 2)
	if err != nil || res.Status != StatusFinished {
		t.Fatalf("continue = %+v, %v", res, err)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "kept"}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
}

func TestBatchSequence(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		switch m.typ {
		case msgClean:
			return [][]string{{StatusCleanFinished, `{"exitCode": 0}`}}
		case msgBuild:
			return [][]string{{msgStdout, "building\n"}, {StatusBuildFinished, `{"exitCode": 0}`}}
		case msgExec:
			return [][]string{{msgStdout, "running\n"}, {msgStderr, "failed\n"}, finished(3)}
		}
		return nil
	})
	c := dial(t, f, Options{})
	ctx := ctxTimeout(t, 10*time.Second)
	opts := map[string]any{"clean": nil, "build": "make", "exec": "./main"}
	var statuses []string
	var console [][2]any
	res, err := c.Execute(ctx, BatchRunID, ModeBatch, "", opts, time.Second, 3)
	for err == nil {
		statuses = append(statuses, res.Status)
		console = append(console, res.Console...)
		if res.Status == StatusFinished {
			break
		}
		res, err = c.Execute(ctx, BatchRunID, ModeContinue, "", nil, time.Second, 3)
	}
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if diff := cmp.Diff([]string{StatusCleanFinished, StatusBuildFinished, StatusFinished}, statuses); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if exitCode(res) != 3 {
		t.Errorf("exit code = %v", exitCode(res))
	}
	wantConsole := [][2]any{{"stdout", "building\n"}, {"stdout", "running\n"}, {"stderr", "failed\n"}}
	if diff := cmp.Diff(wantConsole, console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
	for _, want := range []msg{{msgClean, ""}, {msgBuild, "make"}, {msgExec, "./main"}} {
		if got := f.expect(want.typ); got != want {
			t.Errorf("runner got %+v, want %+v", got, want)
		}
	}

	// RunBatch drives the same loop to a session_failure outcome.
	out, err := c.RunBatch(ctx, "./main")
	if err != nil {
		t.Fatalf("RunBatch: %v", err)
	}
	if out != (BatchOutcome{Reason: ReasonTaskFailed, ExitCode: 3}) {
		t.Errorf("RunBatch = %+v", out)
	}
}

func TestBatchTimeout(t *testing.T) {
	f := newFakeRunner(t, nil)
	c := dial(t, f, Options{})
	out, err := c.RunBatch(ctxTimeout(t, 300*time.Millisecond), "sleep 100")
	if err != nil {
		t.Fatalf("RunBatch: %v", err)
	}
	if out != (BatchOutcome{Reason: ReasonTaskTimeout, ExitCode: -2}) {
		t.Errorf("RunBatch = %+v", out)
	}
}

func TestRecordTruncated(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxRecordSize+100)
	f := newFakeRunner(t, func(m msg) [][]string {
		if m.typ == msgCode {
			return [][]string{{msgStdout, big}, finished(0)}
		}
		return nil
	})
	c := dial(t, f, Options{})
	res, err := c.Execute(ctxTimeout(t, 20*time.Second), "big", ModeQuery, "spam()", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if len(res.Console) != 1 {
		t.Fatalf("console has %d items", len(res.Console))
	}
	if s := res.Console[0][1].(string); len(s) != DefaultMaxRecordSize {
		t.Errorf("stdout record is %d bytes, want %d", len(s), DefaultMaxRecordSize)
	}
}

func TestQueueCapDropsOldest(t *testing.T) {
	f := newFakeRunner(t, nil)
	c := dial(t, f, Options{MaxQueuedRecords: 4})
	ctx := ctxTimeout(t, 10*time.Second)
	res, err := c.Execute(ctx, "cap", ModeQuery, "x", nil, 50*time.Millisecond, 2)
	if err != nil || res.Status != StatusContinued {
		t.Fatalf("Execute = %+v, %v", res, err)
	}
	var msgs [][]string
	for i := range 10 {
		msgs = append(msgs, []string{msgStdout, string(rune('0' + i))})
	}
	f.send(append(msgs, finished(0))...)
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := len(c.current.recs)
		return n > 0 && c.current.recs[n-1].typ == StatusFinished
	})
	res, err = c.Execute(ctx, "cap", ModeContinue, "", nil, 0, 2)
	if err != nil || res.Status != StatusFinished {
		t.Fatalf("continue = %+v, %v", res, err)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "789"}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
}

func TestMalformedMessageIgnored(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		if m.typ == msgCode {
			return [][]string{
				{msgStdout, "dropped", "third frame"},
				{msgStdout},
				{msgStdout, "ok"},
				finished(0),
			}
		}
		return nil
	})
	c := dial(t, f, Options{})
	res, err := c.Execute(ctxTimeout(t, 10*time.Second), "m", ModeQuery, "x", nil, 0, 2)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if diff := cmp.Diff([][2]any{{"stdout", "ok"}}, res.Console); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
}

func TestStatusAndWaitReady(t *testing.T) {
	f := newFakeRunner(t, answerStatus)
	c := dial(t, f, Options{})
	started, err := c.WaitReady(ctxTimeout(t, 10*time.Second), 50*time.Millisecond)
	if err != nil || started != 1234.5 {
		t.Fatalf("WaitReady = %v, %v", started, err)
	}
	started, err = c.Status(ctxTimeout(t, 5*time.Second))
	if err != nil || started != 1234.5 {
		t.Fatalf("Status = %v, %v", started, err)
	}
}

func TestWaitReadyLateRunner(t *testing.T) {
	// The runner comes up after the client started polling, as a kernel
	// whose bootstrap takes a while.
	f := newFakeRunner(t, nil)
	c := dial(t, f, Options{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.handleSet(answerStatus)
	}()
	start := time.Now()
	if _, err := c.WaitReady(ctxTimeout(t, 10*time.Second), 50*time.Millisecond); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("ready after %v, before the runner answered", el)
	}
	_, err := c.WaitReady(ctxTimeout(t, 100*time.Millisecond), 0)
	if err != nil {
		t.Errorf("second WaitReady: %v", err)
	}
}

func TestServiceCompletionApps(t *testing.T) {
	f := newFakeRunner(t, func(m msg) [][]string {
		switch m.typ {
		case msgStartService:
			var req map[string]any
			if err := json.Unmarshal([]byte(m.data), &req); err != nil || req["name"] == "silent" {
				return nil
			}
			return [][]string{{msgServiceResult, `{"status": "started"}`}}
		case msgComplete:
			return [][]string{{msgCompletion, `{"suggestions": ["print", "property"]}`}}
		case msgGetApps:
			return [][]string{{msgAppsResult, `{"status": "done", "data": [{"name": "jupyter"}]}`}}
		}
		return nil
	})
	c := dial(t, f, Options{ServiceTimeout: 200 * time.Millisecond})
	ctx := ctxTimeout(t, 10*time.Second)

	got, err := c.StartService(ctx, "jupyter", map[string]any{"port": 8080, "ports": []int{8080}, "protocol": "http", "options": map[string]any{}})
	if err != nil {
		t.Fatalf("StartService: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"status": "started"}, got); diff != "" {
		t.Errorf("StartService (-want +got):\n%s", diff)
	}
	var req map[string]any
	if err := json.Unmarshal([]byte(f.expect(msgStartService).data), &req); err != nil {
		t.Fatal(err)
	}
	wantReq := map[string]any{"name": "jupyter", "port": 8080.0, "ports": []any{8080.0}, "protocol": "http", "options": map[string]any{}}
	if diff := cmp.Diff(wantReq, req); diff != "" {
		t.Errorf("start-service payload (-want +got):\n%s", diff)
	}

	got, err = c.StartService(ctx, "silent", nil)
	if err != nil {
		t.Fatalf("StartService: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"status": "failed", "error": "timeout"}, got); diff != "" {
		t.Errorf("StartService timeout (-want +got):\n%s", diff)
	}
	f.expect(msgStartService)

	got, err = c.Complete(ctx, "pr", map[string]any{"row": 0})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"suggestions": []any{"print", "property"}}, got); diff != "" {
		t.Errorf("Complete (-want +got):\n%s", diff)
	}
	if m := f.expect(msgComplete); m.data != `{"code":"pr","row":0}` {
		t.Errorf("complete payload = %s", m.data)
	}

	got, err = c.GetApps(ctx, "")
	if err != nil || got["status"] != "done" {
		t.Fatalf("GetApps = %v, %v", got, err)
	}
	f.expect(msgGetApps)

	if err := c.ShutdownService(ctx, "jupyter"); err != nil {
		t.Fatalf("ShutdownService: %v", err)
	}
	if m := f.expect(msgShutdownSvc); m.data != `"jupyter"` {
		t.Errorf("shutdown-service payload = %s", m.data)
	}
	if err := c.SendEvent(ctx, "oom", nil); err != nil {
		t.Fatalf("SendEvent: %v", err)
	}
	if m := f.expect(msgEvent); m.data != `{"data":null,"type":"oom"}` {
		t.Errorf("event payload = %s", m.data)
	}
	r, err := c.Interrupt(ctx)
	if err != nil || r["status"] != "finished" {
		t.Fatalf("Interrupt = %v, %v", r, err)
	}
	f.expect(msgInterrupt)
}

func TestCompleteTimeout(t *testing.T) {
	f := newFakeRunner(t, nil)
	c := dial(t, f, Options{CompleteTimeout: 100 * time.Millisecond})
	got, err := c.Complete(ctxTimeout(t, 5*time.Second), "x", nil)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"status": "failed", "error": "timeout"}, got); diff != "" {
		t.Errorf("Complete (-want +got):\n%s", diff)
	}
	// The caller's own deadline is an error, not the timeout dict.
	_, err = c.Complete(ctxTimeout(t, 20*time.Millisecond), "x", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Complete with a short ctx: err = %v", err)
	}
}

func TestKeepalive(t *testing.T) {
	f := newFakeRunner(t, nil)
	dial(t, f, Options{Keepalive: 50 * time.Millisecond})
	for range 3 {
		f.expect(msgStatus)
	}
}

func TestVanishedRunnerNoLeak(t *testing.T) {
	f := newFakeRunner(t, nil)
	before := runtime.NumGoroutine()
	c, err := Dial(context.Background(), Options{Host: "127.0.0.1", ReplIn: f.inPort, ReplOut: f.outPort, Log: testLogger(t), Keepalive: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	f.Close()
	start := time.Now()
	res, err := c.Execute(ctxTimeout(t, 300*time.Millisecond), "gone", ModeQuery, "x", nil, 0, 2)
	if err != nil || res.Status != StatusExecTimeout {
		t.Fatalf("Execute = %+v, %v", res, err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Execute took %v", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.Execute(ctx, "gone2", ModeQuery, "x", nil, 0, 2); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Execute err = %v", err)
	}
	// A call waiting when Close comes returns ErrClosed.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Status(context.Background())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start = time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Close took %v", el)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Status during Close: err = %v", err)
	}
	if _, err := c.Execute(context.Background(), "after", ModeQuery, "x", nil, 0, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Execute after Close: err = %v", err)
	}
	// The fake runner's goroutine, counted in before, has ended too: the
	// slack of one covers a runtime goroutine that came and went.
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

func TestRunBusyAndBadArgs(t *testing.T) {
	f := newFakeRunner(t, nil)
	c := dial(t, f, Options{})
	ctx := ctxTimeout(t, 5*time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Execute(ctx, "b", ModeQuery, "x", nil, 300*time.Millisecond, 2)
	}()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.current != nil && c.current.busy
	})
	if _, err := c.Execute(ctx, "b", ModeContinue, "", nil, 0, 2); !errors.Is(err, ErrRunBusy) {
		t.Errorf("concurrent Execute err = %v", err)
	}
	<-done
	if _, err := c.Execute(ctx, "b", "bogus", "", nil, 0, 2); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := c.Execute(ctx, "b", ModeBatch, "", map[string]any{"exec": 3}, 0, 2); err == nil {
		t.Error("non-string batch command accepted")
	}
	if _, err := c.Execute(ctx, "b", ModeQuery, "", nil, 0, 0); err == nil {
		t.Error("api version 0 accepted")
	}
	if _, err := Dial(ctx, Options{Host: "127.0.0.1", ReplIn: 0, ReplOut: 1}); err == nil {
		t.Error("port 0 accepted")
	}
}

func TestUTF8Decoder(t *testing.T) {
	var d utf8Decoder
	chunks := [][]byte{[]byte("a\xe2"), []byte("\x82"), []byte("\xacb\xff"), []byte("\xf0\x9f"), []byte("\x98\x80")}
	var sb strings.Builder
	for _, ch := range chunks {
		sb.WriteString(d.decode(ch))
	}
	if got, want := sb.String(), "a€b\uFFFD😀"; got != want {
		t.Errorf("decoded %q, want %q", got, want)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWaitingRunAbandoned(t *testing.T) {
	f := newFakeRunner(t, nil)
	c := dial(t, f, Options{})
	ctx := ctxTimeout(t, 10*time.Second)
	res, err := c.Execute(ctx, "a", ModeQuery, "x", nil, 50*time.Millisecond, 2)
	if err != nil || res.Status != StatusContinued {
		t.Fatalf("Execute a = %+v, %v", res, err)
	}
	// b waits behind a and gives up: it must not take a's place later.
	if _, err := c.Execute(ctxTimeout(t, 100*time.Millisecond), "b", ModeQuery, "y", nil, 0, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Execute b err = %v", err)
	}
	f.expect(msgCode) // a's code only: b's was never sent
	f.send(finished(0))
	if res, err := c.Execute(ctx, "a", ModeContinue, "", nil, 0, 2); err != nil || res.Status != StatusFinished {
		t.Fatalf("continue a = %+v, %v", res, err)
	}
	c.mu.Lock()
	cur, npend, nruns := c.current, len(c.pending), len(c.runs)
	c.mu.Unlock()
	if cur != nil || npend != 0 || nruns != 0 {
		t.Errorf("after the runs: current %v, %d pending, %d runs", cur, npend, nruns)
	}
	select {
	case m := <-f.received:
		t.Errorf("runner got %+v, nothing expected", m)
	case <-time.After(50 * time.Millisecond):
	}
}
