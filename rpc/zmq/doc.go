// Package zmq is a small binding of libzmq (ZeroMQ 4.3, Debian's libzmq5)
// that loads the library with dlopen when first used instead of linking
// it.
//
// The agent binary is re-executed by runc's libcontainer at every kernel
// start, and ld.so maps every DT_NEEDED library (libzmq pulls libstdc++,
// libsodium, gssapi/krb5, libpgm, libnorm...) before libcontainer's C
// constructor gets to exec the container's init: linking libzmq would add
// about 10 ms to each kernel start. Here zmq.h supplies types and
// constants only; the functions are resolved with dlsym on the first
// NewContext (or curve helper), so a process that never speaks ZeroMQ never
// maps libzmq, and one without libzmq installed gets ErrUnavailable, not a
// crash.
//
// The API follows the zmq4 Go binding, which it replaces, for the subset
// rpc/callosum uses: Context, Socket (options, multipart send and
// receive), Poller, the CURVE helpers. As in libzmq, a Context is safe for
// concurrent use and a Socket is not: one goroutine at a time owns it.
// Errors from libzmq are Errno values, comparable with errors.Is to the
// constants here (EAGAIN, ETERM...) and to syscall.Errno. Blocking calls
// retry by themselves when a signal interrupts them (EINTR).
package zmq
