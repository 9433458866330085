package callosum

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPingPong(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})

	// Upstream's connector: ["PING", "", ""] answered by ["PONG", "", ""].
	d := newRawDealer(t, s.Addr())
	d.send([]byte("PING"), []byte{}, []byte{})
	got := d.recv(5 * time.Second)
	if len(got) != 3 || string(got[0]) != "PONG" || len(got[1]) != 0 || len(got[2]) != 0 {
		t.Fatalf("got %q, want [PONG \"\" \"\"]", got)
	}

	c := dial(t, s.Addr(), ClientOptions{})
	for range 3 {
		if err := c.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}
	if st := s.Stats(); st.Pings < 5 {
		t.Errorf("Stats.Pings = %d, want >= 5", st.Pings)
	}
}

func TestServeLogsStarted(t *testing.T) {
	var logs syncBuffer
	s := startServer(t, Options{Handler: newTestHandler(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
	dial(t, s.Addr(), ClientOptions{}) // Serve has logged by the time it answers
	want := "started handling RPC requests at " + s.Addr()
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") {
		t.Errorf("Addr() = %q, want 127.0.0.1:<port>", s.Addr())
	}
}

func TestCallResult(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})
	c := dial(t, s.Addr(), ClientOptions{})

	got, err := c.Call(t.Context(), "echo", []byte("\x92\x01\x02"))
	if err != nil || string(got) != "\x92\x01\x02" {
		t.Fatalf("Call(echo) = %x, %v", got, err)
	}
	// An empty result stands for None.
	got, err = c.Call(t.Context(), "none", nil)
	if err != nil || !bytes.Equal(got, []byte{0xc0}) {
		t.Fatalf("Call(none) = %x, %v; want c0 (msgpack nil)", got, err)
	}
}

func TestResultFraming(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})
	d := newRawDealer(t, s.Addr())

	for _, tc := range []struct {
		name string
		okey any
	}{
		{"bytes okey", []byte{}},
		{"str okey", "order-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := pack(t, "type", 1, "meth", "echo", "okey", tc.okey, "seq", uint32(77), "zip", false)
			d.send([]byte("UPPER"), hdr, fnBody(t, []byte("payload")))
			got := d.recv(5 * time.Second)
			if len(got) != 3 || string(got[0]) != "UPPER" {
				t.Fatalf("reply %q, want [UPPER header body]", got)
			}
			h := unpackMap(t, got[1])
			want := map[string]any{"type": int8(2), "meth": "echo", "okey": tc.okey, "seq": int8(77), "zip": false}
			if fmt.Sprint(h) != fmt.Sprint(want) || fmt.Sprintf("%T", h["okey"]) != fmt.Sprintf("%T", tc.okey) {
				t.Errorf("header %#v, want %#v", h, want)
			}
			b := unpackMap(t, got[2])
			if !bytes.Equal(b["meta"].([]byte), []byte{0x90}) || string(b["body"].([]byte)) != "payload" {
				t.Errorf("body %#v, want meta=90 body=payload", b)
			}
		})
	}
}

func TestHandlerErrorFailure(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})
	c := dial(t, s.Addr(), ClientOptions{})

	tests := []struct {
		method, name, repr, tbTail string
	}{
		{"fail", "InsufficientResource", "InsufficientResource('create kernel: not enough cpu')", "InsufficientResource: create kernel: not enough cpu\n"},
		{"fail-plain", "AgentError", `AgentError("it's broken")`, "AgentError: it's broken\n"},
		{"panic", "AgentError", "AgentError('handler panic: boom')", "AgentError: handler panic: boom\n"},
	}
	for _, tc := range tests {
		t.Run(tc.method, func(t *testing.T) {
			_, err := c.Call(t.Context(), tc.method, nil)
			re, ok := errors.AsType[*RemoteError](err)
			if !ok {
				t.Fatalf("Call: %v, want a *RemoteError", err)
			}
			if re.Kind != TypeFailure || re.Name != tc.name || re.Repr != tc.repr || re.Method != tc.method {
				t.Errorf("got %+v, want FAILURE %s %s", re, tc.name, tc.repr)
			}
			if !strings.HasPrefix(re.Traceback, "Traceback (most recent call last):\n") || !strings.HasSuffix(re.Traceback, tc.tbTail) {
				t.Errorf("traceback %q", re.Traceback)
			}
		})
	}
	// The server keeps serving after a panic.
	if _, err := c.Call(t.Context(), "echo", []byte{0xc0}); err != nil {
		t.Fatalf("Call after panic: %v", err)
	}
}

func TestUnknownMethodError(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})
	c := dial(t, s.Addr(), ClientOptions{})
	_, err := c.Call(t.Context(), "no_such_method", nil)
	re, ok := errors.AsType[*RemoteError](err)
	if !ok {
		t.Fatalf("Call: %v, want a *RemoteError", err)
	}
	if re.Kind != TypeError || re.Name != "KeyError" || re.Repr != "KeyError('no_such_method')" {
		t.Errorf("got %+v, want ERROR KeyError('no_such_method')", re)
	}
}

func TestCancel(t *testing.T) {
	h := newTestHandler()
	s := startServer(t, Options{Handler: h})

	t.Run("raw", func(t *testing.T) {
		d := newRawDealer(t, s.Addr())
		d.send([]byte("UPPER"), fnHeader(t, TypeFunction, "block", 9), fnBody(t, []byte{0xc0}))
		<-h.entered
		// A CANCEL naming another seq is ignored.
		d.send([]byte("UPPER"), fnHeader(t, TypeCancel, "block", 10), pack(t, "meta", []byte{0x90}, "body", nil))
		d.send([]byte("UPPER"), fnHeader(t, TypeCancel, "block", 9), pack(t, "meta", []byte{0x90}, "body", nil))
		got := d.recv(5 * time.Second)
		if len(got) != 3 {
			t.Fatalf("reply %q", got)
		}
		hdr, body := unpackMap(t, got[1]), unpackMap(t, got[2])
		if hdr["type"] != int8(TypeCancelled) || hdr["seq"] != int8(9) || hdr["meth"] != "block" {
			t.Errorf("header %v, want CANCELLED block seq 9", hdr)
		}
		if !bytes.Equal(body["meta"].([]byte), []byte{0x90}) || body["body"] != nil {
			t.Errorf("body %v, want meta=90 body=nil", body)
		}
		select {
		case <-h.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("handler context not cancelled")
		}
		// The handler's late RESULT is suppressed: the next message is the PONG.
		d.ping("after-cancel")
	})

	t.Run("client", func(t *testing.T) {
		c := dial(t, s.Addr(), ClientOptions{})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-h.entered
			cancel()
		}()
		_, err := c.Call(ctx, "block", nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Call = %v, want context.Canceled", err)
		}
		select {
		case <-h.cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("handler context not cancelled by the client's CANCEL")
		}
	})
	waitFor(t, "cancel counters", func() bool { st := s.Stats(); return st.Cancels == 2 && st.Ignored == 1 })
}

func TestShutdownCancelsCalls(t *testing.T) {
	h := newTestHandler()
	s, err := NewServer(Options{Addr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	c := dial(t, s.Addr(), ClientOptions{})

	called := make(chan error, 1)
	go func() {
		_, err := c.Call(t.Context(), "wait", nil)
		called <- err
	}()
	<-h.entered
	stop()
	if err := <-called; !errors.Is(err, ErrCancelled) {
		t.Errorf("Call = %v, want ErrCancelled", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
	if err := s.Serve(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Serve = %v, want ErrClosed", err)
	}
}

func TestCloseUnserved(t *testing.T) {
	s, err := NewServer(Options{Addr: "127.0.0.1:0", Handler: newTestHandler()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close = %v, want ErrClosed", err)
	}
	// The port is free again.
	s2, err := NewServer(Options{Addr: s.Addr(), Handler: newTestHandler()})
	if err != nil {
		t.Fatalf("rebind %s: %v", s.Addr(), err)
	}
	s2.Close()
}

func TestConcurrentCalls(t *testing.T) {
	for _, tc := range []struct {
		name        string
		calls       int
		maxInflight int
	}{
		{"1000 in flight", 1000, 0},
		{"bounded", 200, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler()
			s := startServer(t, Options{Handler: h, MaxInflight: tc.maxInflight})
			c := dial(t, s.Addr(), ClientOptions{})
			var wg sync.WaitGroup
			errs := make(chan error, tc.calls)
			for i := range tc.calls {
				wg.Go(func() {
					want := fmt.Appendf(nil, "call-%d", i)
					got, err := c.Call(t.Context(), "slow-echo", want)
					if err == nil && !bytes.Equal(got, want) {
						err = fmt.Errorf("got %q, want %q", got, want)
					}
					if err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			peak := h.maxSeen.Load()
			if tc.maxInflight > 0 && peak > int64(tc.maxInflight) {
				t.Errorf("%d handlers ran at once, MaxInflight %d", peak, tc.maxInflight)
			}
			if tc.maxInflight == 0 && peak < 100 {
				t.Errorf("only %d handlers ran at once; calls are not concurrent", peak)
			}
			if st := s.Stats(); st.Requests != uint64(tc.calls) {
				t.Errorf("Stats.Requests = %d, want %d", st.Requests, tc.calls)
			}
		})
	}
}

// TestLostWakeupStillReplies: a reply whose mailbox wake-up never came
// (simulated: the mailbox already believes one is on its way) goes out
// within a poll tick instead of never.
func TestLostWakeupStillReplies(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})
	c := dial(t, s.Addr(), ClientOptions{})
	s.mbox.mu.Lock()
	s.mbox.waking = true // the handler's post will send no wake-up
	s.mbox.mu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := c.Call(ctx, "echo", []byte("x")); err != nil {
		t.Fatalf("call after a lost wake-up: %v", err)
	}
	if d := time.Since(start); d > 2*pollTick {
		t.Errorf("the reply took %v", d)
	}
}
