package callosum

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/klauspost/compress/snappy"
	"github.com/vmihailenco/msgpack/v5"
)

// MsgType is the "type" field of a Callosum RPC header.
type MsgType uint8

// Callosum's message types (callosum.rpc.message.RPCMessageTypes).
const (
	TypeNull      MsgType = 0 // nothing
	TypeFunction  MsgType = 1 // a call
	TypeResult    MsgType = 2 // a call's return value
	TypeFailure   MsgType = 3 // the handler raised
	TypeError     MsgType = 4 // the framework failed (e.g. an unknown method)
	TypeCancel    MsgType = 5 // the caller gave up
	TypeCancelled MsgType = 6 // the callee stopped the call
)

var typeNames = [...]string{"NULL", "FUNCTION", "RESULT", "FAILURE", "ERROR", "CANCEL", "CANCELLED"}

// String returns the upstream name of t.
func (t MsgType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Frame markers: the frame before the header.
const (
	markUpper = "UPPER"
	markPing  = "PING"
	markPong  = "PONG"
)

// errMalformed marks a message that does not follow Callosum's framing.
var errMalformed = errors.New("malformed message")

// Fixed metadata encodings.
var (
	metaEmptyList = []byte{0x90} // msgpack [] (RESULT, CANCEL, CANCELLED)
	packedNil     = []byte{0xc0} // msgpack nil: a RESULT body standing for None
)

// orderKey is the header's "okey", kept with its msgpack kind so that it
// is echoed back exactly (Python sends bytes, b"" in practice).
type orderKey struct {
	v     string
	isStr bool
}

// header is a decoded Callosum RPC header.
type header struct {
	typ    MsgType
	method string
	okey   orderKey
	seq    uint32
	zip    bool
}

// malformed wraps errMalformed with a reason.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// decodeHeader parses a header frame strictly: a map holding the five
// fields with their types, no trailing bytes. Unknown keys are skipped.
func decodeHeader(b []byte) (header, error) {
	var h header
	r := newReader(b)
	n, err := r.mapLen()
	if err != nil {
		return h, malformed("header: %v", err)
	}
	const (
		hasType = 1 << iota
		hasMeth
		hasOkey
		hasSeq
		hasZip
		hasAll = hasType | hasMeth | hasOkey | hasSeq | hasZip
	)
	seen := 0
	for range n {
		key, err := r.str()
		if err != nil {
			return h, malformed("header key: %v", err)
		}
		switch key {
		case "type":
			v, err := r.uint(uint64(TypeCancelled))
			if err != nil {
				return h, malformed("header type: %v", err)
			}
			h.typ, seen = MsgType(v), seen|hasType
		case "meth":
			if h.method, err = r.str(); err != nil {
				return h, malformed("header meth: %v", err)
			}
			seen |= hasMeth
		case "okey":
			if h.okey, err = r.orderKey(); err != nil {
				return h, malformed("header okey: %v", err)
			}
			seen |= hasOkey
		case "seq":
			v, err := r.uint(1<<32 - 1)
			if err != nil {
				return h, malformed("header seq: %v", err)
			}
			h.seq, seen = uint32(v), seen|hasSeq
		case "zip":
			if h.zip, err = r.bool(); err != nil {
				return h, malformed("header zip: %v", err)
			}
			seen |= hasZip
		default:
			if err := r.skip(); err != nil {
				return h, malformed("header %q: %v", key, err)
			}
		}
	}
	if seen != hasAll {
		return h, malformed("header lacks a field")
	}
	if r.rest() != 0 {
		return h, malformed("header: %d trailing bytes", r.rest())
	}
	return h, nil
}

// encodeHeader writes h as upstream does: a five-entry map.
func encodeHeader(h header) []byte {
	var buf bytes.Buffer
	buf.Grow(48 + len(h.method) + len(h.okey.v))
	e := msgpack.NewEncoder(&buf)
	// Writes to a bytes.Buffer do not fail.
	_ = e.EncodeMapLen(5)
	_ = e.EncodeString("type")
	_ = e.EncodeUint(uint64(h.typ))
	_ = e.EncodeString("meth")
	_ = e.EncodeString(h.method)
	_ = e.EncodeString("okey")
	if h.okey.isStr {
		_ = e.EncodeString(h.okey.v)
	} else {
		_ = e.EncodeBytes([]byte(h.okey.v))
	}
	_ = e.EncodeString("seq")
	_ = e.EncodeUint(uint64(h.seq))
	_ = e.EncodeString("zip")
	_ = e.EncodeBool(h.zip)
	return buf.Bytes()
}

// decodeBody parses a body frame (after snappy when zip is set) into its
// meta and body; body is nil when the field is msgpack nil. limit bounds
// the decompressed size.
func decodeBody(b []byte, zip bool, limit int) (meta, body []byte, err error) {
	if zip {
		n, err := snappy.DecodedLen(b)
		if err != nil {
			return nil, nil, malformed("snappy: %v", err)
		}
		if n > limit {
			return nil, nil, fmt.Errorf("%w: %d bytes decompressed, limit %d", errOversized, n, limit)
		}
		if b, err = snappy.Decode(nil, b); err != nil {
			return nil, nil, malformed("snappy: %v", err)
		}
	}
	r := newReader(b)
	n, err := r.mapLen()
	if err != nil {
		return nil, nil, malformed("body: %v", err)
	}
	var hasMeta, hasBody bool
	for range n {
		key, err := r.str()
		if err != nil {
			return nil, nil, malformed("body key: %v", err)
		}
		switch key {
		case "meta":
			if meta, err = r.bin(); err != nil {
				return nil, nil, malformed("body meta: %v", err)
			}
			hasMeta = true
		case "body":
			if body, err = r.bin(); err != nil {
				return nil, nil, malformed("body body: %v", err)
			}
			hasBody = true
		default:
			if err := r.skip(); err != nil {
				return nil, nil, malformed("body %q: %v", key, err)
			}
		}
	}
	if !hasMeta || !hasBody {
		return nil, nil, malformed("body lacks meta or body")
	}
	if r.rest() != 0 {
		return nil, nil, malformed("body: %d trailing bytes", r.rest())
	}
	return meta, body, nil
}

// encodeBody writes {"meta": meta, "body": body}; a nil body is msgpack
// nil, as upstream sends for everything but FUNCTION and RESULT.
func encodeBody(meta, body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(16 + len(meta) + len(body))
	e := msgpack.NewEncoder(&buf)
	_ = e.EncodeMapLen(2)
	_ = e.EncodeString("meta")
	_ = e.EncodeBytes(nonNil(meta))
	_ = e.EncodeString("body")
	if body == nil {
		_ = e.EncodeNil()
	} else {
		_ = e.EncodeBytes(body)
	}
	return buf.Bytes()
}

// nonNil keeps an empty meta a zero-length bin rather than nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// encodeErrorMeta packs [exc_name, repr, traceback].
func encodeErrorMeta(name, repr, traceback string) []byte {
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	_ = e.EncodeArrayLen(3)
	_ = e.EncodeString(name)
	_ = e.EncodeString(repr)
	_ = e.EncodeString(traceback)
	return buf.Bytes()
}

// decodeErrorMeta unpacks [exc_name, repr, traceback]; further items are
// ignored.
func decodeErrorMeta(b []byte) (name, repr, traceback string, err error) {
	r := newReader(b)
	n, err := r.arrayLen()
	if err != nil || n < 3 {
		return "", "", "", malformed("error meta: %d items, %v", n, err)
	}
	var out [3]string
	for i := range out {
		if out[i], err = r.str(); err != nil {
			return "", "", "", malformed("error meta item %d: %v", i, err)
		}
	}
	return out[0], out[1], out[2], nil
}
