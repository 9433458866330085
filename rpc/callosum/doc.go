// Package callosum is the transport of the manager's RPC: Callosum's RPC
// framing over a ZeroMQ ROUTER socket, with optional CURVE encryption and a
// ZAP handler that admits only the manager's key.
//
// # Frames
//
// A DEALER (the manager's PeerInvoker) sends three frames; the ROUTER puts
// the peer's routing id in front:
//
//	[peer_id, "UPPER", header, body]   a Callosum RPC message
//	[peer_id, "PING", x, y]            answered by [peer_id, "PONG", x, y]
//
// Replies carry the same shape back to the peer. Anything else is dropped
// and counted (see [Stats]), never answered.
//
// The header is a msgpack map {"type", "meth", "okey", "seq", "zip"}; the
// body a msgpack map {"meta", "body"} (raw snappy of that map when zip is
// true). "okey" and "seq" are echoed back as received. meta is empty for
// FUNCTION, msgpack [] for RESULT and CANCELLED, and msgpack
// [exc_name, repr, traceback] for FAILURE and ERROR. "body" holds the
// Backend.AI-serialized arguments of a FUNCTION and value of a RESULT; this
// package passes it through as opaque bytes.
//
// # Concurrency
//
// One goroutine owns the ROUTER socket (and the ZAP socket): it reads,
// answers PINGs, starts one goroutine per FUNCTION and writes every reply.
// Handlers hand their results back through a mailbox whose wake-up travels
// over an inproc socket, so no ZeroMQ socket is ever used by two goroutines.
package callosum
