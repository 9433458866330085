package callosum

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// readBatch bounds the messages read per wake-up, so that replies and ZAP
// requests are not starved by a flood of requests.
const readBatch = 64

// callKey identifies a call as a CANCEL names it: (peer, meth, okey, seq).
type callKey struct {
	peer   string
	method string
	okey   orderKey
	seq    uint32
}

// call is a running FUNCTION. Only the loop goroutine touches it after
// its handler goroutine has started.
type call struct {
	key       callKey
	cancel    context.CancelFunc
	cancelled bool // CANCELLED was sent; the handler's reply is dropped
}

// completion is what a handler goroutine posts back.
type completion struct {
	c      *call
	result []byte
	err    error
	// stopped: the handler ended with its context's error after the context
	// ended (CANCEL or shutdown); it is answered CANCELLED.
	stopped bool
}

// loop is the goroutine that owns the sockets during Serve.
type loop struct {
	s        *Server
	log      *slog.Logger
	router   *zmq.Socket
	mbox     *mailbox[completion]
	poller   *zmq.Poller
	routerID int // poller index of the router
	reading  bool
	closing  bool // in shutdown: read no more requests

	base     context.Context // parent of the handlers' contexts
	stopAll  context.CancelFunc
	calls    map[callKey]*call // calls a CANCEL can still reach
	inflight int               // handler goroutines running
	spare    []completion
}

func newLoop(s *Server) *loop {
	l := &loop{s: s, log: s.log, router: s.router, mbox: s.mbox, calls: make(map[callKey]*call)}
	l.poller = zmq.NewPoller()
	l.routerID = l.poller.Add(s.router, zmq.POLLIN)
	l.reading = true
	l.poller.Add(s.mbox.pull, zmq.POLLIN)
	if s.zap != nil {
		l.poller.Add(s.zap, zmq.POLLIN)
	}
	return l
}

// run serves until ctx ends.
func (l *loop) run(ctx context.Context) error {
	l.base, l.stopAll = context.WithCancel(context.WithoutCancel(ctx))
	defer l.stopAll()
	for ctx.Err() == nil {
		// The mailbox's wake-up is the fast path; the timeout bounds what
		// a lost one could cost (a stop or a reply that is never seen).
		polled, err := l.poller.Poll(pollTick)
		if err != nil {
			l.stopAll()
			return fmt.Errorf("poll rpc sockets: %w", err)
		}
		if len(polled) == 0 && l.mbox.pending() {
			// Replies waiting with no wake-up seen: never leave them
			// there longer than a tick.
			l.log.Debug("RPC replies found without a wake-up")
			l.finish()
		}
		for _, p := range polled {
			switch p.Socket {
			case l.router:
				l.readRequests()
			case l.mbox.pull:
				l.finish()
			case l.s.zap:
				serveZAP(l.s.zap, l.s.opts.Curve.ManagerPublicKey, l.log, &l.s.stats)
			}
		}
	}
	l.shutdown()
	return nil
}

// setReading turns reading from the router on or off (MaxInflight).
func (l *loop) setReading(on bool) {
	if on == l.reading {
		return
	}
	var ev zmq.State
	if on {
		ev = zmq.POLLIN
	}
	// Update fails only for a bad index.
	_, _ = l.poller.Update(l.routerID, ev)
	l.reading = on
}

func (l *loop) full() bool {
	return l.s.opts.MaxInflight > 0 && l.inflight >= l.s.opts.MaxInflight
}

// readRequests handles the messages waiting on the router.
func (l *loop) readRequests() {
	for range readBatch {
		if l.full() {
			l.setReading(false)
			return
		}
		m, err := recvMessage(l.router, l.s.opts.MaxFrameBytes)
		if err != nil {
			return // EAGAIN: nothing more now
		}
		l.handle(m)
	}
}

// handle checks one message from the router and acts on it.
func (l *loop) handle(m message) {
	st, frames := &l.s.stats, m.frames
	if m.size > l.s.opts.MaxFrameBytes {
		st.oversized.Add(1)
		l.log.Debug("dropped oversized RPC message", "peer", peerHex(frames), "size", m.size, "limit", l.s.opts.MaxFrameBytes)
		return
	}
	if m.count != maxFrames {
		l.dropMalformed(frames, fmt.Errorf("%w: %d frames, want %d", errMalformed, m.count, maxFrames))
		return
	}
	peer, mark, rawHdr, rawBody := frames[0], string(frames[1]), frames[2], frames[3]
	switch mark {
	case markPing:
		st.pings.Add(1)
		l.send(peer, markPong, rawHdr, rawBody)
		return
	case markUpper:
	default:
		l.dropMalformed(frames, fmt.Errorf("%w: marker %q", errMalformed, truncate(mark)))
		return
	}
	h, err := decodeHeader(rawHdr)
	if err != nil {
		l.dropMalformed(frames, err)
		return
	}
	switch h.typ {
	case TypeFunction, TypeCancel:
	default:
		st.ignored.Add(1)
		l.log.Debug("ignored RPC message", "peer", peerHex(frames), "type", h.typ.String(), "method", h.method)
		return
	}
	_, body, err := decodeBody(rawBody, h.zip, l.s.opts.MaxFrameBytes)
	if errors.Is(err, errOversized) {
		st.oversized.Add(1)
		l.log.Debug("dropped oversized RPC message", "peer", peerHex(frames), "err", err)
		return
	}
	if err != nil {
		l.dropMalformed(frames, err)
		return
	}
	key := callKey{peer: string(peer), method: h.method, okey: h.okey, seq: h.seq}
	if h.typ == TypeCancel {
		l.cancel(key, h)
		return
	}
	l.start(key, h, body)
}

func (l *loop) dropMalformed(frames [][]byte, err error) {
	l.s.stats.malformed.Add(1)
	l.log.Debug("dropped malformed RPC message", "peer", peerHex(frames), "frames", len(frames), "err", err)
}

// start runs a FUNCTION's handler on its own goroutine, or, for a method
// declared inline, on this one and replies at once: no goroutine, no
// mailbox hand-off, which is most of a cheap call's latency.
func (l *loop) start(key callKey, h header, body []byte) {
	l.s.stats.requests.Add(1)
	if in := l.s.opts.Inline; in != nil && in(h.method) {
		res, err := invoke(l.base, l.s.opts.Handler, h.method, body, l.log)
		l.complete(&call{key: key}, res, err, false)
		return
	}
	ctx, cancel := context.WithCancel(l.base)
	c := &call{key: key, cancel: cancel}
	l.calls[key] = c // a duplicate replaces the older entry; both reply
	l.inflight++
	handler, mbox, log := l.s.opts.Handler, l.mbox, l.log
	go func() {
		defer cancel()
		res, err := invoke(ctx, handler, h.method, body, log)
		stopped := err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
		mbox.post(completion{c: c, result: res, err: err, stopped: stopped})
	}()
}

// invoke calls the handler, turning a panic into an error.
func invoke(ctx context.Context, h Handler, method string, body []byte, log *slog.Logger) (res []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("RPC handler panicked", "method", method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("handler panic: %v", v)
		}
	}()
	return h.Handle(ctx, method, body)
}

// cancel stops a running call and answers CANCELLED at once.
func (l *loop) cancel(key callKey, h header) {
	c, ok := l.calls[key]
	if !ok {
		l.s.stats.ignored.Add(1)
		l.log.Debug("ignored CANCEL of no running call", "method", h.method, "seq", h.seq)
		return
	}
	delete(l.calls, key)
	c.cancel()
	c.cancelled = true
	l.s.stats.cancels.Add(1)
	l.reply(key, h.okey, TypeCancelled, metaEmptyList, nil)
}

// finish sends the replies of the calls that ended.
func (l *loop) finish() {
	done := l.mbox.take(l.spare)
	for _, d := range done {
		l.inflight--
		c := d.c
		if l.calls[c.key] == c {
			delete(l.calls, c.key)
		}
		if c.cancelled {
			continue
		}
		l.complete(c, d.result, d.err, d.stopped)
	}
	l.spare = done
	if !l.reading && !l.closing && !l.full() {
		l.setReading(true)
	}
}

// complete answers a call that ended: RESULT, CANCELLED or FAILURE/ERROR.
func (l *loop) complete(c *call, result []byte, err error, stopped bool) {
	switch {
	case err == nil:
		if len(result) == 0 {
			result = packedNil
		}
		l.reply(c.key, c.key.okey, TypeResult, metaEmptyList, result)
	case stopped:
		l.reply(c.key, c.key.okey, TypeCancelled, metaEmptyList, nil)
	default:
		kind, meta := describe(c.key.method, err)
		l.log.Debug("RPC call failed", "method", c.key.method, "seq", c.key.seq, "err", err)
		l.reply(c.key, c.key.okey, kind, meta, nil)
	}
}

// reply sends a message of the given type back to a call's peer.
func (l *loop) reply(key callKey, okey orderKey, typ MsgType, meta, body []byte) {
	hdr := encodeHeader(header{typ: typ, method: key.method, okey: okey, seq: key.seq})
	l.send([]byte(key.peer), markUpper, hdr, encodeBody(meta, body))
}

// send writes [peer, mark, hdr, body]. A ROUTER does not block: a reply to
// a peer that is gone is dropped by libzmq.
func (l *loop) send(peer []byte, mark string, hdr, body []byte) {
	if _, err := l.router.SendMessage(peer, mark, hdr, body); err != nil {
		l.log.Debug("RPC reply not sent", "peer", hex.EncodeToString(peer), "err", err)
	}
}

// shutdown cancels every call and sends the replies that come within
// ShutdownTimeout.
func (l *loop) shutdown() {
	l.stopAll()
	l.closing = true
	l.setReading(false)
	deadline := time.Now().Add(l.s.opts.ShutdownTimeout)
	for l.inflight > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			l.log.Warn("RPC handlers still running at shutdown", "calls", l.inflight)
			return
		}
		polled, err := l.poller.Poll(left)
		if err != nil {
			return
		}
		for _, p := range polled {
			switch p.Socket {
			case l.mbox.pull:
				l.finish()
			case l.s.zap:
				serveZAP(l.s.zap, l.s.opts.Curve.ManagerPublicKey, l.log, &l.s.stats)
			}
		}
	}
}

// message is a multipart message as recvMessage read it.
type message struct {
	frames [][]byte // the first maxFrames frames, while size <= limit
	count  int      // frames in the message
	size   int      // bytes in the message
}

// maxFrames is the most frames a message of ours has.
const maxFrames = 4

// recvMessage reads one multipart message without waiting. It keeps at
// most maxFrames frames and stops keeping them once the size passes
// limit, but always reads the message to its end.
func recvMessage(sock *zmq.Socket, limit int) (message, error) {
	var m message
	flag := zmq.DONTWAIT
	for {
		b, err := sock.RecvBytes(flag)
		if err != nil {
			if m.count == 0 {
				return m, err
			}
			return m, nil
		}
		flag = 0 // the rest of a message is already there
		m.count++
		m.size += len(b)
		if len(m.frames) < maxFrames && m.size <= limit {
			m.frames = append(m.frames, b)
		}
		more, err := sock.GetRcvmore()
		if err != nil || !more {
			return m, nil
		}
	}
}

func peerHex(frames [][]byte) string {
	if len(frames) == 0 {
		return ""
	}
	return hex.EncodeToString(frames[0][:min(len(frames[0]), 32)])
}

func truncate(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}
