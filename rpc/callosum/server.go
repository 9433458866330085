package callosum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/baiagent/agent/rpc/zmq"
)

// zapEndpoint is where libzmq looks for the ZAP handler of a context.
const zapEndpoint = "inproc://zeromq.zap.01"

// Server answers Callosum RPC on a ROUTER socket. Create it with NewServer
// (which binds), run it with Serve.
type Server struct {
	opts   Options
	log    *slog.Logger
	zctx   *zmq.Context
	router *zmq.Socket
	zap    *zmq.Socket // nil without CURVE
	mbox   *mailbox[completion]
	addr   string
	stats  counters

	mu    sync.Mutex
	state serverState
}

type serverState int

const (
	stateNew serverState = iota
	stateServing
	stateClosed
)

// Stats count what a server has seen since it was created.
type Stats struct {
	Requests  uint64 // FUNCTION messages dispatched to the handler
	Pings     uint64 // PINGs answered
	Cancels   uint64 // CANCELs that stopped a running call
	Malformed uint64 // messages dropped: frame count, marker, header or body
	Oversized uint64 // messages dropped: over MaxFrameBytes as a whole
	Ignored   uint64 // well-formed but nothing to do (e.g. CANCEL of a finished call)
	Rejected  uint64 // ZAP requests denied
}

type counters struct {
	requests, pings, cancels, malformed, oversized, ignored, rejected atomic.Uint64
}

// NewServer checks opts, creates the socket and binds it; the caller then
// runs Serve, or Close when it will not.
func NewServer(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("callosum server options: %w", err)
	}
	ep, ipv6, err := endpoint(opts.Addr)
	if err != nil {
		return nil, err
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("zmq context: %w", err)
	}
	s := &Server{opts: opts, log: opts.Log, zctx: zctx}
	if err := s.open(ep, ipv6); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// open creates the ZAP handler (first, so that no handshake misses it),
// the mailbox and the ROUTER, and binds.
func (s *Server) open(ep string, ipv6 bool) error {
	var err error
	if s.opts.Curve != nil {
		if s.zap, err = s.zctx.NewSocket(zmq.REP); err != nil {
			return fmt.Errorf("zap socket: %w", err)
		}
		if err := s.zap.SetLinger(0); err != nil {
			return fmt.Errorf("zap socket: %w", err)
		}
		if err := s.zap.Bind(zapEndpoint); err != nil {
			return fmt.Errorf("bind zap handler: %w", err)
		}
	}
	if s.mbox, err = newMailbox[completion](s.zctx, "callosum-server-mailbox"); err != nil {
		return err
	}
	if s.router, err = s.zctx.NewSocket(zmq.ROUTER); err != nil {
		return fmt.Errorf("router socket: %w", err)
	}
	if err := s.configure(ipv6); err != nil {
		return fmt.Errorf("router socket: %w", err)
	}
	if err := s.router.Bind(ep); err != nil {
		return fmt.Errorf("bind %s: %w", ep, err)
	}
	last, err := s.router.GetLastEndpoint()
	if err != nil {
		return fmt.Errorf("bound address: %w", err)
	}
	s.addr = strings.TrimPrefix(last, "tcp://")
	return nil
}

func (s *Server) configure(ipv6 bool) error {
	linger := s.opts.Linger
	if linger < 0 {
		linger = -1 // libzmq's "forever"
	}
	steps := []func() error{
		func() error { return s.router.SetLinger(linger) },
		func() error { return s.router.SetMaxmsgsize(int64(s.opts.MaxFrameBytes)) },
		// Replies are bounded by the requests a peer sent; never drop one.
		func() error { return s.router.SetSndhwm(0) },
		func() error { return s.router.SetIpv6(ipv6) },
	}
	if c := s.opts.Curve; c != nil {
		steps = append(steps,
			func() error { return s.router.SetCurveServer(1) },
			func() error { return s.router.SetCurveSecretkey(c.SecretKey) },
			func() error { return s.router.SetZapDomain(ZAPDomain) },
		)
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// Addr is the bound "host:port" (with the real port when 0 was asked).
func (s *Server) Addr() string { return s.addr }

// PublicKey is the z85 CURVE public key the agent announces, or "".
func (s *Server) PublicKey() string {
	if s.opts.Curve == nil {
		return ""
	}
	return s.opts.Curve.PublicKey
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		Requests: c.requests.Load(), Pings: c.pings.Load(), Cancels: c.cancels.Load(),
		Malformed: c.malformed.Load(), Oversized: c.oversized.Load(),
		Ignored: c.ignored.Load(), Rejected: c.rejected.Load(),
	}
}

// Serve answers requests until ctx ends, then cancels the running calls,
// waits up to ShutdownTimeout for their replies, and releases the socket.
// It returns nil after ctx ends, ErrClosed when the server was closed or
// served before, and an error when the socket fails.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return ErrClosed
	}
	s.state = stateServing
	s.mu.Unlock()
	defer s.release()

	stop := context.AfterFunc(ctx, s.mbox.poke)
	defer stop()
	// The words are upstream's: the install guide tells users to look for them.
	s.log.Info("started handling RPC requests at "+s.addr, "addr", s.addr)
	err := newLoop(s).run(ctx)
	s.log.Info("stopped handling RPC requests", "addr", s.addr)
	return err
}

// Close releases a server whose Serve was never called; Serve releases
// its own. It is a no-op on a closed or serving server.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateNew {
		return nil
	}
	s.state = stateClosed
	s.releaseLocked()
	return nil
}

func (s *Server) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = stateClosed
	s.releaseLocked()
}

// releaseLocked closes every socket, then the context.
// Preconditions: s.mu held; no goroutine uses the sockets.
func (s *Server) releaseLocked() {
	if s.router != nil {
		s.router.Close()
		s.router = nil
	}
	if s.zap != nil {
		s.zap.Close()
		s.zap = nil
	}
	if s.mbox != nil {
		s.mbox.close()
		s.mbox = nil
	}
	if s.zctx != nil {
		if err := s.zctx.Term(); err != nil && !errors.Is(err, zmq.ETERM) {
			s.log.Warn("zmq context not terminated", "err", err)
		}
		s.zctx = nil
	}
}
