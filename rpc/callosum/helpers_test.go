package callosum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/baiagent/agent/rpc/zmq"
)

// testError names its Python class.
type testError struct{ name, msg string }

func (e *testError) Error() string         { return e.msg }
func (e *testError) ExceptionName() string { return e.name }

// testHandler implements the methods the tests call.
type testHandler struct {
	running   atomic.Int64
	maxSeen   atomic.Int64
	cancelled chan string // method names whose ctx ended
	entered   chan string // method names that started
}

func newTestHandler() *testHandler {
	return &testHandler{cancelled: make(chan string, 16), entered: make(chan string, 16)}
}

func (h *testHandler) Handle(ctx context.Context, method string, body []byte) ([]byte, error) {
	n := h.running.Add(1)
	defer h.running.Add(-1)
	for {
		m := h.maxSeen.Load()
		if n <= m || h.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	switch method {
	case "echo":
		return body, nil
	case "none":
		return nil, nil
	case "slow-echo":
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return body, nil
	case "fail":
		return nil, fmt.Errorf("create kernel: %w", &testError{name: "InsufficientResource", msg: "not enough cpu"})
	case "fail-plain":
		return nil, errors.New("it's broken")
	case "panic":
		panic("boom")
	case "block": // returns a result even after CANCEL: the server must drop it
		h.entered <- method
		<-ctx.Done()
		h.cancelled <- method
		return []byte("late"), nil
	case "wait": // returns its context's error
		h.entered <- method
		<-ctx.Done()
		h.cancelled <- method
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("method %q: %w", method, ErrUnknownMethod)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer runs a server on a free loopback port until the test ends.
func startServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return")
		}
	})
	return s
}

func dial(t testing.TB, addr string, opts ClientOptions) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawDealer is a bare DEALER socket for sending hand-made frames.
type rawDealer struct {
	t    testing.TB
	zctx *zmq.Context
	sock *zmq.Socket
}

func newRawDealer(t testing.TB, addr string) *rawDealer {
	t.Helper()
	zctx, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	sock, err := zctx.NewSocket(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	if err := sock.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := sock.Connect("tcp://" + addr); err != nil {
		t.Fatal(err)
	}
	d := &rawDealer{t: t, zctx: zctx, sock: sock}
	t.Cleanup(func() {
		sock.Close()
		zctx.Term()
	})
	return d
}

func (d *rawDealer) send(frames ...[]byte) {
	d.t.Helper()
	if _, err := d.sock.SendMessage(frames); err != nil {
		d.t.Fatalf("send: %v", err)
	}
}

// recv waits up to timeout for a message; nil when none came.
func (d *rawDealer) recv(timeout time.Duration) [][]byte {
	d.t.Helper()
	p := zmq.NewPoller()
	p.Add(d.sock, zmq.POLLIN)
	polled, err := p.Poll(timeout)
	if err != nil {
		d.t.Fatalf("poll: %v", err)
	}
	if len(polled) == 0 {
		return nil
	}
	msg, err := d.sock.RecvMessageBytes(0)
	if err != nil {
		d.t.Fatalf("recv: %v", err)
	}
	return msg
}

// ping sends a PING with token and expects its PONG as the next message.
func (d *rawDealer) ping(token string) {
	d.t.Helper()
	d.send([]byte("PING"), []byte(token), []byte{})
	got := d.recv(5 * time.Second)
	if len(got) != 3 || string(got[0]) != "PONG" || string(got[1]) != token {
		d.t.Fatalf("after PING %q got %q, want [PONG %s \"\"]", token, got, token)
	}
}

// pack is msgpack as Python's packb(use_bin_type=True) writes a map with
// these keys in this order.
func pack(t testing.TB, kv ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	if err := e.EncodeMapLen(len(kv) / 2); err != nil {
		t.Fatal(err)
	}
	for _, v := range kv {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func fnHeader(t testing.TB, typ MsgType, method string, seq uint32) []byte {
	return pack(t, "type", int(typ), "meth", method, "okey", []byte{}, "seq", seq, "zip", false)
}

func fnBody(t testing.TB, body []byte) []byte {
	return pack(t, "meta", []byte{}, "body", body)
}

// unpackMap decodes a msgpack map into Go values (bin as []byte).
func unpackMap(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := msgpack.Unmarshal(b, &m); err != nil {
		t.Fatalf("unpack %x: %v", b, err)
	}
	return m
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
