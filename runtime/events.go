package runtime

import (
	"sync"
	"time"
)

// EventType names a lifecycle event.
type EventType string

// Lifecycle events.
const (
	EventStarted EventType = "started"
	EventExited  EventType = "exited"
	// EventOOM is sent before EventExited when the kernel was OOM-killed.
	EventOOM EventType = "oom_killed"
	// EventUnaccounted reports a container in the agent's namespace that no
	// state file accounts for; it is left alone.
	EventUnaccounted EventType = "unaccounted"
)

// Event is one lifecycle event of a kernel.
type Event struct {
	KernelID string
	Type     EventType
	Exit     *Exit
	Time     time.Time
	Detail   string
}

// broadcaster fans events out to subscribers without blocking.
type broadcaster struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
}

func newBroadcaster() *broadcaster { return &broadcaster{subs: map[chan Event]struct{}{}} }

func (b *broadcaster) subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 256)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
			close(ch)
		})
	}
}

func (b *broadcaster) send(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default: // a slow subscriber misses it
		}
	}
}
