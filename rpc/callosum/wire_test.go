package callosum

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/klauspost/compress/snappy"
)

// Bytes written by Python's msgpack.packb(..., use_bin_type=True), as
// callosum.serialize.mpackb does, for the dicts named in each case.
func TestHeaderMatchesPython(t *testing.T) {
	tests := []struct {
		name   string
		h      header
		python string
	}{
		{
			// {"type":1,"meth":"ping","okey":b"","seq":0,"zip":False}
			"function", header{typ: TypeFunction, method: "ping"},
			"85a47479706501a46d657468a470696e67a46f6b6579c400a373657100a37a6970c2",
		},
		{
			// {"type":2,"meth":"create_kernels","okey":b"","seq":4294967295,"zip":False}
			"result max seq", header{typ: TypeResult, method: "create_kernels", seq: 1<<32 - 1},
			"85a47479706502a46d657468ae6372656174655f6b65726e656c73a46f6b6579c400a3736571ceffffffffa37a6970c2",
		},
		{
			// {"type":6,"meth":"m","okey":"k1","seq":300,"zip":True}
			"str okey", header{typ: TypeCancelled, method: "m", okey: orderKey{v: "k1", isStr: true}, seq: 300, zip: true},
			"85a47479706506a46d657468a16da46f6b6579a26b31a3736571cd012ca37a6970c3",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			py, _ := hex.DecodeString(tc.python)
			if got := encodeHeader(tc.h); !bytes.Equal(got, py) {
				t.Errorf("encodeHeader = %x\nPython        %x", got, py)
			}
			got, err := decodeHeader(py)
			if err != nil || got != tc.h {
				t.Errorf("decodeHeader = %+v, %v; want %+v", got, err, tc.h)
			}
		})
	}
}

func TestBodyMatchesPython(t *testing.T) {
	tests := []struct {
		name       string
		meta, body []byte
		python     string
	}{
		// {"meta": b"", "body": packb({"args": ("hi",), "kwargs": {}})}
		{"function", []byte{}, mustHex("82a46172677391a26869a66b776172677380"),
			"82a46d657461c400a4626f6479c41282a46172677391a26869a66b776172677380"},
		// {"meta": packb([]), "body": packb("hi")}
		{"result", []byte{0x90}, mustHex("a26869"), "82a46d657461c40190a4626f6479c403a26869"},
		// {"meta": packb([]), "body": None}
		{"cancelled", []byte{0x90}, nil, "82a46d657461c40190a4626f6479c0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			py := mustHex(tc.python)
			if got := encodeBody(tc.meta, tc.body); !bytes.Equal(got, py) {
				t.Errorf("encodeBody = %x\nPython      %x", got, py)
			}
			meta, body, err := decodeBody(py, false, 1<<20)
			if err != nil || !bytes.Equal(meta, tc.meta) || !bytes.Equal(body, tc.body) || (body == nil) != (tc.body == nil) {
				t.Errorf("decodeBody = %x, %x, %v", meta, body, err)
			}
		})
	}
}

func TestErrorMetaMatchesPython(t *testing.T) {
	// packb(("InsufficientResource", "InsufficientResource('no')", "Traceback...\n"))
	py := mustHex("93b4496e73756666696369656e745265736f75726365ba496e73756666696369656e745265736f7572636528276e6f2729ad54726163656261636b2e2e2e0a")
	if got := encodeErrorMeta("InsufficientResource", "InsufficientResource('no')", "Traceback...\n"); !bytes.Equal(got, py) {
		t.Errorf("encodeErrorMeta = %x\nPython          %x", got, py)
	}
	name, repr, tb, err := decodeErrorMeta(py)
	if err != nil || name != "InsufficientResource" || repr != "InsufficientResource('no')" || tb != "Traceback...\n" {
		t.Errorf("decodeErrorMeta = %q %q %q %v", name, repr, tb, err)
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	ok := func(kv ...any) []byte {
		base := map[string]any{"type": 1, "meth": "m", "okey": []byte{}, "seq": 1, "zip": false}
		for i := 0; i < len(kv); i += 2 {
			base[kv[i].(string)] = kv[i+1]
		}
		var out []any
		for _, k := range []string{"type", "meth", "okey", "seq", "zip"} {
			if v, ok := base[k]; ok && v != "omit" {
				out = append(out, k, v)
			}
		}
		return pack(t, out...)
	}
	tests := map[string][]byte{
		"empty":              {},
		"not a map":          {0x93, 1, 2, 3},
		"nil":                {0xc0},
		"garbage":            []byte("hello world"),
		"truncated":          ok()[:10],
		"trailing bytes":     append(ok(), 0xc0),
		"type str":           ok("type", "1"),
		"type negative":      ok("type", -1),
		"type unknown":       ok("type", 7),
		"type float":         ok("type", 1.0),
		"meth int":           ok("meth", 3),
		"meth bin":           ok("meth", []byte("m")),
		"okey int":           ok("okey", 0),
		"okey nil":           ok("okey", nil),
		"seq negative":       ok("seq", -1),
		"seq too big":        ok("seq", int64(1)<<32),
		"seq str":            ok("seq", "1"),
		"zip int":            ok("zip", 0),
		"no zip":             ok("zip", "omit"),
		"no seq":             ok("seq", "omit"),
		"int key":            pack(t, 1, 1, "meth", "m", "okey", []byte{}, "seq", 1, "zip", false),
		"huge str len":       {0x81, 0xdb, 0x7f, 0xff, 0xff, 0xff},
		"huge map len":       {0xdf, 0x7f, 0xff, 0xff, 0xff, 0xa1, 'x'},
		"huge ext":           append([]byte{0x86, 0xa1, 'x', 0xc9, 0x7f, 0xff, 0xff, 0xff, 1}, ok()[1:]...),
		"unfinished nesting": append(append([]byte{0x86, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 1<<16)...), ok()[1:]...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if h, err := decodeHeader(b); !errors.Is(err, errMalformed) {
				t.Errorf("decodeHeader(%x) = %+v, %v; want errMalformed", b, h, err)
			}
		})
	}
	if _, err := decodeHeader(ok()); err != nil {
		t.Errorf("control case: %v", err)
	}
	// Unknown keys are skipped, as Python's dict lookups ignore them, and
	// skipping does not recurse.
	extra := pack(t, "type", 1, "meth", "m", "okey", []byte{}, "seq", 1, "zip", false, "x", []any{1, "y", map[string]any{"z": []byte("w")}})
	if _, err := decodeHeader(extra); err != nil {
		t.Errorf("extra key: %v", err)
	}
	deep := append([]byte{0x86, 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 1<<20)...)
	deep = append(append(deep, 0xc0), ok()[1:]...)
	if _, err := decodeHeader(deep); err != nil {
		t.Errorf("deeply nested extra key: %v", err)
	}
}

func TestDecodeBodyRejects(t *testing.T) {
	tests := map[string][]byte{
		"empty":        {},
		"not a map":    {0x90},
		"no body":      pack(t, "meta", []byte{}),
		"no meta":      pack(t, "body", []byte{}),
		"meta int":     pack(t, "meta", 1, "body", []byte{}),
		"body map":     pack(t, "meta", []byte{}, "body", map[string]any{}),
		"trailing":     append(pack(t, "meta", []byte{}, "body", nil), 0),
		"truncated":    pack(t, "meta", []byte{}, "body", []byte("abcdef"))[:12],
		"huge bin len": {0x82, 0xa4, 'm', 'e', 't', 'a', 0xc6, 0x7f, 0xff, 0xff, 0xff},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := decodeBody(b, false, 1<<20); !errors.Is(err, errMalformed) {
				t.Errorf("decodeBody(%x) = %v, want errMalformed", b, err)
			}
		})
	}
}

func TestDecodeBodySnappy(t *testing.T) {
	plain := pack(t, "meta", []byte{}, "body", bytes.Repeat([]byte("x"), 4000))
	zipped := snappy.Encode(nil, plain)
	_, body, err := decodeBody(zipped, true, 1<<20)
	if err != nil || len(body) != 4000 {
		t.Fatalf("decodeBody(snappy) = %d bytes, %v", len(body), err)
	}
	if _, _, err := decodeBody(zipped, true, 1000); !errors.Is(err, errOversized) {
		t.Errorf("over the limit: %v, want errOversized", err)
	}
	if _, _, err := decodeBody([]byte("not snappy at all"), true, 1<<20); !errors.Is(err, errMalformed) {
		t.Errorf("bad snappy: %v, want errMalformed", err)
	}
}

// Expectations are Python 3.11's repr() of the same strings.
func TestPyRepr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "'plain'"},
		{"it's", `"it's"`},
		{"both ' and \"", `'both \' and "'`},
		{"tab\there\nnl\\\\", `'tab\there\nnl\\\\'`},
		{"\x00\x7f\u0080\u00a0", `'\x00\x7f\x80\xa0'`},
		{"한글 ok", "'한글 ok'"},
		{"\u200b", `'\u200b'`},
		{"\U0001F600", "'\U0001F600'"},
		{"\U000E0001", `'\U000e0001'`},
		{"cr\r", `'cr\r'`},
	}
	for _, tc := range tests {
		if got := pyRepr(tc.in); got != tc.want {
			t.Errorf("pyRepr(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestEndpoint(t *testing.T) {
	tests := []struct {
		in, want string
		ipv6     bool
		bad      bool
	}{
		{in: "0.0.0.0:6001", want: "tcp://0.0.0.0:6001"},
		{in: "127.0.0.1:0", want: "tcp://127.0.0.1:*"},
		{in: "tcp://10.0.0.1:6001", want: "tcp://10.0.0.1:6001"},
		{in: ":6001", want: "tcp://*:6001"},
		{in: "[::1]:6001", want: "tcp://[::1]:6001", ipv6: true},
		{in: "ipc:///tmp/x", bad: true},
		{in: "localhost", bad: true},
		{in: "host:70000", bad: true},
		{in: "host:http", bad: true},
	}
	for _, tc := range tests {
		got, ipv6, err := endpoint(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("endpoint(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want || ipv6 != tc.ipv6 {
			t.Errorf("endpoint(%q) = %q, %v, %v; want %q, %v", tc.in, got, ipv6, err, tc.want, tc.ipv6)
		}
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(mustHex("85a47479706501a46d657468a470696e67a46f6b6579c400a373657100a37a6970c2"))
	f.Add(mustHex("85a47479706506a46d657468a16da46f6b6579a26b31a3736571cd012ca37a6970c3"))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v is not errMalformed", err)
			}
			return
		}
		again, err := decodeHeader(encodeHeader(h))
		if err != nil || again != h {
			t.Fatalf("round trip of %+v: %+v, %v", h, again, err)
		}
	})
}

func FuzzDecodeBody(f *testing.F) {
	f.Add(mustHex("82a46d657461c400a4626f6479c41282a46172677391a26869a66b776172677380"), false)
	f.Add(mustHex("82a46d657461c40190a4626f6479c0"), false)
	f.Add(snappy.Encode(nil, mustHex("82a46d657461c40190a4626f6479c0")), true)
	f.Fuzz(func(t *testing.T, b []byte, zip bool) {
		_, _, err := decodeBody(b, zip, 1<<16)
		if err != nil && !errors.Is(err, errMalformed) && !errors.Is(err, errOversized) {
			t.Fatalf("error %v is neither malformed nor oversized", err)
		}
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
