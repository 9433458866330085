package zmq

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"syscall"
	"testing"
	"time"
)

func TestRouterDealerRoundTrip(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:*", "inproc://round-trip"} {
		t.Run(ep, func(t *testing.T) {
			ctx := newContext(t)
			router, dealer := pair(t, ctx, ROUTER, DEALER, ep)
			large := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: not inline in zmq_msg_t
			n, err := dealer.SendMessage("a", []byte("bc"), [][]byte{{}, large}, []string{"x", "yz"}, [][]byte{})
			if err != nil {
				t.Fatalf("SendMessage: %v", err)
			}
			if want := 1 + 2 + len(large) + 1 + 2; n != want {
				t.Errorf("SendMessage sent %d bytes, want %d", n, want)
			}
			got := recvWithin(t, router, 5*time.Second)
			want := [][]byte{[]byte("a"), []byte("bc"), {}, large, []byte("x"), []byte("yz")}
			if len(got) != 1+len(want) || len(got[0]) == 0 {
				t.Fatalf("router got %d frames, want the peer id and %d", len(got), len(want))
			}
			for i, w := range want {
				if !bytes.Equal(got[i+1], w) {
					t.Errorf("frame %d: %d bytes %.16q, want %d bytes %.16q", i+1, len(got[i+1]), got[i+1], len(w), w)
				}
			}
			// Echo it: the peer id routes the reply back.
			if _, err := router.SendMessage(got); err != nil {
				t.Fatalf("router SendMessage: %v", err)
			}
			back := recvWithin(t, dealer, 5*time.Second)
			if len(back) != len(want) || !bytes.Equal(back[3], large) || string(back[5]) != "yz" {
				t.Errorf("dealer got %d frames back, want %d", len(back), len(want))
			}
		})
	}
}

func TestRecvBytesRcvmore(t *testing.T) {
	ctx := newContext(t)
	pull, push := pair(t, ctx, PULL, PUSH, "inproc://rcvmore")
	if _, err := push.SendBytes([]byte("one"), SNDMORE); err != nil {
		t.Fatal(err)
	}
	if _, err := push.SendBytes([]byte("two"), 0); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"one", "two"} {
		b, err := pull.RecvBytes(0)
		if err != nil || string(b) != want {
			t.Fatalf("RecvBytes = %q, %v; want %q", b, err, want)
		}
		more, err := pull.GetRcvmore()
		if err != nil || more != (i == 0) {
			t.Errorf("after %q GetRcvmore = %v, %v", want, more, err)
		}
	}
	if _, err := push.SendMessage("1.0", "id", "200"); err != nil {
		t.Fatal(err)
	}
	msg, err := pull.RecvMessage(0)
	if err != nil || fmt.Sprint(msg) != "[1.0 id 200]" {
		t.Errorf("RecvMessage = %q, %v", msg, err)
	}
}

func TestDontwaitOnEmptySocket(t *testing.T) {
	ctx := newContext(t)
	pull := newSocket(t, ctx, PULL)
	if err := pull.Bind("inproc://empty"); err != nil {
		t.Fatal(err)
	}
	_, err := pull.RecvBytes(DONTWAIT)
	if !errors.Is(err, EAGAIN) || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("RecvBytes(DONTWAIT) = %v, want EAGAIN", err)
	}
	var e Errno
	if !errors.As(err, &e) || !e.Timeout() {
		t.Errorf("%v: not an Errno that is a timeout", err)
	}
	if _, err := pull.RecvMessage(DONTWAIT); !errors.Is(err, EAGAIN) {
		t.Errorf("RecvMessage(DONTWAIT) = %v, want EAGAIN", err)
	}
}

func TestPoller(t *testing.T) {
	ctx := newContext(t)
	pull, push := pair(t, ctx, PULL, PUSH, "inproc://poller")
	idle := newSocket(t, ctx, PULL)
	p := NewPoller()
	p.Add(idle, POLLIN)
	id := p.Add(pull, POLLIN)

	start := time.Now()
	polled, err := p.Poll(20 * time.Millisecond)
	if err != nil || len(polled) != 0 {
		t.Fatalf("Poll on nothing = %v, %v", polled, err)
	}
	if d := time.Since(start); d < 15*time.Millisecond {
		t.Errorf("Poll(20ms) returned after %v", d)
	}

	if _, err := push.SendBytes([]byte{1}, 0); err != nil {
		t.Fatal(err)
	}
	polled, err = p.Poll(-1)
	if err != nil || len(polled) != 1 || polled[0].Socket != pull || polled[0].Events&POLLIN == 0 {
		t.Fatalf("Poll after a send = %+v, %v", polled, err)
	}

	// Watching nothing on pull hides the waiting message.
	if prev, err := p.Update(id, 0); err != nil || prev != POLLIN {
		t.Fatalf("Update = %v, %v", prev, err)
	}
	if polled, err := p.Poll(time.Millisecond); err != nil || len(polled) != 0 {
		t.Errorf("Poll with pull unwatched = %+v, %v", polled, err)
	}
	if _, err := p.Update(7, POLLIN); err == nil {
		t.Error("Update of a missing id succeeded")
	}

	idle.Close()
	if _, err := p.Poll(0); !errors.Is(err, ErrClosed) {
		t.Errorf("Poll with a closed socket = %v, want ErrClosed", err)
	}
}

func TestTermWakesBlockedRecv(t *testing.T) {
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ctx.NewSocket(PULL)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bind("inproc://term"); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := s.RecvBytes(0)
		s.Close() // Term waits for this
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it block in libzmq
	termed := make(chan error, 1)
	go func() { termed <- ctx.Term() }()
	select {
	case err := <-got:
		if !errors.Is(err, ETERM) {
			t.Errorf("blocked RecvBytes = %v, want ETERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Term did not wake a blocked receive")
	}
	if err := <-termed; err != nil {
		t.Errorf("Term = %v", err)
	}
	if err := ctx.Term(); err != nil {
		t.Errorf("second Term = %v", err)
	}
	if _, err := ctx.NewSocket(PUSH); !errors.Is(err, ETERM) {
		t.Errorf("NewSocket after Term = %v, want ETERM", err)
	}
}

func TestClosedSocket(t *testing.T) {
	ctx := newContext(t)
	s, err := ctx.NewSocket(DEALER)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for name, err := range map[string]error{
		"Bind":       s.Bind("inproc://closed"),
		"Connect":    s.Connect("inproc://closed"),
		"SetLinger":  s.SetLinger(0),
		"SendBytes":  second(s.SendBytes(nil, 0)),
		"RecvBytes":  second(s.RecvBytes(DONTWAIT)),
		"GetRcvmore": second(s.GetRcvmore()),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s on a closed socket = %v, want ErrClosed", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestOptions(t *testing.T) {
	ctx := newContext(t)
	s := newSocket(t, ctx, ROUTER)
	pub, sec, err := NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"SetLinger(-1)":     s.SetLinger(-1),
		"SetMaxmsgsize":     s.SetMaxmsgsize(64 << 20),
		"SetSndhwm":         s.SetSndhwm(0),
		"SetSndtimeo":       s.SetSndtimeo(time.Second),
		"SetIpv6":           s.SetIpv6(true),
		"SetZapDomain":      s.SetZapDomain("local"),
		"SetCurveServer":    s.SetCurveServer(1),
		"SetCurveSecretkey": s.SetCurveSecretkey(sec),
		"SetCurvePublickey": s.SetCurvePublickey(pub),
		"SetCurveServerkey": s.SetCurveServerkey(pub),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	err = s.SetCurveServerkey("too short")
	if !errors.Is(err, EINVAL) || !regexp.MustCompile(`ZMQ_CURVE_SERVERKEY`).MatchString(err.Error()) {
		t.Errorf("SetCurveServerkey(bad) = %v, want EINVAL naming the option", err)
	}
	plain := newSocket(t, ctx, ROUTER)
	if err := plain.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, err := plain.GetLastEndpoint()
	if err != nil || !regexp.MustCompile(`^tcp://127\.0\.0\.1:[1-9][0-9]*$`).MatchString(ep) {
		t.Errorf("GetLastEndpoint = %q, %v", ep, err)
	}
}

func TestSendMessageRejectsBadParts(t *testing.T) {
	ctx := newContext(t)
	pull, push := pair(t, ctx, PULL, PUSH, "inproc://bad-parts")
	if _, err := push.SendMessage("ok", 42); err == nil {
		t.Error("SendMessage with an int part succeeded")
	}
	if _, err := push.SendMessage([]string{}); !errors.Is(err, EINVAL) {
		t.Errorf("SendMessage of no frame = %v, want EINVAL", err)
	}
	// Nothing of the refused message went out.
	if _, err := push.SendMessage("next"); err != nil {
		t.Fatal(err)
	}
	if got := recvWithin(t, pull, 5*time.Second); len(got) != 1 || string(got[0]) != "next" {
		t.Errorf("got %q, want [next]", got)
	}
}

func TestErrnoText(t *testing.T) {
	for e, want := range map[Errno]string{
		ETERM:  "Context was terminated",
		EAGAIN: syscall.EAGAIN.Error(),
	} {
		if e.Error() != want {
			t.Errorf("%d.Error() = %q, want %q", uintptr(e), e.Error(), want)
		}
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", ETERM), ETERM) || errors.Is(ETERM, EAGAIN) {
		t.Error("errors.Is does not tell Errnos apart")
	}
}
