package zmq

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// libName is libzmq's soname (Debian 12: package libzmq5).
const libName = "libzmq.so.5"

// ErrUnavailable is wrapped by every constructor's error when libzmq
// cannot be loaded.
var ErrUnavailable = errors.New("zmq: libzmq unavailable")

// lib is the package's one piece of global state, beside the C table it
// guards: a dlopen'd library is process-wide by nature (dlopen hands every
// caller the same mapping), so the handle and the function table (C.zmqx,
// which the C wrappers call through) are loaded once and never changed
// after. The sync.Once orders the table's writes before every wrapper
// call that follows a load().
var lib struct {
	once sync.Once
	err  error
}

// load makes sure libzmq is loaded; every path into the C wrappers starts
// from a function that called it (a Socket only comes from a Context).
func load() error {
	lib.once.Do(func() {
		var table C.zmqx_lib
		if table, lib.err = open(libName); lib.err == nil {
			C.zmqx = table
		}
	})
	return lib.err
}

// Load loads libzmq now (every call after the first returns at once with
// the first's result): a one-shot command can pay the ~10 ms of mapping
// it and its dependencies in the background, while it does other work,
// instead of at its first socket.
func Load() error { return load() }

// open loads the library name and returns its function table. Split from
// load so that tests can try a library that is missing or is not libzmq.
func open(name string) (C.zmqx_lib, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var table C.zmqx_lib
	var msg [512]C.char
	switch C.zmqx_open(cname, &table, &msg[0], C.size_t(len(msg))) {
	case C.ZMQX_OK:
		return table, nil
	case C.ZMQX_NOLIB:
		return table, fmt.Errorf("%w: %s not found: install libzmq5 (%s)", ErrUnavailable, name, C.GoString(&msg[0]))
	default:
		return table, fmt.Errorf("%w: %s is not libzmq 4.3 or later (%s)", ErrUnavailable, name, C.GoString(&msg[0]))
	}
}
