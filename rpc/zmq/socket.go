package zmq

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Socket is a libzmq socket. Like libzmq's, it is not safe for concurrent
// use: one goroutine at a time owns it, and Close comes last.
type Socket struct {
	ptr unsafe.Pointer // nil once closed
	rx  *C.zmqx_frame  // receive slot, C memory, freed by Close
	// more is ZMQ_RCVMORE: whether the last frame received has more
	// after it. Every receive goes through this Socket, so keeping the
	// flag from zmq_msg_more saves a zmq_getsockopt per frame.
	more     bool
	closeErr error
}

// Close closes the socket; a second Close returns the first's result.
// Messages still queued go out within ZMQ_LINGER, in the background.
func (s *Socket) Close() error {
	if s.ptr == nil {
		return s.closeErr
	}
	if rc, err := C.zmqx_close(s.ptr); rc != 0 {
		s.closeErr = errnoOf(err)
	}
	C.free(unsafe.Pointer(s.rx))
	s.ptr, s.rx = nil, nil
	return s.closeErr
}

// Bind listens on endpoint ("tcp://127.0.0.1:*", "inproc://name"...).
func (s *Socket) Bind(endpoint string) error {
	return s.endpoint(endpoint, true)
}

// Connect connects to endpoint; libzmq connects (and reconnects) in the
// background.
func (s *Socket) Connect(endpoint string) error {
	return s.endpoint(endpoint, false)
}

func (s *Socket) endpoint(endpoint string, bind bool) error {
	if s.ptr == nil {
		return ErrClosed
	}
	cs := C.CString(endpoint)
	defer C.free(unsafe.Pointer(cs))
	var rc C.int
	var err error
	if bind {
		rc, err = C.zmqx_bind(s.ptr, cs)
	} else {
		rc, err = C.zmqx_connect(s.ptr, cs)
	}
	if rc != 0 {
		return errnoOf(err)
	}
	return nil
}

// GetLastEndpoint is ZMQ_LAST_ENDPOINT: the endpoint last bound, with the
// real port where "*" was asked.
func (s *Socket) GetLastEndpoint() (string, error) {
	if s.ptr == nil {
		return "", ErrClosed
	}
	var buf [1024]byte
	n := C.size_t(len(buf))
	if rc, err := C.zmqx_getsockopt(s.ptr, C.ZMQ_LAST_ENDPOINT, unsafe.Pointer(&buf[0]), &n); rc != 0 {
		return "", fmt.Errorf("get ZMQ_LAST_ENDPOINT: %w", errnoOf(err))
	}
	// n counts the terminating NUL.
	if n > 0 && buf[n-1] == 0 {
		n--
	}
	return string(buf[:n]), nil
}

// GetRcvmore is ZMQ_RCVMORE: whether the frame last received has more
// frames of its message after it.
func (s *Socket) GetRcvmore() (bool, error) {
	if s.ptr == nil {
		return false, ErrClosed
	}
	return s.more, nil
}

// SetLinger is ZMQ_LINGER: how long Close lets unsent messages go out
// (in the background) and so how long the context's Term waits for them.
// Negative means forever, 0 drops them.
func (s *Socket) SetLinger(d time.Duration) error {
	return s.setInt(C.ZMQ_LINGER, "ZMQ_LINGER", millis(d))
}

// SetSndtimeo is ZMQ_SNDTIMEO: how long a blocking send waits before it
// fails with EAGAIN. Negative means forever.
func (s *Socket) SetSndtimeo(d time.Duration) error {
	return s.setInt(C.ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", millis(d))
}

// SetReconnectIvl is ZMQ_RECONNECT_IVL: how long a connecting socket
// waits before it tries again after a refused or lost connection
// (libzmq's default: 100 ms).
func (s *Socket) SetReconnectIvl(d time.Duration) error {
	return s.setInt(C.ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", millis(d))
}

// SetSndhwm is ZMQ_SNDHWM: the messages queued per peer before a send
// blocks or drops; 0 means no limit.
func (s *Socket) SetSndhwm(n int) error {
	return s.setInt(C.ZMQ_SNDHWM, "ZMQ_SNDHWM", n)
}

// SetMaxmsgsize is ZMQ_MAXMSGSIZE: a peer that sends a larger frame is
// disconnected; -1 means no limit.
func (s *Socket) SetMaxmsgsize(n int64) error {
	if s.ptr == nil {
		return ErrClosed
	}
	if rc, err := C.zmqx_setsockopt_int64(s.ptr, C.ZMQ_MAXMSGSIZE, C.longlong(n)); rc != 0 {
		return fmt.Errorf("set ZMQ_MAXMSGSIZE: %w", errnoOf(err))
	}
	return nil
}

// SetIpv6 is ZMQ_IPV6: whether tcp endpoints may use IPv6.
func (s *Socket) SetIpv6(on bool) error {
	v := 0
	if on {
		v = 1
	}
	return s.setInt(C.ZMQ_IPV6, "ZMQ_IPV6", v)
}

// SetZapDomain is ZMQ_ZAP_DOMAIN, passed to the ZAP handler.
func (s *Socket) SetZapDomain(domain string) error {
	return s.setString(C.ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN", domain)
}

// SetCurveServer is ZMQ_CURVE_SERVER: 1 makes the socket a CURVE server
// (it then needs SetCurveSecretkey).
func (s *Socket) SetCurveServer(v int) error {
	return s.setInt(C.ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", v)
}

// SetCurveServerkey is ZMQ_CURVE_SERVERKEY, the server's public key (z85,
// 40 characters): setting it makes the socket a CURVE client.
func (s *Socket) SetCurveServerkey(key string) error {
	return s.setString(C.ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", key)
}

// SetCurvePublickey is ZMQ_CURVE_PUBLICKEY, a client's public key (z85).
func (s *Socket) SetCurvePublickey(key string) error {
	return s.setString(C.ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", key)
}

// SetCurveSecretkey is ZMQ_CURVE_SECRETKEY, the socket's secret key (z85).
func (s *Socket) SetCurveSecretkey(key string) error {
	return s.setString(C.ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", key)
}

func (s *Socket) setInt(opt C.int, name string, v int) error {
	if s.ptr == nil {
		return ErrClosed
	}
	if rc, err := C.zmqx_setsockopt_int(s.ptr, opt, C.int(v)); rc != 0 {
		return fmt.Errorf("set %s: %w", name, errnoOf(err))
	}
	return nil
}

// setString passes v's bytes for the call only, as cgo allows; libzmq
// copies them (a 40-character CURVE key is z85, which libzmq decodes).
func (s *Socket) setString(opt C.int, name, v string) error {
	if s.ptr == nil {
		return ErrClosed
	}
	if rc, err := C.zmqx_setsockopt(s.ptr, opt, unsafe.Pointer(unsafe.StringData(v)), C.size_t(len(v))); rc != 0 {
		return fmt.Errorf("set %s: %w", name, errnoOf(err))
	}
	return nil
}

// millis is a libzmq time option's value: milliseconds, rounded up so
// that a short positive duration does not become 0 (which means "none"),
// and -1 (forever) for a negative one.
func millis(d time.Duration) int {
	switch {
	case d < 0:
		return -1
	case d >= math.MaxInt32*time.Millisecond:
		return math.MaxInt32
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}
