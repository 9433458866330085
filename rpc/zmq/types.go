package zmq

/*
#include "shim.h"
*/
import "C"

// Type is a socket type.
type Type int

// The socket types rpc/callosum uses.
const (
	REP    = Type(C.ZMQ_REP)
	DEALER = Type(C.ZMQ_DEALER)
	ROUTER = Type(C.ZMQ_ROUTER)
	PULL   = Type(C.ZMQ_PULL)
	PUSH   = Type(C.ZMQ_PUSH)
)

// Flag modifies a send or a receive.
type Flag int

const (
	// DONTWAIT makes a send or receive that would block fail with EAGAIN.
	DONTWAIT = Flag(C.ZMQ_DONTWAIT)
	// SNDMORE marks a frame that more frames of the same message follow.
	SNDMORE = Flag(C.ZMQ_SNDMORE)
)

// State is a set of poll events.
type State int

const (
	// POLLIN: a message can be received without blocking.
	POLLIN = State(C.ZMQ_POLLIN)
	// POLLOUT: a message can be sent without blocking.
	POLLOUT = State(C.ZMQ_POLLOUT)
)
