// See shim.h. Built by cgo with the Go files of package zmq.

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shim.h"

zmqx_lib zmqx;

static void zmqx_dlerror(char *err, size_t errlen)
{
	const char *e = dlerror();
	snprintf(err, errlen, "%s", e != NULL ? e : "unknown dlerror");
}

int zmqx_open(const char *name, zmqx_lib *lib, char *err, size_t errlen)
{
	zmqx_lib l;
	memset(&l, 0, sizeof l);
	// RTLD_LOCAL: libzmq's own dependencies (libstdc++, libsodium...)
	// stay out of the global namespace the Go binary resolves against.
	l.handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	if (l.handle == NULL) {
		zmqx_dlerror(err, errlen);
		return ZMQX_NOLIB;
	}
#define ZMQX_SYM(field, symbol)                                         \
	do {                                                            \
		dlerror();                                              \
		void *p = dlsym(l.handle, symbol);                      \
		if (p == NULL) {                                        \
			zmqx_dlerror(err, errlen);                      \
			dlclose(l.handle);                              \
			return ZMQX_NOSYM;                              \
		}                                                       \
		l.field = (__typeof__(l.field))(uintptr_t)p;            \
	} while (0)
	ZMQX_SYM(ctx_new, "zmq_ctx_new");
	ZMQX_SYM(ctx_term, "zmq_ctx_term");
	ZMQX_SYM(socket, "zmq_socket");
	ZMQX_SYM(close, "zmq_close");
	ZMQX_SYM(bind, "zmq_bind");
	ZMQX_SYM(connect, "zmq_connect");
	ZMQX_SYM(setsockopt, "zmq_setsockopt");
	ZMQX_SYM(getsockopt, "zmq_getsockopt");
	ZMQX_SYM(send, "zmq_send");
	ZMQX_SYM(msg_init, "zmq_msg_init");
	ZMQX_SYM(msg_recv, "zmq_msg_recv");
	ZMQX_SYM(msg_data, "zmq_msg_data");
	ZMQX_SYM(msg_size, "zmq_msg_size");
	ZMQX_SYM(msg_more, "zmq_msg_more");
	ZMQX_SYM(msg_close, "zmq_msg_close");
	ZMQX_SYM(poll, "zmq_poll");
	ZMQX_SYM(has, "zmq_has");
	ZMQX_SYM(curve_keypair, "zmq_curve_keypair");
	ZMQX_SYM(curve_public, "zmq_curve_public");
	ZMQX_SYM(version, "zmq_version");
#undef ZMQX_SYM
	*lib = l;
	return ZMQX_OK;
}

int zmqx_recv(void *s, zmqx_frame *f, int flags)
{
	if (zmqx.msg_init(&f->msg) != 0)
		return -1;
	if (zmqx.msg_recv(&f->msg, s, flags) < 0) {
		int e = errno; // zmq_msg_close may overwrite it
		zmqx.msg_close(&f->msg);
		errno = e;
		return -1;
	}
	f->data = zmqx.msg_data(&f->msg);
	f->size = zmqx.msg_size(&f->msg);
	f->more = zmqx.msg_more(&f->msg);
	return 0;
}

void zmqx_frame_close(zmqx_frame *f)
{
	zmqx.msg_close(&f->msg);
	f->data = NULL;
	f->size = 0;
}

void *zmqx_ctx_new(void) { return zmqx.ctx_new(); }
int zmqx_ctx_term(void *ctx) { return zmqx.ctx_term(ctx); }
void *zmqx_socket(void *ctx, int type) { return zmqx.socket(ctx, type); }
int zmqx_close(void *s) { return zmqx.close(s); }
int zmqx_bind(void *s, const char *addr) { return zmqx.bind(s, addr); }
int zmqx_connect(void *s, const char *addr) { return zmqx.connect(s, addr); }

int zmqx_setsockopt(void *s, int opt, const void *val, size_t len)
{
	return zmqx.setsockopt(s, opt, val, len);
}

int zmqx_setsockopt_int(void *s, int opt, int val)
{
	return zmqx.setsockopt(s, opt, &val, sizeof val);
}

int zmqx_setsockopt_int64(void *s, int opt, long long val)
{
	int64_t v = (int64_t)val;
	return zmqx.setsockopt(s, opt, &v, sizeof v);
}

int zmqx_getsockopt(void *s, int opt, void *val, size_t *len)
{
	return zmqx.getsockopt(s, opt, val, len);
}

int zmqx_send(void *s, const void *buf, size_t len, int flags)
{
	return zmqx.send(s, buf, len, flags);
}

int zmqx_poll(zmq_pollitem_t *items, int n, long timeout)
{
	return zmqx.poll(items, n, timeout);
}

int zmqx_has(const char *capability) { return zmqx.has(capability); }

int zmqx_curve_keypair(char *public_z85, char *secret_z85)
{
	return zmqx.curve_keypair(public_z85, secret_z85);
}

int zmqx_curve_public(char *public_z85, const char *secret_z85)
{
	return zmqx.curve_public(public_z85, secret_z85);
}

void zmqx_version(int *major, int *minor, int *patch)
{
	zmqx.version(major, minor, patch);
}
