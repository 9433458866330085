package kernelrunner

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// msg is one message the fake runner received or is to send.
type msg struct {
	typ  string
	data string
}

// handler scripts the fake runner: the messages to send back for one it
// received.
type handler func(m msg) [][]string

// fakeRunner stands in for the krunner: a PULL bound on a free loopback
// port (replin) and a PUSH bound on another (replout), owned by one
// goroutine that answers with the handler and sends what tests queue.
type fakeRunner struct {
	tb       testing.TB
	zctx     *zmq.Context
	in, out  *zmq.Socket
	inPort   int
	outPort  int
	hmu      sync.Mutex
	handle   handler
	outbox   chan [][]string
	received chan msg
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newFakeRunner(tb testing.TB, h handler) *fakeRunner {
	tb.Helper()
	zctx, err := zmq.NewContext()
	if errors.Is(err, zmq.ErrUnavailable) {
		tb.Skipf("libzmq unavailable: %v", err)
	}
	if err != nil {
		tb.Fatalf("NewContext: %v", err)
	}
	f := &fakeRunner{
		tb:       tb,
		zctx:     zctx,
		handle:   h,
		outbox:   make(chan [][]string, 64),
		received: make(chan msg, 1024),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	f.in, f.inPort = f.bind(zmq.PULL)
	f.out, f.outPort = f.bind(zmq.PUSH)
	go f.loop()
	tb.Cleanup(f.Close)
	return f
}

func (f *fakeRunner) bind(t zmq.Type) (*zmq.Socket, int) {
	f.tb.Helper()
	s, err := f.zctx.NewSocket(t)
	if err != nil {
		f.tb.Fatalf("NewSocket: %v", err)
	}
	if err := s.SetLinger(0); err != nil {
		f.tb.Fatalf("SetLinger: %v", err)
	}
	if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
		f.tb.Fatalf("Bind: %v", err)
	}
	ep, err := s.GetLastEndpoint()
	if err != nil {
		f.tb.Fatalf("GetLastEndpoint: %v", err)
	}
	u, err := url.Parse(ep)
	if err != nil {
		f.tb.Fatalf("parse %s: %v", ep, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		f.tb.Fatalf("port of %s: %v", ep, err)
	}
	return s, port
}

func (f *fakeRunner) loop() {
	defer close(f.done)
	p := zmq.NewPoller()
	p.Add(f.in, zmq.POLLIN)
	for {
		select {
		case <-f.stop:
			return
		case frames := <-f.outbox:
			f.sendAll(frames)
			continue
		default:
		}
		polled, err := p.Poll(2 * time.Millisecond)
		if err != nil {
			return
		}
		if len(polled) == 0 {
			continue
		}
		for {
			frames, err := f.in.RecvMessage(zmq.DONTWAIT)
			if err != nil {
				break
			}
			if len(frames) != 2 {
				continue
			}
			m := msg{typ: frames[0], data: frames[1]}
			select {
			case f.received <- m:
			default:
			}
			f.hmu.Lock()
			h := f.handle
			f.hmu.Unlock()
			if h != nil {
				f.sendAll(h(m))
			}
		}
	}
}

func (f *fakeRunner) sendAll(msgs [][]string) {
	for _, m := range msgs {
		if _, err := f.out.SendMessage(m); err != nil {
			return
		}
	}
}

// handleSet replaces the runner's script.
func (f *fakeRunner) handleSet(h handler) {
	f.hmu.Lock()
	f.handle = h
	f.hmu.Unlock()
}

// send queues messages for the runner's goroutine to push out.
func (f *fakeRunner) send(msgs ...[]string) { f.outbox <- msgs }

// expect waits for the next message the runner received.
func (f *fakeRunner) expect(typ string) msg {
	f.tb.Helper()
	for {
		select {
		case m := <-f.received:
			if m.typ == typ {
				return m
			}
			if m.typ == msgStatus { // keepalives may come in between
				continue
			}
			f.tb.Fatalf("runner got %q (%q), want %q", m.typ, m.data, typ)
		case <-time.After(5 * time.Second):
			f.tb.Fatalf("runner got no %q", typ)
		}
	}
}

// Close makes the runner vanish: its sockets close and its context ends.
func (f *fakeRunner) Close() {
	f.once.Do(func() {
		close(f.stop)
		<-f.done
		f.in.Close()
		f.out.Close()
		f.zctx.Term()
	})
}

// testLogger writes the client's lines to the test log when -v asks
// (KERNELRUNNER_TEST_LOG=1), and drops them otherwise.
func testLogger(tb testing.TB) *slog.Logger {
	if os.Getenv("KERNELRUNNER_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}

// dial connects a client to f, closed when the test ends.
func dial(tb testing.TB, f *fakeRunner, opts Options) *Client {
	tb.Helper()
	opts.Host = "127.0.0.1"
	opts.ReplIn, opts.ReplOut = f.inPort, f.outPort
	if opts.Log == nil {
		opts.Log = testLogger(tb)
	}
	c, err := Dial(context.Background(), opts)
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// finished is a `finished` message with exit code n.
func finished(n int) []string {
	return []string{StatusFinished, `{"exitCode": ` + strconv.Itoa(n) + `}`}
}
