package zmq

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"syscall"
)

// Errno is an error number from libzmq: a system errno or one of
// libzmq's own (ETERM...). errors.Is matches it against the constants
// here and against the syscall.Errno of the same number.
type Errno uintptr

// The errors callers look for. libzmq's own numbers sit above
// ZMQ_HAUSNUMERO, out of the way of the system's.
const (
	EAGAIN         = Errno(syscall.EAGAIN)
	EINTR          = Errno(syscall.EINTR)
	EINVAL         = Errno(syscall.EINVAL)
	ETERM          = Errno(C.ETERM)
	EFSM           = Errno(C.EFSM)
	ENOCOMPATPROTO = Errno(C.ENOCOMPATPROTO)
	EMTHREAD       = Errno(C.EMTHREAD)
)

// ErrClosed is returned by the methods of a closed Socket, and by Poll
// when one of its sockets is closed: libzmq would dereference a freed
// socket, so the binding refuses first.
var ErrClosed = errors.New("zmq: socket closed")

// zmqErrors are the texts of libzmq's own numbers, as zmq_strerror has
// them; kept here so that printing an error never needs the library.
var zmqErrors = map[Errno]string{
	ETERM:          "Context was terminated",
	EFSM:           "Operation cannot be accomplished in current state",
	ENOCOMPATPROTO: "The protocol is not compatible with the socket type",
	EMTHREAD:       "No thread available",
}

func (e Errno) Error() string {
	if s, ok := zmqErrors[e]; ok {
		return s
	}
	return syscall.Errno(e).Error()
}

// Is makes errors.Is(err, syscall.EAGAIN) hold for EAGAIN, as for the
// plain syscall.Errno a zmq4 user might have compared with.
func (e Errno) Is(target error) bool {
	t, ok := target.(syscall.Errno)
	return ok && uintptr(t) == uintptr(e)
}

// Timeout reports whether e is a timeout (EAGAIN after ZMQ_SNDTIMEO or
// ZMQ_RCVTIMEO, or with DONTWAIT), as syscall.Errno does.
func (e Errno) Timeout() bool { return syscall.Errno(e).Timeout() }

// errnoOf turns the errno cgo returned after a failed call into an Errno.
// libzmq sets errno on every failure; EIO stands in should one not.
func errnoOf(err error) Errno {
	var e syscall.Errno
	if errors.As(err, &e) && e != 0 {
		return Errno(e)
	}
	return Errno(syscall.EIO)
}
