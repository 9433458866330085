package runner

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// outMsg is one 2-frame message for the agent.
type outMsg struct {
	typ     string
	payload []byte
}

// isOutput tells the records that may be merged and, past the bound,
// dropped: console output. Replies and finished markers never are, since
// the agent waits for them.
func (m outMsg) isOutput() bool {
	return m.typ == "stdout" || m.typ == "stderr"
}

// outbox queues messages for the agent so that nothing the runner does
// waits on the agent: a PUSH socket blocks while no peer is connected and
// when the peer stops reading. It holds at most limit bytes; past that it
// drops the oldest output records. Adjacent output records of one stream
// are merged up to maxRecord bytes, which also caps each record.
type outbox struct {
	log       *slog.Logger
	limit     int
	maxRecord int

	mu       sync.Mutex
	q        []outMsg
	size     int
	dropped  int       // bytes dropped since the last warning
	total    int       // bytes dropped in all
	lastWarn time.Time // rate-limits the warning
	idle     bool      // the sender waits for work
	wake     chan struct{}
	drained  chan struct{} // signalled when the queue empties
}

func newOutbox(log *slog.Logger, limit, maxRecord int) *outbox {
	return &outbox{
		log:       log,
		limit:     limit,
		maxRecord: maxRecord,
		wake:      make(chan struct{}, 1),
		drained:   make(chan struct{}, 1),
	}
}

// push queues a message; it takes ownership of payload.
func (o *outbox) push(typ string, payload []byte) {
	o.mu.Lock()
	o.q = append(o.q, outMsg{typ: typ, payload: payload})
	o.size += len(payload)
	o.trimLocked()
	o.mu.Unlock()
	o.signal()
}

// pushOutput queues console output, copying p (callers reuse buffers) and
// splitting it into records of at most maxRecord bytes.
func (o *outbox) pushOutput(typ string, p []byte) {
	if len(p) == 0 {
		return
	}
	o.mu.Lock()
	for len(p) > 0 {
		if n := len(o.q); n > 0 && o.q[n-1].typ == typ && len(o.q[n-1].payload) < o.maxRecord {
			last := &o.q[n-1]
			k := min(len(p), o.maxRecord-len(last.payload))
			last.payload = append(last.payload, p[:k]...)
			o.size += k
			p = p[k:]
			continue
		}
		k := min(len(p), o.maxRecord)
		o.q = append(o.q, outMsg{typ: typ, payload: append(make([]byte, 0, min(k, 64<<10)), p[:k]...)})
		o.size += k
		p = p[k:]
	}
	o.trimLocked()
	o.mu.Unlock()
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// trimLocked drops the oldest output records until the queue fits in
// limit again. Replies are never dropped (they are small, and the agent
// waits for them), so they alone may overrun the bound.
func (o *outbox) trimLocked() {
	for o.size > o.limit {
		i := slices.IndexFunc(o.q, outMsg.isOutput)
		if i < 0 {
			break
		}
		n := len(o.q[i].payload)
		o.size -= n
		o.dropped += n
		o.total += n
		o.q = slices.Delete(o.q, i, i+1)
	}
	if o.dropped > 0 && time.Since(o.lastWarn) >= 5*time.Second {
		o.log.Warn("agent not reading: dropped queued output", "bytes", o.dropped, "queued_bytes", o.size)
		o.dropped = 0
		o.lastWarn = time.Now()
	}
}

// next removes the oldest message, waiting for one until ctx ends.
func (o *outbox) next(ctx context.Context) (outMsg, bool) {
	for {
		o.mu.Lock()
		if len(o.q) > 0 {
			m := o.q[0]
			o.q[0] = outMsg{}
			o.q = o.q[1:]
			o.size -= len(m.payload)
			o.idle = false
			o.mu.Unlock()
			return m, true
		}
		o.idle = true
		o.mu.Unlock()
		select {
		case o.drained <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return outMsg{}, false
		case <-o.wake:
		}
	}
}

// run sends messages until ctx ends; a failed send is logged and the
// message is lost, as libzmq would lose it with its peer.
func (o *outbox) run(ctx context.Context, send func(context.Context, outMsg) error) {
	for {
		m, ok := o.next(ctx)
		if !ok {
			return
		}
		if err := send(ctx, m); err != nil && ctx.Err() == nil {
			o.log.Warn("send to agent failed", "msg_type", m.typ, "bytes", len(m.payload), "error", err)
		}
	}
}

// waitDrained waits until the queue is empty and the sender idle, or for
// at most d.
func (o *outbox) waitDrained(d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		done := len(o.q) == 0 && o.idle
		o.mu.Unlock()
		if done {
			return
		}
		select {
		case <-o.drained:
		case <-deadline.C:
			return
		}
	}
}
