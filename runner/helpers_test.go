package runner

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// testTimeout bounds every wait of a test for the runner.
const testTimeout = 20 * time.Second

// testMsg is one message from the runner.
type testMsg struct {
	typ     string
	payload []byte
}

// testClient plays the agent: PUSH to replin, PULL from replout.
type testClient struct {
	t    testing.TB
	push zmq4.Socket
	pull zmq4.Socket
	msgs chan testMsg
}

// startServer starts a runner on free loopback ports and returns it with a
// connected client; both are closed when the test ends.
func startServer(t testing.TB, cfg Config) (*Server, *testClient) {
	t.Helper()
	if cfg.RuntimeType == RuntimePython || cfg.RuntimeType == "" {
		requirePython(t)
		if cfg.Python == "" {
			// BAI_TEST_PYTHON runs the driver under another interpreter
			// (images bring their own: 3.6 and up).
			cfg.Python = os.Getenv("BAI_TEST_PYTHON")
		}
	}
	cfg.BindHost = "127.0.0.1"
	cfg.ReplInPort, cfg.ReplOutPort = -1, -1
	if cfg.WorkDir == "" {
		cfg.WorkDir = t.TempDir()
	}
	if cfg.ServiceDefsDir == "" {
		cfg.ServiceDefsDir = t.TempDir()
	}
	if cfg.Log == nil {
		cfg.Log = testLogger(t)
	}
	if cfg.ServiceOutput == nil {
		cfg.ServiceOutput = io.Discard
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("Serve did not return")
		}
	})
	c := dialClient(t, srv, true)
	return srv, c
}

// dialClient connects a client; withPull=false leaves the PULL side to a
// later connectPull.
func dialClient(t testing.TB, srv *Server, withPull bool) *testClient {
	t.Helper()
	c := &testClient{t: t, msgs: make(chan testMsg, 1<<16)}
	c.push = zmq4.NewPush(context.Background())
	in, _ := srv.Addrs()
	if err := c.push.Dial("tcp://" + in.String()); err != nil {
		t.Fatalf("dial replin: %v", err)
	}
	t.Cleanup(func() { _ = c.push.Close() })
	if withPull {
		c.connectPull(srv)
	}
	return c
}

func (c *testClient) connectPull(srv *Server) {
	c.t.Helper()
	c.pull = zmq4.NewPull(context.Background())
	_, out := srv.Addrs()
	if err := c.pull.Dial("tcp://" + out.String()); err != nil {
		c.t.Fatalf("dial replout: %v", err)
	}
	pull := c.pull
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := pull.Recv()
			if err != nil {
				return
			}
			if len(m.Frames) != 2 {
				c.t.Errorf("runner sent %d frames", len(m.Frames))
				continue
			}
			c.msgs <- testMsg{typ: string(m.Frames[0]), payload: m.Frames[1]}
		}
	}()
	c.t.Cleanup(func() {
		_ = pull.Close()
		<-done
	})
}

func (c *testClient) send(typ, payload string) {
	c.t.Helper()
	if err := c.push.SendMulti(zmq4.NewMsgFrom([]byte(typ), []byte(payload))); err != nil {
		c.t.Fatalf("send %s: %v", typ, err)
	}
}

func (c *testClient) sendJSON(typ string, v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(typ, string(b))
}

// next returns the next message, failing the test after timeout.
func (c *testClient) next(timeout time.Duration) testMsg {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(timeout):
		c.t.Fatalf("no message from the runner in %v", timeout)
		return testMsg{}
	}
}

// expect skips output records until a message of type typ.
func (c *testClient) expect(typ string) testMsg {
	c.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		m := c.next(time.Until(deadline))
		if m.typ == typ {
			return m
		}
		if m.typ != "stdout" && m.typ != "stderr" {
			c.t.Fatalf("expected %s, got %s %q", typ, m.typ, m.payload)
		}
	}
}

// waitStdout reads stdout records until they start with want.
func (c *testClient) waitStdout(want string) {
	c.t.Helper()
	var got strings.Builder
	deadline := time.Now().Add(testTimeout)
	for !strings.HasPrefix(got.String(), want) {
		m := c.next(time.Until(deadline))
		got.Write(m.payload)
		g := got.String()
		if m.typ != "stdout" || !strings.HasPrefix(want, g) && !strings.HasPrefix(g, want) {
			c.t.Fatalf("waiting for stdout %q: got %s %q", want, m.typ, g)
		}
	}
}

// result is what a run produced up to its terminal message.
type result struct {
	stdout, stderr strings.Builder
	records        []testMsg // the output records, as sent
	final          testMsg
	exitCode       int
}

// collect gathers output until one of the terminal types.
func (c *testClient) collect(terminal ...string) *result {
	c.t.Helper()
	r := &result{}
	deadline := time.Now().Add(testTimeout)
	for {
		m := c.next(time.Until(deadline))
		switch {
		case m.typ == "stdout":
			r.stdout.Write(m.payload)
			r.records = append(r.records, m)
		case m.typ == "stderr":
			r.stderr.Write(m.payload)
			r.records = append(r.records, m)
		case containsString(terminal, m.typ):
			r.final = m
			var f struct {
				ExitCode *int `json:"exitCode"`
			}
			if strings.HasSuffix(m.typ, "finished") {
				if err := json.Unmarshal(m.payload, &f); err != nil || f.ExitCode == nil {
					c.t.Fatalf("bad %s payload %q: %v", m.typ, m.payload, err)
				}
				r.exitCode = *f.ExitCode
			}
			return r
		default:
			c.t.Fatalf("unexpected %s %q while waiting for %v", m.typ, m.payload, terminal)
		}
	}
}

// run sends a cell and collects its output up to finished.
func (c *testClient) run(code string) *result {
	c.t.Helper()
	c.send("code", code)
	return c.collect("finished")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func requirePython(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 is required by the runner tests: %v", err)
	}
}

// testLogger logs to the test's log, at debug level when BAI_TEST_DEBUG is
// set. Lines that come after the test has ended are dropped (t.Log would
// panic).
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("BAI_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
