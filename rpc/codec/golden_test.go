package codec

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestGolden decodes every fixture written by real Python
// (testdata/gen_fixtures.py) and compares it with the value the generator
// describes, then encodes it (and the described value) again.
//
// Re-encoding must give the fixture's bytes back wherever upstream's
// encoding is canonical: msgpack-python always picks the shortest form,
// dicts keep their order (DecodeOrdered), and CPython's pickles of these
// classes are fixed by their values, except for memo sharing that depends
// on object identity. Fixtures with "canonical": false say why not (a
// shared string object, an older pickle protocol); for them the encoding
// must differ and decode to the same value.
func TestGolden(t *testing.T) {
	for _, f := range loadFixtures(t) {
		t.Run(f.Name, func(t *testing.T) {
			data := f.bytes(t)
			if f.Error != "" {
				checkGoldenError(t, f, data)
				return
			}
			got, err := DecodeOrdered(data)
			if err != nil {
				t.Fatalf("DecodeOrdered: %v", err)
			}
			want, err := expected(f.Value, true)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff("value", want, got); d != "" {
				t.Fatalf("DecodeOrdered: %s", d)
			}
			checkGoldenUnordered(t, f, data)
			if fromWant, err := Encode(want); err != nil || (f.Canonical && !bytes.Equal(fromWant, data)) {
				t.Fatalf("Encode(described value) = %x, %v; want the fixture's bytes", fromWant, err)
			}
			enc, err := Encode(got)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			switch {
			case f.Canonical && !bytes.Equal(enc, data):
				t.Fatalf("re-encoded bytes differ\nwant %x\ngot  %x", data, enc)
			case !f.Canonical && bytes.Equal(enc, data):
				t.Fatalf("marked non-canonical (%s) but re-encodes identically", f.Why)
			}
			again, err := DecodeOrdered(enc)
			if err != nil {
				t.Fatalf("decode re-encoded: %v", err)
			}
			if d := diff("re-decoded", want, again); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// checkGoldenUnordered decodes into Go maps; fixtures with keys a Go map
// cannot hold (bin, array) must fail.
func checkGoldenUnordered(t *testing.T, f fixture, data []byte) {
	t.Helper()
	want, err := expected(f.Value, false)
	got, derr := Decode(data)
	if errors.Is(err, errGoKey) {
		if derr == nil || !strings.Contains(derr.Error(), "cannot key a Go map") {
			t.Fatalf("Decode: want an error about Go map keys, got %v", derr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if derr != nil {
		t.Fatalf("Decode: %v", derr)
	}
	if d := diff("value", want, got); d != "" {
		t.Fatalf("Decode: %s", d)
	}
}

func checkGoldenError(t *testing.T, f fixture, data []byte) {
	t.Helper()
	for _, decode := range []func([]byte) (any, error){Decode, DecodeOrdered} {
		v, err := decode(data)
		if err == nil {
			t.Fatalf("decoded to %#v, want error %q", v, f.Error)
		}
		if !strings.Contains(err.Error(), f.Error) {
			t.Fatalf("error %q does not contain %q", err, f.Error)
		}
		if strings.Contains(f.Error, "forbidden") && !errors.Is(err, ErrForbiddenClass) {
			t.Fatalf("error %q is not ErrForbiddenClass", err)
		}
	}
}
