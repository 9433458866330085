package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
)

// sendTimeout is how long one PUSH send may wait for a peer. The outbox
// goroutine is the only sender, so a long wait holds up nothing else.
const sendTimeout = 24 * time.Hour

// Server is the kernel runner: it binds PULL (agent → runner) and PUSH
// (runner → agent) and serves the agent's messages (spec §12).
type Server struct {
	cfg       Config
	log       *slog.Logger
	env       []string
	startedAt float64

	ctx    context.Context // ends when Close begins: no new work
	cancel context.CancelFunc
	// The outbox outlives ctx, to send what the shutdown produced.
	outCancel context.CancelFunc
	peers     *peers // replout's connected agents
	outDone   chan struct{}

	in, outSock zmq4.Socket
	out         *outbox
	tasks       *taskQueue
	py          *pyKernel // nil for the app runtime
	svc         *services
	tmpDir      string

	jobMu sync.Mutex
	job   job // what interrupt and input reach; nil between runs

	buildFailed bool // the last build failed; the task goroutine owns it

	wg sync.WaitGroup // the task goroutine and the handlers

	lifeMu   sync.Mutex
	serving  bool // Serve has started
	closing  bool // Close has begun
	recvDone chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// job is the running cell or batch step.
type job interface {
	Interrupt()
	Input(text string)
}

// New binds the sockets and prepares the runtime; Serve then serves.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	env, err := BuildChildEnv(cfg.Env, cfg.WorkDir, cfg.EnvironFile)
	if err != nil {
		cfg.Log.Warn("child environment incomplete", "error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		log:       cfg.Log,
		env:       env,
		startedAt: float64(time.Now().UnixNano()) / 1e9,
		ctx:       ctx,
		cancel:    cancel,
		out:       newOutbox(cfg.Log, cfg.OutboxBytes, cfg.MaxRecordBytes),
		tasks:     newTaskQueue(),
		outDone:   make(chan struct{}),
		peers:     newPeers(),
		recvDone:  make(chan struct{}),
	}
	runtimePath := ""
	if cfg.RuntimeType == RuntimePython {
		if err := s.preparePython(); err != nil {
			_ = s.removeTmp()
			cancel()
			return nil, err
		}
		runtimePath = cfg.Python
	}
	s.svc = newServices(cfg, env, runtimePath)
	if err := s.bind(); err != nil {
		_ = closeSockets(s.in, s.outSock)
		_ = s.removeTmp()
		cancel()
		return nil, err
	}
	outCtx, outCancel := context.WithCancel(context.Background())
	s.outCancel = outCancel
	go func() {
		defer close(s.outDone)
		s.out.run(outCtx, s.send)
	}()
	s.log.Info("runner listening", "runtime_type", cfg.RuntimeType,
		"replin", s.in.Addr().String(), "replout", s.outSock.Addr().String())
	return s, nil
}

func (s *Server) preparePython() error {
	dir, err := os.MkdirTemp("", "bai-krunner-")
	if err != nil {
		return fmt.Errorf("runner: temp dir: %w", err)
	}
	s.tmpDir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("runner: temp dir: %w", err)
	}
	script, err := writeDriver(dir)
	if err != nil {
		return err
	}
	s.py = &pyKernel{
		python: s.cfg.Python, script: script, dir: s.cfg.WorkDir,
		env: s.env, out: s.out, log: s.log,
	}
	return nil
}

func (s *Server) bind() error {
	endpoint := func(scheme string, port int) string {
		p := strconv.Itoa(port)
		if port < 0 {
			p = "0"
		}
		host := s.cfg.BindHost
		if host != "*" {
			return scheme + "://" + net.JoinHostPort(host, p)
		}
		return scheme + "://*:" + p
	}
	// The sockets live until closed, not until ctx ends: the outbox
	// still sends while Close shuts the runner down.
	s.in = zmq4.NewPull(context.Background())
	if err := s.in.Listen(endpoint("tcp", s.cfg.ReplInPort)); err != nil {
		return fmt.Errorf("runner: bind replin: %w", err)
	}
	// replout counts its peers (peers.go): output waits in the outbox
	// while no agent is connected instead of being dropped.
	if err := registerPeerTransport(); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	s.outSock = zmq4.NewPush(context.WithValue(context.Background(), peersKey{}, s.peers), zmq4.WithTimeout(sendTimeout))
	if err := s.outSock.Listen(endpoint(peerScheme, s.cfg.ReplOutPort)); err != nil {
		return fmt.Errorf("runner: bind replout: %w", err)
	}
	return nil
}

// Addrs returns the bound addresses of the PULL (replin) and PUSH
// (replout) sockets.
func (s *Server) Addrs() (replIn, replOut net.Addr) {
	return s.in.Addr(), s.outSock.Addr()
}

// send sends one message to the agent, waiting while none is connected
// and trying again after a failed send (the agent went away mid-send),
// until the outbox's ctx ends (Close).
func (s *Server) send(ctx context.Context, m outMsg) error {
	msg := zmq4.NewMsgFrom([]byte(m.typ), m.payload)
	for {
		if !s.peers.wait(ctx) {
			return ctx.Err()
		}
		err := s.outSock.SendMulti(msg)
		if err == nil {
			return nil
		}
		s.log.Debug("send to agent failed; trying again", "msg_type", m.typ, "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Serve serves until ctx ends or Close is called, then closes the server.
// It may be called once.
func (s *Server) Serve(ctx context.Context) error {
	s.lifeMu.Lock()
	if s.serving || s.closing {
		s.lifeMu.Unlock()
		return errors.New("runner: Serve called twice, or after Close")
	}
	s.serving = true
	if s.py != nil {
		s.wg.Go(s.py.Warm)
	}
	s.wg.Go(s.runTasks)
	s.lifeMu.Unlock()

	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	s.recvLoop()
	close(s.recvDone)
	return s.Close()
}

func (s *Server) runTasks() {
	for {
		t, ok := s.tasks.pop(s.ctx)
		if !ok {
			return
		}
		s.runTask(s.ctx, t)
	}
}

// recvLoop reads the agent's messages until the server closes.
func (s *Server) recvLoop() {
	for {
		msg, err := s.in.Recv()
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			// go-zeromq reports each peer that goes away; the agent
			// reconnects when it recreates its sockets.
			s.log.Debug("recv", "error", err)
			continue
		}
		if len(msg.Frames) != 2 {
			s.log.Warn("dropping a message that is not 2 frames", "frames", len(msg.Frames))
			continue
		}
		s.dispatch(string(msg.Frames[0]), msg.Frames[1])
	}
}

// dispatch handles one message. Runs queue up; everything else is handled
// at once, and what may take long runs on a goroutine of its own, so that
// an interrupt is never kept waiting.
func (s *Server) dispatch(typ string, payload []byte) {
	s.log.Debug("message", "msg_type", typ, "bytes", len(payload))
	switch typ {
	case "code", "clean", "build", "exec":
		s.tasks.push(task{kind: taskKind(typ), text: string(payload)})
	case "interrupt":
		if j := s.currentJob(); j != nil {
			j.Interrupt()
		}
	case "input":
		s.input(string(payload))
	case "status":
		s.out.push("status", encodeStatus(s.startedAt))
	case "complete":
		s.wg.Go(func() { s.complete(payload) })
	case "event":
		s.log.Info("event from the agent", "payload", truncate(payload, 1024))
	case "start-service":
		s.wg.Go(func() { s.startService(payload) })
	case "shutdown-service":
		s.wg.Go(func() { s.svc.Stop(serviceName(payload)) })
	case "get-apps":
		s.reply("apps-result", map[string]any{"status": "done", "data": s.svc.Apps(string(payload))})
	case "start-model-service":
		// TODO: model services (model-definition.yaml, health checks).
		s.reply("model-service-result", ServiceResult{Status: "failed", Error: "model services are not supported by this runner"})
	default:
		s.log.Warn("unknown message type", "msg_type", typ)
	}
}

func (s *Server) setJob(j job) {
	s.jobMu.Lock()
	s.job = j
	s.jobMu.Unlock()
}

func (s *Server) currentJob() job {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	return s.job
}

// input reaches the running job; between runs, the python runtime keeps it
// for the next input().
func (s *Server) input(text string) {
	if j := s.currentJob(); j != nil {
		j.Input(text)
		return
	}
	if s.py != nil {
		s.py.Input(text)
		return
	}
	s.log.Debug("input with nothing to read it, dropped")
}

func (s *Server) complete(payload []byte) {
	var req struct {
		Code string `json:"code"`
		Line string `json:"line"`
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		s.log.Warn("bad complete payload", "error", err)
	}
	suggestions := []string{}
	if s.py != nil {
		if got := s.py.Complete(s.ctx, req.Code, req.Line); got != nil {
			suggestions = got
		}
	}
	s.reply("completion", map[string]any{"suggestions": suggestions})
}

func (s *Server) startService(payload []byte) {
	var req ServiceRequest
	res := ServiceResult{Status: "failed"}
	if err := json.Unmarshal(payload, &req); err != nil {
		res.Error = fmt.Sprintf("bad start-service payload: %v", err)
	} else {
		res = s.svc.Start(s.ctx, req)
	}
	s.reply("service-result", res)
}

// serviceName reads shutdown-service's payload: a JSON string, or, from a
// lenient sender, the bare name.
func serviceName(payload []byte) string {
	var name string
	if err := json.Unmarshal(payload, &name); err == nil {
		return name
	}
	return string(payload)
}

func (s *Server) reply(typ string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode reply", "msg_type", typ, "error", err)
		return
	}
	s.out.push(typ, b)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// Close stops serving: it stops taking messages, ends the running job,
// the interpreter and the services, lets what they produced go out for at
// most Config.Linger, and closes the sockets. It is safe to call more than
// once, and from any goroutine.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.lifeMu.Lock()
		s.closing = true
		serving := s.serving
		s.lifeMu.Unlock()

		s.cancel() // the running job is killed, no task starts
		inErr := closeSockets(s.in)
		if serving {
			<-s.recvDone // no handler starts after this
		}
		if s.py != nil {
			s.py.Close(s.cfg.ServiceStopGrace)
		}
		s.wg.Wait()
		s.svc.StopAll()
		s.out.waitDrained(s.cfg.Linger)
		s.outCancel()
		outErr := closeSockets(s.outSock) // ends a send stuck on a peer that does not read
		<-s.outDone
		s.closeErr = errors.Join(inErr, outErr, s.removeTmp())
	})
	return s.closeErr
}

func closeSockets(socks ...zmq4.Socket) error {
	var errs []error
	for _, sock := range socks {
		// A connection the peer closed first is no error of ours.
		if sock != nil {
			if err := sock.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("runner: close socket: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeTmp removes the driver's directory.
func (s *Server) removeTmp() error {
	if s.tmpDir == "" {
		return nil
	}
	if err := os.RemoveAll(s.tmpDir); err != nil {
		return fmt.Errorf("runner: remove %s: %w", s.tmpDir, err)
	}
	return nil
}
