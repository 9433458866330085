package zmq

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// SendBytes sends data as one frame (SNDMORE in flags: more follow). It
// blocks while the socket cannot take it, unless flags has DONTWAIT, and
// returns len(data).
func (s *Socket) SendBytes(data []byte, flags Flag) (int, error) {
	return s.send(unsafe.Pointer(unsafe.SliceData(data)), len(data), flags)
}

// SendMessage sends a multipart message. Each part is a string, a []byte
// (one frame each), a []string or a [][]byte (one frame per element); an
// empty []string or [][]byte adds no frame. It returns the bytes sent.
// A part of another type fails the call before anything is sent.
func (s *Socket) SendMessage(parts ...any) (int, error) {
	n := 0
	for i, p := range parts {
		switch v := p.(type) {
		case string, []byte:
			n++
		case []string:
			n += len(v)
		case [][]byte:
			n += len(v)
		default:
			return 0, fmt.Errorf("zmq: SendMessage part %d: unsupported type %T", i, p)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("zmq: SendMessage with no frame: %w", EINVAL)
	}
	total, sent := 0, 0
	frame := func(p unsafe.Pointer, size int) error {
		sent++
		flags := SNDMORE
		if sent == n {
			flags = 0
		}
		c, err := s.send(p, size, flags)
		total += c
		return err
	}
	for _, p := range parts {
		var err error
		switch v := p.(type) {
		case string:
			err = frame(unsafe.Pointer(unsafe.StringData(v)), len(v))
		case []byte:
			err = frame(unsafe.Pointer(unsafe.SliceData(v)), len(v))
		case []string:
			for _, f := range v {
				if err = frame(unsafe.Pointer(unsafe.StringData(f)), len(f)); err != nil {
					break
				}
			}
		case [][]byte:
			for _, f := range v {
				if err = frame(unsafe.Pointer(unsafe.SliceData(f)), len(f)); err != nil {
					break
				}
			}
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// send hands size bytes at p to zmq_send, which copies them before it
// returns: the Go memory is only borrowed for the call, as cgo allows.
func (s *Socket) send(p unsafe.Pointer, size int, flags Flag) (int, error) {
	if s.ptr == nil {
		return 0, ErrClosed
	}
	for {
		rc, err := C.zmqx_send(s.ptr, p, C.size_t(size), C.int(flags))
		if rc >= 0 {
			return int(rc), nil
		}
		// EINTR: nothing was queued; send the frame again.
		if e := errnoOf(err); e != EINTR {
			return 0, e
		}
	}
}

// RecvBytes receives one frame; GetRcvmore then tells whether more of its
// message follow. It blocks until one comes, unless flags has DONTWAIT
// (EAGAIN when none is there).
func (s *Socket) RecvBytes(flags Flag) ([]byte, error) {
	if s.ptr == nil {
		return nil, ErrClosed
	}
	for {
		rc, err := C.zmqx_recv(s.ptr, s.rx, C.int(flags))
		if rc == 0 {
			break
		}
		if e := errnoOf(err); e != EINTR {
			return nil, e
		}
	}
	// Copy out of libzmq's buffer, then give it back.
	b := make([]byte, int(s.rx.size))
	copy(b, unsafe.Slice((*byte)(s.rx.data), len(b)))
	s.more = s.rx.more != 0
	C.zmqx_frame_close(s.rx)
	return b, nil
}

// RecvMessageBytes receives a whole multipart message: the first frame as
// flags say, the rest blocking (libzmq delivers a message's frames
// together, so they are there already). On an error it returns no frames.
func (s *Socket) RecvMessageBytes(flags Flag) ([][]byte, error) {
	var msg [][]byte
	for {
		b, err := s.RecvBytes(flags)
		if err != nil {
			return nil, err
		}
		msg = append(msg, b)
		if !s.more {
			return msg, nil
		}
		flags &^= DONTWAIT
	}
}

// RecvMessage is RecvMessageBytes with the frames as strings.
func (s *Socket) RecvMessage(flags Flag) ([]string, error) {
	frames, err := s.RecvMessageBytes(flags)
	if err != nil {
		return nil, err
	}
	msg := make([]string, len(frames))
	for i, f := range frames {
		msg[i] = string(f)
	}
	return msg, nil
}
