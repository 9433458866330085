package zmq

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"time"
)

// Polled is a socket Poll found ready, and for what.
type Polled struct {
	Socket *Socket
	Events State
}

// Poller waits on several sockets at once (zmq_poll). Like its sockets,
// it belongs to one goroutine.
type Poller struct {
	items []C.zmq_pollitem_t // Go memory holding only C pointers: cgo may take it
	socks []*Socket
}

// NewPoller returns an empty Poller.
func NewPoller() *Poller { return &Poller{} }

// Add watches s for events and returns its id for Update.
func (p *Poller) Add(s *Socket, events State) int {
	p.items = append(p.items, C.zmq_pollitem_t{events: C.short(events)})
	p.socks = append(p.socks, s)
	return len(p.socks) - 1
}

// Update replaces the events watched for the socket id (0: none, the
// socket stays in the set) and returns the previous ones.
func (p *Poller) Update(id int, events State) (State, error) {
	if id < 0 || id >= len(p.items) {
		return 0, fmt.Errorf("zmq: poller has no socket %d", id)
	}
	prev := State(p.items[id].events)
	p.items[id].events = C.short(events)
	return prev, nil
}

// Poll waits up to timeout (negative: forever) until a socket is ready
// for an event it is watched for, and returns those that are, in the
// order they were added; none when the time ran out. A timeout under a
// millisecond, libzmq's unit, is rounded up to one.
func (p *Poller) Poll(timeout time.Duration) ([]Polled, error) {
	for i, s := range p.socks {
		if s.ptr == nil {
			return nil, ErrClosed
		}
		// Refreshed each time: the items hold raw socket pointers.
		p.items[i].socket = s.ptr
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	items := (*C.zmq_pollitem_t)(nil)
	if len(p.items) > 0 {
		items = &p.items[0]
	}
	for {
		rc, err := C.zmqx_poll(items, C.int(len(p.items)), C.long(millis(timeout)))
		if rc >= 0 {
			break
		}
		if e := errnoOf(err); e != EINTR {
			return nil, e
		}
		// A signal cut the wait short: wait for what is left of it.
		if timeout > 0 {
			if timeout = time.Until(deadline); timeout <= 0 {
				timeout = 0
			}
		}
	}
	var polled []Polled
	for i, it := range p.items {
		if ev := State(it.revents) & State(it.events); ev != 0 {
			polled = append(polled, Polled{Socket: p.socks[i], Events: State(it.revents)})
		}
	}
	return polled, nil
}
