// The C side of package zmq: libzmq's entry points, resolved with dlsym
// when first needed (zmqx_open), and thin wrappers that call through them,
// since Go cannot call a C function pointer directly.
//
// zmq.h is included for its types and constants only: nothing here refers
// to a libzmq symbol, so the Go binary gets no DT_NEEDED entry for libzmq.

#ifndef ZMQX_SHIM_H
#define ZMQX_SHIM_H

#include <stddef.h>
#include <zmq.h>

// zmqx_lib is libzmq's function table.
typedef struct {
	void *handle;
	void *(*ctx_new)(void);
	int (*ctx_term)(void *ctx);
	void *(*socket)(void *ctx, int type);
	int (*close)(void *s);
	int (*bind)(void *s, const char *addr);
	int (*connect)(void *s, const char *addr);
	int (*setsockopt)(void *s, int opt, const void *val, size_t len);
	int (*getsockopt)(void *s, int opt, void *val, size_t *len);
	int (*send)(void *s, const void *buf, size_t len, int flags);
	int (*msg_init)(zmq_msg_t *msg);
	int (*msg_recv)(zmq_msg_t *msg, void *s, int flags);
	void *(*msg_data)(zmq_msg_t *msg);
	size_t (*msg_size)(const zmq_msg_t *msg);
	int (*msg_more)(const zmq_msg_t *msg);
	int (*msg_close)(zmq_msg_t *msg);
	int (*poll)(zmq_pollitem_t *items, int n, long timeout);
	int (*has)(const char *capability);
	int (*curve_keypair)(char *public_z85, char *secret_z85);
	int (*curve_public)(char *public_z85, const char *secret_z85);
	void (*version)(int *major, int *minor, int *patch);
} zmqx_lib;

// zmqx is the process's table, filled once by the Go side (sync.Once)
// before any wrapper below runs.
extern zmqx_lib zmqx;

// zmqx_open results.
enum { ZMQX_OK = 0, ZMQX_NOLIB = 1, ZMQX_NOSYM = 2 };

// zmqx_open dlopens name and resolves every entry point into *lib, which
// it writes only when all were found. On failure it copies dlerror's text
// into err (errlen bytes, NUL-terminated) while still on the same thread.
int zmqx_open(const char *name, zmqx_lib *lib, char *err, size_t errlen);

// zmqx_frame is a socket's receive slot: libzmq's message (which wants
// pointer alignment, which Go memory would not promise for a byte array)
// and what the last zmqx_recv found in it. It lives in C memory.
typedef struct {
	zmq_msg_t msg;
	void *data;
	size_t size;
	int more;
} zmqx_frame;

// zmqx_recv receives one frame into f. On success (0) f->msg stays open,
// for the caller to copy f->data and then call zmqx_frame_close; on
// failure (-1, errno set) nothing is left open.
int zmqx_recv(void *s, zmqx_frame *f, int flags);
void zmqx_frame_close(zmqx_frame *f);

void *zmqx_ctx_new(void);
int zmqx_ctx_term(void *ctx);
void *zmqx_socket(void *ctx, int type);
int zmqx_close(void *s);
int zmqx_bind(void *s, const char *addr);
int zmqx_connect(void *s, const char *addr);
int zmqx_setsockopt(void *s, int opt, const void *val, size_t len);
int zmqx_setsockopt_int(void *s, int opt, int val);
int zmqx_setsockopt_int64(void *s, int opt, long long val);
int zmqx_getsockopt(void *s, int opt, void *val, size_t *len);
int zmqx_send(void *s, const void *buf, size_t len, int flags);
int zmqx_poll(zmq_pollitem_t *items, int n, long timeout);
int zmqx_has(const char *capability);
int zmqx_curve_keypair(char *public_z85, char *secret_z85);
int zmqx_curve_public(char *public_z85, const char *secret_z85);
void zmqx_version(int *major, int *minor, int *patch);

#endif
