package zmq

import (
	"testing"
	"time"
)

// newContext is a context terminated when the test ends (after the
// sockets' cleanups, which were registered later and so run first).
func newContext(t *testing.T) *Context {
	t.Helper()
	ctx, err := NewContext()
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() {
		if err := ctx.Term(); err != nil {
			t.Errorf("Term: %v", err)
		}
	})
	return ctx
}

// newSocket is a socket with no linger, closed when the test ends.
func newSocket(t *testing.T, ctx *Context, typ Type) *Socket {
	t.Helper()
	s, err := ctx.NewSocket(typ)
	if err != nil {
		t.Fatalf("NewSocket(%d): %v", typ, err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetLinger(0); err != nil {
		t.Fatalf("SetLinger: %v", err)
	}
	return s
}

// pair binds a of type ta on endpoint and connects b of type tb to it.
func pair(t *testing.T, ctx *Context, ta, tb Type, endpoint string) (a, b *Socket) {
	t.Helper()
	a, b = newSocket(t, ctx, ta), newSocket(t, ctx, tb)
	if err := a.Bind(endpoint); err != nil {
		t.Fatalf("Bind(%s): %v", endpoint, err)
	}
	ep, err := a.GetLastEndpoint()
	if err != nil {
		t.Fatalf("GetLastEndpoint: %v", err)
	}
	if err := b.Connect(ep); err != nil {
		t.Fatalf("Connect(%s): %v", ep, err)
	}
	return a, b
}

// recvWithin polls s up to d, then reads a whole message.
func recvWithin(t *testing.T, s *Socket, d time.Duration) [][]byte {
	t.Helper()
	p := NewPoller()
	p.Add(s, POLLIN)
	polled, err := p.Poll(d)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(polled) == 0 {
		t.Fatalf("no message within %v", d)
	}
	msg, err := s.RecvMessageBytes(DONTWAIT)
	if err != nil {
		t.Fatalf("RecvMessageBytes: %v", err)
	}
	return msg
}
