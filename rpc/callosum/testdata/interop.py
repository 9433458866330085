"""Speaks Callosum's framing to a Go server, as the manager's DEALER does.

Usage:
  interop.py mkcerts DIR         write agent and manager certificates (pyzmq)
  interop.py call ADDR [DIR]     run the checks against tcp://ADDR (CURVE
                                 with the certificates in DIR when given)

Exits 0 when every check passes; otherwise prints what differed.
"""

import os
import sys

import msgpack
import zmq
import zmq.auth


def pack(v):
    # callosum.serialize.mpackb
    return msgpack.packb(v, use_bin_type=True)


def unpack(b):
    # callosum.serialize.munpackb
    return msgpack.unpackb(b, raw=False, use_list=False)


def header(msgtype, meth, seq):
    return pack({"type": msgtype, "meth": meth, "okey": b"", "seq": seq, "zip": False})


def recv(sock, what):
    if not sock.poll(5000):
        raise SystemExit(f"{what}: no reply within 5 s")
    return sock.recv_multipart()


def call(sock, meth, seq, args):
    body = pack({"args": args, "kwargs": {"agent_id": None}})
    sock.send_multipart([b"UPPER", header(1, meth, seq), pack({"meta": b"", "body": body})])
    return decode(recv(sock, meth), meth, seq)


def decode(frames, meth, seq):
    # callosum.lower.zeromq + callosum.rpc.message.RPCMessage.decode
    zmsg_type, raw_header, raw_body = frames
    check(zmsg_type == b"UPPER", f"{meth}: marker {zmsg_type!r}")
    h = unpack(raw_header)
    check(h["meth"] == meth and h["seq"] == seq and h["okey"] == b"" and h["zip"] is False,
          f"{meth}: header {h!r}")
    data = unpack(raw_body)
    meta = tuple(unpack(data["meta"])) if data["meta"] else None
    return h["type"], meta, data["body"]


def check(cond, msg):
    if not cond:
        raise SystemExit("mismatch: " + msg)


def main():
    if sys.argv[1] == "mkcerts":
        d = sys.argv[2]
        zmq.auth.create_certificates(d, "agent")
        zmq.auth.create_certificates(d, "manager")
        return
    addr = sys.argv[2]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 100)
    if len(sys.argv) > 3:
        d = sys.argv[3]
        agent_pub, _ = zmq.auth.load_certificate(os.path.join(d, "agent.key"))
        mgr_pub, mgr_sec = zmq.auth.load_certificate(os.path.join(d, "manager.key_secret"))
        sock.zap_domain = b"local"
        sock.setsockopt(zmq.CURVE_SERVERKEY, agent_pub)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, mgr_pub)
        sock.setsockopt(zmq.CURVE_SECRETKEY, mgr_sec)
    sock.connect(f"tcp://{addr}")

    # The connector's handshake.
    sock.send_multipart([b"PING", b"", b""])
    check(recv(sock, "PING") == [b"PONG", b"", b""], "PONG")

    typ, meta, body = call(sock, "echo", 0, ("hi",))
    check(typ == 2 and meta == () and unpack(body) == {"args": ("hi",), "kwargs": {"agent_id": None}},
          f"echo: {typ} {meta!r} {body!r}")

    typ, meta, body = call(sock, "none", 1, ())
    check(typ == 2 and unpack(body) is None, f"none: {typ} {body!r}")

    typ, meta, body = call(sock, "fail", 2, ())
    check(typ == 3 and body is None, f"fail: {typ} {body!r}")
    name, rep, tb = meta
    check(name == "InsufficientResource" and rep.startswith("InsufficientResource(")
          and tb.startswith("Traceback"), f"fail meta {meta!r}")

    typ, meta, body = call(sock, "no_such_method", 3, ())
    check(typ == 4 and meta[0] == "KeyError", f"unknown: {typ} {meta!r}")

    # A client-side timeout: CANCEL (meta packb([]), body None) -> CANCELLED.
    sock.send_multipart([b"UPPER", header(1, "block", 4), pack({"meta": b"", "body": pack(None)})])
    sock.send_multipart([b"UPPER", header(5, "block", 4), pack({"meta": pack([]), "body": None})])
    typ, meta, body = decode(recv(sock, "cancel"), "block", 4)
    check(typ == 6 and meta == () and body is None, f"cancel: {typ} {meta!r} {body!r}")

    sock.close()
    ctx.term()
    print("interop ok")


main()
