package kernelrunner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// Defaults of Options' zero values.
const (
	// DefaultKeepalive is how often a `status` goes out to keep the NAT
	// entries of the repl ports alive (upstream's ping_status).
	DefaultKeepalive = 10 * time.Second
	// DefaultMaxRecordSize caps one stdout/stderr record, as upstream's
	// max_record_size.
	DefaultMaxRecordSize = 10 << 20
	// DefaultMaxQueuedRecords caps the records queued for a run, as
	// upstream's per-run asyncio.Queue(maxsize=4096).
	DefaultMaxQueuedRecords = 4096
	// DefaultCompleteTimeout bounds the wait for a `completion`.
	DefaultCompleteTimeout = 5 * time.Second
	// DefaultServiceTimeout bounds the wait for a `service-result`:
	// a service counts as started only once its port opens, and Jupyter
	// and the like take a while.
	DefaultServiceTimeout = 60 * time.Second
	// DefaultAppsTimeout bounds the wait for an `apps-result`, as upstream.
	DefaultAppsTimeout = 10 * time.Second
	// DefaultReadyInterval is WaitReady's poll interval when given none
	// (upstream's readiness loop retries every 0.3 s).
	DefaultReadyInterval = 300 * time.Millisecond
)

// linger is the repl sockets' ZMQ_LINGER, upstream's 50 ms: a closing
// client should not hang on a krunner that is gone.
const linger = 50 * time.Millisecond

// reconnectInterval is how soon a refused connection to the runner is
// tried again.
const reconnectInterval = 5 * time.Millisecond

// pollTick bounds the reader's sleep in zmq_poll, so that it notices a
// Close even if the wake-up were lost.
const pollTick = 250 * time.Millisecond

// readBatch bounds the messages read per poll wake-up, so that a chatty
// krunner cannot keep the reader from seeing a Close.
const readBatch = 256

// sendPollTick is how long a blocked send sleeps between looks at its
// context and at Close.
const sendPollTick = 50 * time.Millisecond

// Errors of the package, for errors.Is.
var (
	// ErrClosed is returned by the methods of a closed Client, and by
	// calls that were waiting when it closed.
	ErrClosed = errors.New("kernelrunner: client closed")
	// ErrRunBusy is returned by Execute when another Execute is already
	// collecting the same run.
	ErrRunBusy = errors.New("kernelrunner: run is being collected by another call")
	// ErrReaderStopped is returned to waiting calls when the reading
	// goroutine stopped on a socket error: no reply can come any more.
	ErrReaderStopped = errors.New("kernelrunner: output reader stopped")
)

// Options configure Dial.
type Options struct {
	// Host is the kernel's address as the agent reaches it (an IPv6
	// literal may be bare or bracketed).
	Host string
	// ReplIn and ReplOut are the krunner's PULL (2000 in the container)
	// and PUSH (2001) ports as mapped for the agent.
	ReplIn, ReplOut int
	// Log receives the client's lines; nil discards them. Callers add
	// their own attributes (kernel id...).
	Log *slog.Logger
	// ZMQContext, when set, is shared (upstream shares one context among
	// all runners: each context costs libzmq threads); Close then leaves
	// it alone. Nil gives the client its own, terminated by Close.
	ZMQContext *zmq.Context
	// Keepalive is the `status` interval; 0 means DefaultKeepalive,
	// negative disables it.
	Keepalive time.Duration
	// ExecTimeout, when positive, arms upstream's watchdog: that long
	// after Dial, the run then current ends with `exec-timeout`.
	ExecTimeout time.Duration
	// MaxRecordSize caps one stdout/stderr record in bytes; 0 means
	// DefaultMaxRecordSize.
	MaxRecordSize int
	// MaxQueuedRecords caps a run's queue; 0 means
	// DefaultMaxQueuedRecords.
	MaxQueuedRecords int
	// CompleteTimeout, ServiceTimeout and AppsTimeout bound the waits of
	// Complete, StartService and GetApps; 0 means the Default of each.
	CompleteTimeout, ServiceTimeout, AppsTimeout time.Duration
}

// Client talks to one kernel's krunner.
type Client struct {
	log  *slog.Logger
	opts Options

	zctx    *zmq.Context
	ownZctx bool

	// sendMu orders the uses of push and sendPoller: any goroutine may
	// send, one at a time.
	sendMu     sync.Mutex
	push       *zmq.Socket // nil once closed
	sendPoller *zmq.Poller

	// pull and wakePull belong to the reader goroutine; wakePush to Close.
	pull     *zmq.Socket
	wakePull *zmq.Socket
	wakePush *zmq.Socket

	mu      sync.Mutex
	closed  bool
	runs    map[string]*run
	pending []*run // runs waiting to become current, in arrival order
	current *run
	waiters map[string][]chan []byte // reply type → calls waiting for it
	// readErr is why the reader stopped on its own; set before readerDone
	// closes.
	readErr error

	// decoders are the reader goroutine's incremental UTF-8 decoders of
	// stdout and stderr: a krunner may split a character across records.
	stdoutDec, stderrDec utf8Decoder

	watchdog   *time.Timer
	done       chan struct{} // closed by Close
	readerDone chan struct{} // closed when the reader goroutine ends
	keepDone   chan struct{} // closed when the keepalive goroutine ends
	closeOnce  sync.Once
}

// Dial connects to a krunner. ZeroMQ connects in the background, so Dial
// returns before the krunner is up: WaitReady tells when it answers. ctx
// only bounds Dial itself.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial kernel runner: %w", err)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(opts.Host, "["), "]")
	if host == "" {
		return nil, errors.New("dial kernel runner: no host")
	}
	for _, p := range []int{opts.ReplIn, opts.ReplOut} {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("dial kernel runner: invalid port %d", p)
		}
	}
	setDefaults(&opts)
	c := &Client{
		log:        opts.Log,
		opts:       opts,
		zctx:       opts.ZMQContext,
		runs:       make(map[string]*run),
		waiters:    make(map[string][]chan []byte),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		keepDone:   make(chan struct{}),
	}
	if c.zctx == nil {
		zctx, err := zmq.NewContext()
		if err != nil {
			return nil, fmt.Errorf("dial kernel runner: %w", err)
		}
		c.zctx, c.ownZctx = zctx, true
	}
	ipv6 := strings.Contains(host, ":")
	inEP := "tcp://" + net.JoinHostPort(host, strconv.Itoa(opts.ReplIn))
	outEP := "tcp://" + net.JoinHostPort(host, strconv.Itoa(opts.ReplOut))
	var err error
	if c.push, err = c.socket(zmq.PUSH, inEP, ipv6, false); err == nil {
		if c.pull, err = c.socket(zmq.PULL, outEP, ipv6, false); err == nil {
			// Unique within the context while this client lives: the
			// address of c.
			wakeEP := fmt.Sprintf("inproc://kernelrunner-wake-%p", c)
			if c.wakePull, err = c.socket(zmq.PULL, wakeEP, false, true); err == nil {
				c.wakePush, err = c.socket(zmq.PUSH, wakeEP, false, false)
			}
		}
	}
	if err != nil {
		c.release()
		return nil, fmt.Errorf("dial kernel runner: %w", err)
	}
	c.sendPoller = zmq.NewPoller()
	c.sendPoller.Add(c.push, zmq.POLLOUT)
	c.log.Debug("kernel runner sockets connected", "replin", inEP, "replout", outEP)

	go c.readLoop()
	if opts.Keepalive > 0 {
		go c.keepalive(opts.Keepalive)
	} else {
		close(c.keepDone)
	}
	if opts.ExecTimeout > 0 {
		c.watchdog = time.AfterFunc(opts.ExecTimeout, c.execTimedOut)
	}
	return c, nil
}

func setDefaults(o *Options) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Keepalive == 0 {
		o.Keepalive = DefaultKeepalive
	}
	if o.MaxRecordSize <= 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	if o.MaxQueuedRecords <= 0 {
		o.MaxQueuedRecords = DefaultMaxQueuedRecords
	}
	if o.CompleteTimeout <= 0 {
		o.CompleteTimeout = DefaultCompleteTimeout
	}
	if o.ServiceTimeout <= 0 {
		o.ServiceTimeout = DefaultServiceTimeout
	}
	if o.AppsTimeout <= 0 {
		o.AppsTimeout = DefaultAppsTimeout
	}
}

// socket makes a socket of type t connected (or bound) to ep.
func (c *Client) socket(t zmq.Type, ep string, ipv6, bind bool) (*zmq.Socket, error) {
	s, err := c.zctx.NewSocket(t)
	if err != nil {
		return nil, fmt.Errorf("new socket for %s: %w", ep, err)
	}
	if err := s.SetLinger(linger); err != nil {
		s.Close()
		return nil, err
	}
	// The runner binds when its kernel has started, often just after we
	// connect: retry the refused connection soon, not after libzmq's
	// 100 ms, since kernel_started waits for it.
	if !bind {
		if err := s.SetReconnectIvl(reconnectInterval); err != nil {
			s.Close()
			return nil, err
		}
	}
	if ipv6 {
		if err := s.SetIpv6(true); err != nil {
			s.Close()
			return nil, err
		}
	}
	if bind {
		err = s.Bind(ep)
	} else {
		err = s.Connect(ep)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("connect %s: %w", ep, err)
	}
	return s, nil
}

// Close stops the client: waiting calls return ErrClosed, the sockets
// close (unsent messages get the 50 ms linger) and an own ZeroMQ context
// is terminated. Later calls return nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		close(c.done)
		if c.watchdog != nil {
			c.watchdog.Stop()
		}
		// EAGAIN only means a wake-up is queued already; the poll tick
		// covers a lost one.
		_, _ = c.wakePush.SendBytes([]byte{1}, zmq.DONTWAIT)
		<-c.readerDone
		<-c.keepDone
		c.release()
	})
	return nil
}

// release closes what Dial opened. The reader, if it ran, has closed its
// sockets already.
func (c *Client) release() {
	c.sendMu.Lock()
	for _, s := range []**zmq.Socket{&c.push, &c.pull, &c.wakePull, &c.wakePush} {
		if *s != nil {
			(*s).Close()
			*s = nil
		}
	}
	c.sendMu.Unlock()
	if c.ownZctx {
		if err := c.zctx.Term(); err != nil && !errors.Is(err, zmq.ETERM) {
			c.log.Warn("zmq context not terminated", "err", err)
		}
	}
}

// send sends one [typ, payload] message. The first frame goes out with
// DONTWAIT, so that a krunner which stopped reading (the PUSH queue at its
// high-water mark) cannot hold the send past ctx or Close; once it is
// taken, libzmq takes the rest of the message without blocking.
func (c *Client) send(ctx context.Context, typ string, payload []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.push == nil {
		return ErrClosed
	}
	for {
		_, err := c.push.SendBytes([]byte(typ), zmq.SNDMORE|zmq.DONTWAIT)
		if err == nil {
			break
		}
		if !errors.Is(err, zmq.EAGAIN) {
			return fmt.Errorf("send %s: %w", typ, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("send %s: %w", typ, ctx.Err())
		case <-c.done:
			return ErrClosed
		default:
		}
		if _, err := c.sendPoller.Poll(sendPollTick); err != nil {
			return fmt.Errorf("send %s: %w", typ, err)
		}
	}
	if _, err := c.push.SendBytes(payload, 0); err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	return nil
}

// readLoop owns the PULL sockets: it reads the krunner's messages and
// dispatches them until Close wakes it.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	defer func() {
		c.pull.Close()
		c.wakePull.Close()
	}()
	poller := zmq.NewPoller()
	poller.Add(c.pull, zmq.POLLIN)
	poller.Add(c.wakePull, zmq.POLLIN)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		polled, err := poller.Poll(pollTick)
		if err != nil {
			c.stopReading(fmt.Errorf("poll kernel runner output: %w", err))
			return
		}
		for _, p := range polled {
			if p.Socket != c.pull {
				return // the wake-up: only Close sends one
			}
			for range readBatch {
				frames, err := c.pull.RecvMessageBytes(zmq.DONTWAIT)
				if errors.Is(err, zmq.EAGAIN) {
					break
				}
				if err != nil {
					c.stopReading(fmt.Errorf("read kernel runner output: %w", err))
					return
				}
				c.dispatch(frames)
			}
		}
	}
}

// stopReading records why the reader gave up, for the calls that will
// find readerDone closed.
func (c *Client) stopReading(err error) {
	c.log.Warn("kernel runner output reader stopped", "err", err)
	c.mu.Lock()
	c.readErr = err
	c.mu.Unlock()
}

// readerErr is what a call waiting on readerDone returns.
func (c *Client) readerErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.readErr != nil {
		return fmt.Errorf("%w: %w", ErrReaderStopped, c.readErr)
	}
	return ErrReaderStopped
}

// dispatch routes one message from the krunner. It runs on the reader
// goroutine and never blocks.
func (c *Client) dispatch(frames [][]byte) {
	if len(frames) != 2 {
		c.log.Debug("dropped malformed kernel runner message", "frames", len(frames))
		return
	}
	typ, data := string(frames[0]), frames[1]
	switch typ {
	case msgStatus, msgCompletion, msgServiceResult, msgAppsResult:
		c.reply(typ, data)
		return
	case msgStdout, msgStderr:
		if len(data) > c.opts.MaxRecordSize {
			c.log.Debug("truncated kernel runner record", "type", typ, "size", len(data), "limit", c.opts.MaxRecordSize)
			data = data[:c.opts.MaxRecordSize]
		}
		dec := &c.stdoutDec
		if typ == msgStderr {
			dec = &c.stderrDec
		}
		c.enqueue(record{typ: typ, data: dec.decode(data)})
		return
	case msgMedia, msgHTML, msgLog,
		StatusFinished, StatusBuildFinished, StatusCleanFinished, StatusWaitingInput:
		c.enqueue(record{typ: typ, data: validUTF8(data)})
	default:
		c.log.Debug("ignored kernel runner message", "type", typ, "size", len(data))
		return
	}
	if typ == StatusFinished || typ == StatusBuildFinished {
		// A step's output ends here: bytes of a split character still
		// held belong to nothing that follows (upstream finalizes its
		// decoders at the same points).
		c.stdoutDec.reset()
		c.stderrDec.reset()
	}
}

// reply hands a reply to the calls waiting for its type: every Status
// caller gets a `status` (the krunner's state is the same for all), the
// others go to the longest-waiting caller. A reply nobody waits for (the
// keepalive's, a late one) is dropped.
func (c *Client) reply(typ string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[typ]
	if len(ws) == 0 {
		c.log.Debug("dropped kernel runner reply of no waiting call", "type", typ)
		return
	}
	if typ == msgStatus {
		for _, w := range ws {
			w <- data
		}
		delete(c.waiters, typ)
		return
	}
	ws[0] <- data
	c.waiters[typ] = ws[1:]
}

// request sends [typ, payload] and waits up to ctx for a reply of type
// replyTyp. The waiter is registered before the send, so that a fast
// reply cannot slip past it.
func (c *Client) request(ctx context.Context, typ string, payload []byte, replyTyp string) ([]byte, error) {
	w := make(chan []byte, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.waiters[replyTyp] = append(c.waiters[replyTyp], w)
	c.mu.Unlock()
	defer c.unwait(replyTyp, w)
	if err := c.send(ctx, typ, payload); err != nil {
		return nil, err
	}
	select {
	case data := <-w:
		return data, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("await %s: %w", replyTyp, ctx.Err())
	case <-c.done:
		return nil, ErrClosed
	case <-c.readerDone:
		return nil, c.readerErr()
	}
}

func (c *Client) unwait(typ string, w chan []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[typ]
	for i, x := range ws {
		if x == w {
			c.waiters[typ] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(c.waiters[typ]) == 0 {
		delete(c.waiters, typ)
	}
}

// keepalive sends a `status` every interval so that the NAT entries of
// the repl ports do not expire during a long quiet run. Its reply is
// dropped unless a Status call happens to be waiting.
func (c *Client) keepalive(interval time.Duration) {
	defer close(c.keepDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		if err := c.send(ctx, msgStatus, nil); err != nil && !errors.Is(err, ErrClosed) {
			c.log.Debug("keepalive status not sent", "err", err)
		}
		cancel()
	}
}
