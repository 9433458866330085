package zmq

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// Context is a libzmq context: its I/O thread and the inproc namespace
// its sockets share. Safe for concurrent use.
type Context struct {
	// mu keeps zmq_ctx_term from freeing the context while a NewSocket
	// is inside zmq_socket: NewSocket holds it for reading, Term takes it
	// to clear ptr before terminating.
	mu  sync.RWMutex
	ptr unsafe.Pointer // nil once Term has begun

	termOnce sync.Once
	termErr  error
}

// NewContext loads libzmq if needed and creates a context. The error
// wraps ErrUnavailable when libzmq cannot be loaded.
func NewContext() (*Context, error) {
	if err := load(); err != nil {
		return nil, err
	}
	p, err := C.zmqx_ctx_new()
	if p == nil {
		return nil, errnoOf(err)
	}
	return &Context{ptr: p}, nil
}

// NewSocket creates a socket of type t; the caller closes it before the
// context's Term can return. It fails with ETERM once Term was called.
func (c *Context) NewSocket(t Type) (*Socket, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return nil, ETERM
	}
	rx := (*C.zmqx_frame)(C.calloc(1, C.sizeof_zmqx_frame))
	if rx == nil {
		return nil, errors.New("zmq: out of memory for a receive slot")
	}
	p, err := C.zmqx_socket(c.ptr, C.int(t))
	if p == nil {
		C.free(unsafe.Pointer(rx))
		return nil, errnoOf(err)
	}
	return &Socket{ptr: p, rx: rx}, nil
}

// Term terminates the context: blocking calls on its sockets fail with
// ETERM, and Term returns once every socket is closed (and, for each,
// its ZMQ_LINGER has passed or its messages went out). Later calls
// return the first call's result.
func (c *Context) Term() error {
	c.termOnce.Do(func() {
		c.mu.Lock()
		p := c.ptr
		c.ptr = nil
		c.mu.Unlock()
		for {
			rc, err := C.zmqx_ctx_term(p)
			if rc == 0 {
				return
			}
			// EINTR: "termination was interrupted by a signal; it can be
			// restarted".
			if e := errnoOf(err); e != EINTR {
				c.termErr = e
				return
			}
		}
	})
	return c.termErr
}
