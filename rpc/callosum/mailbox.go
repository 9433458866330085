package callosum

import (
	"fmt"
	"sync"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// mailbox passes items from any goroutine to the goroutine that owns a set
// of ZeroMQ sockets and sleeps in zmq_poll. Items wait in a slice under a
// mutex; the wake-up is one byte over inproc, from a PUSH socket to the
// owner's PULL socket, which the owner polls with its other sockets.
//
// Only the first item of a batch sends a wake-up. The posting goroutine
// sends it itself through a PUSH socket it borrows from a free list (the
// list's mutex orders the uses of a socket), so no goroutine stands between
// a post and the owner's wake-up and no socket is used by two goroutines at
// once.
type mailbox[T any] struct {
	zctx *zmq.Context
	ep   string
	pull *zmq.Socket // the owner's end

	mu     sync.Mutex
	items  []T
	waking bool // a wake-up is on its way and the owner has not taken yet

	pushMu sync.Mutex
	pushes []*zmq.Socket // free PUSH sockets
	closed bool
}

var wakeByte = []byte{1}

// wakeTimeout bounds how long a wake-up send may wait for its pipe.
const wakeTimeout = 100 * time.Millisecond

// pollTick bounds a socket owner's sleep in zmq_poll, so that it sees a
// stop even if a wake-up were lost.
const pollTick = 250 * time.Millisecond

// newMailbox binds inproc://name in zctx; name must be unique there.
func newMailbox[T any](zctx *zmq.Context, name string) (*mailbox[T], error) {
	m := &mailbox[T]{zctx: zctx, ep: "inproc://" + name}
	pull, err := zctx.NewSocket(zmq.PULL)
	if err != nil {
		return nil, fmt.Errorf("mailbox socket: %w", err)
	}
	if err := pull.SetLinger(0); err != nil {
		pull.Close()
		return nil, fmt.Errorf("mailbox socket: %w", err)
	}
	if err := pull.Bind(m.ep); err != nil {
		pull.Close()
		return nil, fmt.Errorf("bind %s: %w", m.ep, err)
	}
	m.pull = pull
	return m, nil
}

// post queues v for the owner and wakes it. Safe from any goroutine, also
// after close (v is then dropped).
func (m *mailbox[T]) post(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	wake := !m.waking
	m.waking = true
	m.mu.Unlock()
	if wake {
		m.wake()
	}
}

// poke wakes the owner without an item (e.g. to look at its context).
func (m *mailbox[T]) poke() {
	m.mu.Lock()
	m.waking = true
	m.mu.Unlock()
	m.wake()
}

// wake sends a wake-up byte through a borrowed PUSH socket.
func (m *mailbox[T]) wake() {
	push := m.borrow()
	if push == nil {
		return // closed, or no socket could be made: the owner is gone
	}
	// Blocking, up to the socket's send timeout: a PUSH socket made just
	// now may not have its inproc pipe ready, and a wake-up refused then
	// would be lost while waking stays set (the owner's poll tick still
	// finds the items, but a tick later). A full pipe means wake-ups are
	// queued already.
	_, _ = push.SendBytes(wakeByte, 0)
	m.giveBack(push)
}

func (m *mailbox[T]) borrow() *zmq.Socket {
	m.pushMu.Lock()
	defer m.pushMu.Unlock()
	if m.closed {
		return nil
	}
	if n := len(m.pushes); n > 0 {
		s := m.pushes[n-1]
		m.pushes = m.pushes[:n-1]
		return s
	}
	s, err := m.zctx.NewSocket(zmq.PUSH)
	if err != nil {
		return nil
	}
	if s.SetLinger(0) != nil || s.SetSndtimeo(wakeTimeout) != nil || s.Connect(m.ep) != nil {
		s.Close()
		return nil
	}
	return s
}

func (m *mailbox[T]) giveBack(s *zmq.Socket) {
	m.pushMu.Lock()
	defer m.pushMu.Unlock()
	if m.closed {
		s.Close()
		return
	}
	m.pushes = append(m.pushes, s)
}

// take drains the wake-ups, then returns what was posted so far; spare
// (emptied) becomes the next queue. Only the owner calls it. Draining
// before taking means an item posted after the take finds waking false
// and sends a fresh wake-up.
func (m *mailbox[T]) take(spare []T) []T {
	for {
		if _, err := m.pull.RecvBytes(zmq.DONTWAIT); err != nil {
			break
		}
	}
	clear(spare)
	m.mu.Lock()
	out := m.items
	m.items = spare[:0]
	m.waking = false
	m.mu.Unlock()
	return out
}

// pending reports whether items wait to be taken.
func (m *mailbox[T]) pending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items) > 0
}

// close closes the free PUSH sockets and the owner's end; a socket still
// borrowed is closed when it comes back. Only the owner calls it.
func (m *mailbox[T]) close() {
	m.pushMu.Lock()
	m.closed = true
	for _, s := range m.pushes {
		s.Close()
	}
	m.pushes = nil
	m.pushMu.Unlock()
	m.pull.Close()
}
