package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/vmihailenco/msgpack/v5"
)

func decodeStatus(t *testing.T, payload []byte) float64 {
	t.Helper()
	var st map[string]any
	if err := msgpack.Unmarshal(payload, &st); err != nil {
		t.Fatalf("status is not msgpack: %v (%x)", err, payload)
	}
	v, ok := st["started_at"].(float64)
	if !ok || len(st) != 1 {
		t.Fatalf("status %#v", st)
	}
	return v
}

func TestStatus(t *testing.T) {
	before := float64(time.Now().UnixNano()) / 1e9
	_, c := startServer(t, Config{RuntimeType: RuntimeApp})
	c.send("status", "")
	got := decodeStatus(t, c.expect("status").payload)
	if now := float64(time.Now().UnixNano()) / 1e9; got < before-1 || got > now {
		t.Errorf("started_at %f not in [%f, %f]", got, before, now)
	}
}

func TestEncodeStatusBytes(t *testing.T) {
	b := encodeStatus(1.5)
	want := append([]byte{0x81, 0xaa}, "started_at"...)
	want = append(want, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0)
	if string(b) != string(want) {
		t.Errorf("% x, want % x", b, want)
	}
}

func TestWrongFrameCountDropped(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimeApp})
	for _, frames := range [][][]byte{
		{[]byte("code"), []byte("echo one"), []byte("extra")},
		{[]byte("code")},
	} {
		if err := c.push.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
			t.Fatal(err)
		}
	}
	c.send("status", "")
	// The dropped messages ran nothing: status is the next message.
	if m := c.next(testTimeout); m.typ != "status" {
		t.Fatalf("got %s %q", m.typ, m.payload)
	}
	if r := c.run("echo two"); r.stdout.String() != "two\n" {
		t.Fatalf("stdout %q", r.stdout.String())
	}
	c.send("no-such-type", "")
	c.send("event", `{"type":"oom","data":{}}`)
	c.send("status", "")
	if m := c.next(testTimeout); m.typ != "status" {
		t.Fatalf("got %s %q", m.typ, m.payload)
	}
}

// Replies wait in the outbox until the agent connects its PULL socket.
func TestRepliesQueuedUntilConnected(t *testing.T) {
	srv, err := New(Config{
		RuntimeType: RuntimeApp, BindHost: "127.0.0.1", ReplInPort: -1, ReplOutPort: -1,
		WorkDir: t.TempDir(), ServiceDefsDir: t.TempDir(), Log: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := dialClient(t, srv, false)
	c.send("status", "")
	c.send("code", "echo early")
	time.Sleep(200 * time.Millisecond)
	c.connectPull(srv)
	decodeStatus(t, c.expect("status").payload)
	if r := c.collect("finished"); r.stdout.String() != "early\n" {
		t.Fatalf("stdout %q", r.stdout.String())
	}
}

func TestIntrinsicPorts(t *testing.T) {
	dir := t.TempDir()
	p, err := LoadIntrinsicPorts(filepath.Join(dir, "missing.json"))
	if err != nil || p != (IntrinsicPorts{}) {
		t.Fatalf("missing file: %+v, %v", p, err)
	}
	path := filepath.Join(dir, "intrinsic-ports.json")
	if err := os.WriteFile(path, []byte(`{"replin": 30000, "replout": 30001, "sshd": 30002, "ttyd": 30003}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = LoadIntrinsicPorts(path)
	if err != nil || p != (IntrinsicPorts{ReplIn: 30000, ReplOut: 30001, SSHD: 30002, TTYD: 30003}) {
		t.Fatalf("%+v, %v", p, err)
	}
	if err := os.WriteFile(path, []byte(`{`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadIntrinsicPorts(path); err == nil {
		t.Fatal("malformed file accepted")
	}
}

func TestBuildChildEnv(t *testing.T) {
	environ := filepath.Join(t.TempDir(), "environ.txt")
	if err := os.WriteFile(environ, []byte("FOO=bar=baz\nBAD\nPATH=/x:/y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := BuildChildEnv([]string{"HOME=/root", "KEEP=1"}, "/home/work", environ)
	if err != nil {
		t.Fatal(err)
	}
	m := newEnvMap(env)
	for k, want := range map[string]string{
		"HOME": "/home/work", "KEEP": "1", "FOO": "bar=baz", "LANG": "C.UTF-8",
	} {
		if got, _ := m.get(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if got, _ := m.get("PATH"); got[:len("/home/work/.local/bin:")] != "/home/work/.local/bin:" {
		t.Errorf("PATH=%q", got)
	}
}

// Close ends running cells (the interpreter's and the shell's) promptly.
func TestCloseWhileBusy(t *testing.T) {
	for _, rt := range []string{RuntimePython, RuntimeApp} {
		t.Run(rt, func(t *testing.T) {
			code := "print('started', flush=True)\nwhile True: pass"
			if rt == RuntimeApp {
				code = "echo started; sleep 100"
			}
			srv, c := startServer(t, Config{RuntimeType: rt, ServiceStopGrace: 300 * time.Millisecond})
			c.send("code", code)
			c.waitStdout("started\n")
			t0 := time.Now()
			if err := srv.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if d := time.Since(t0); d > 3*time.Second {
				t.Errorf("Close took %v", d)
			}
			// The run still got its end.
			if r := c.collect("finished"); r.exitCode == 0 {
				t.Errorf("killed run: exit 0")
			}
		})
	}
}

// TestOutputKeptWhileNoAgent: output produced while no agent is connected
// (it restarts) waits in the outbox and reaches the agent that connects
// next; go-zeromq alone would have dropped it.
func TestOutputKeptWhileNoAgent(t *testing.T) {
	srv, c := startServer(t, Config{RuntimeType: RuntimeApp})
	c.send("code", "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.05; done")
	c.waitStdout("1")
	_ = c.pull.Close() // the agent goes away
	time.Sleep(300 * time.Millisecond)
	c.connectPull(srv) // and the next one comes
	r := c.collect("finished")
	got := strings.Fields(r.stdout.String())
	if len(got) < 8 || strings.Join(got[len(got)-8:], " ") != "3 4 5 6 7 8 9 10" {
		t.Errorf("after the reconnect: %q, want at least 3 to 10 (printed while no agent listened)", r.stdout.String())
	}
}
