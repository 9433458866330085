package codec

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to both decoders. They must not panic;
// whatever decodes and encodes must then be stable: decoding the encoding
// and encoding again gives the same bytes.
func FuzzDecode(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.bytes(f))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Decode(data)
		v, err := DecodeOrdered(data)
		if err != nil {
			return
		}
		enc, err := Encode(v)
		if err != nil {
			return
		}
		again, err := DecodeOrdered(enc)
		if err != nil {
			t.Fatalf("decode own encoding % x: %v", enc, err)
		}
		enc2, err := Encode(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: % x then % x, %v", enc, enc2, err)
		}
	})
}

// FuzzPickle feeds arbitrary bytes to the pickle machine, seeded with
// every pickle in the fixtures. It must not panic; what it accepts must
// pickle and unpickle to the same value.
func FuzzPickle(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		_, _ = decode(fx.bytes(f), true, func(code int8, data []byte) {
			switch code {
			case ExtDecimal, ExtEnum, ExtImageRef, ExtResourceSlot, ExtSlotName, ExtBinarySize:
				f.Add(append([]byte{}, data...))
			}
		})
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unpickle(data)
		if err != nil {
			return
		}
		p, err := Pickle(v)
		if err != nil {
			return
		}
		again, err := Unpickle(p)
		if err != nil {
			t.Fatalf("unpickle own pickle % x: %v", p, err)
		}
		if d := diff("value", v, again); d != "" {
			t.Fatal(d)
		}
		if p2, err := Pickle(again); err != nil || !bytes.Equal(p, p2) {
			t.Fatalf("pickle not stable: % x then % x, %v", p, p2, err)
		}
	})
}
