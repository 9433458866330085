package codec

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestDecodeRefuses(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x91}, maxDepth+1), 0xc0)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"reserved 0xc1", []byte{0xc1}, "reserved byte 0xc1"},
		{"extra bytes", []byte{0xc0, 0xc0}, "1 extra bytes"},
		{"array32 claims 4G items", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, "array of 4294967295 items"},
		{"map32 claims 4G entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0}, "map of 4294967295 entries"},
		{"bin32 claims 4G bytes", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0x00}, "truncated"},
		{"str8 short", []byte{0xd9, 0x05, 'a'}, "truncated"},
		{"str not UTF-8", []byte{0xa1, 0xff}, "UTF-8"},
		{"ext32 short", []byte{0xc9, 0x00, 0x00, 0x01, 0x00, 0x01}, "truncated"},
		{"float64 short", []byte{0xcb, 0x00}, "truncated"},
		{"deep nesting", deep, "nesting deeper"},
		{"dict as key", []byte{0x81, 0x80, 0xc0}, "unhashable map key of type dict"},
		{"UUID of 15 bytes", append([]byte{0xc7, 15, 1}, make([]byte, 15)...), "want 16"},
		{"msgpack timestamp", []byte{0xd6, 0xff, 0, 0, 0, 0}, "unknown msgpack ext type -1"},
		{"bad datetime", []byte{0xd4, 2, 0x00}, "datetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, decode := range []func([]byte) (any, error){Decode, DecodeOrdered} {
				v, err := decode(tt.in)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %#v, %v; want error containing %q", v, err, tt.want)
				}
			}
		})
	}
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want any
	}{
		{"float32", []byte{0xca, 0x3f, 0xc0, 0x00, 0x00}, 1.5},
		{"uint64 above int64", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint64(1<<64 - 1)},
		{"uint8 as int64", []byte{0xcc, 0xff}, int64(255)},
		{"int8", []byte{0xd0, 0x80}, int64(-128)},
		{"str8 short string", []byte{0xd9, 0x01, 'a'}, "a"},
		{"bin is bytes", []byte{0xc4, 0x01, 'a'}, []byte("a")},
		{"duplicate key keeps last value", []byte{0x82, 0xa1, 'k', 0x01, 0xa1, 'k', 0x02}, map[string]any{"k": int64(2)}},
		{"empty map", []byte{0x80}, map[string]any{}},
		{"True, 1 and 1.0 are one key", []byte{0x83, 0x01, 0xa1, 'a', 0xc3, 0xa1, 'b', 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xa1, 'c'},
			map[any]any{int64(1): "c"}},
		{"UUID keys", append(append([]byte{0x81, 0xd8, 1}, make([]byte, 16)...), 0xc3), map[any]any{UUID{}: true}},
		{"fixext 8 path", []byte{0xd7, 4, '/', 'h', 'o', 'm', 'e', '/', 'a', 'b'}, PosixPath("/home/ab")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff("value", tt.want, got); d != "" {
				t.Fatal(d)
			}
		})
	}
	got, err := DecodeOrdered([]byte{0x83, 0xa1, 'b', 0x01, 0xa1, 'a', 0x02, 0xa1, 'b', 0x03})
	if want := (OrderedMap{{"b", int64(3)}, {"a", int64(2)}}); err != nil || diff("value", want, got) != "" {
		t.Fatalf("DecodeOrdered duplicate keys = %#v, %v; want %#v", got, err, want)
	}
	if v, ok := got.(OrderedMap).Get("a"); !ok || v != int64(2) {
		t.Fatalf("OrderedMap.Get(a) = %v, %v", v, ok)
	}
}

func TestEncodeForms(t *testing.T) {
	project := "p"
	tests := []struct {
		name string
		in   any
		want []byte
	}{
		{"map sorted by key", map[string]any{"b": 1, "a": 2}, []byte{0x82, 0xa1, 'a', 0x02, 0xa1, 'b', 0x01}},
		{"map[any]any: str keys first, others by encoding", map[any]any{int64(6): 3, "a": 1, int64(5): 2},
			[]byte{0x83, 0xa1, 'a', 0x01, 0x05, 0x02, 0x06, 0x03}},
		{"typed map by text", map[string]string{"b": "y", "aa": "z"}, []byte{0x82, 0xa2, 'a', 'a', 0xa1, 'z', 0xa1, 'b', 0xa1, 'y'}},
		{"typed slice", []string{"a"}, []byte{0x91, 0xa1, 'a'}},
		{"array", [2]int8{-1, 1}, []byte{0x92, 0xff, 0x01}},
		{"uint16", uint16(300), []byte{0xcd, 0x01, 0x2c}},
		{"int32 min", int32(-1 << 31), []byte{0xd2, 0x80, 0, 0, 0}},
		{"float32 as float64", float32(1.5), []byte{0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}},
		{"nil pointer", (*int)(nil), []byte{0xc0}},
		{"pointer", &project, []byte{0xa1, 'p'}},
		{"named string", SlotQuantity{}.Slot, []byte{0xa0}},
		{"str8", strings.Repeat("x", 32), append([]byte{0xd9, 32}, strings.Repeat("x", 32)...)},
		{"ext8", PurePosixPath("abc"), []byte{0xc7, 3, 5, 'a', 'b', 'c'}},
		{"UTC datetime", time.Date(1983, 1, 15, 17, 25, 12, 123456000, time.UTC),
			[]byte{0xc7, 9, 2, 0xeb, 0xdf, 0x83, 0xa2, 0xc9, 0x83, 0xc4, 0x81, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x, want % x", got, tt.want)
			}
		})
	}
}

func TestEncodeRefuses(t *testing.T) {
	cycle := []any{nil}
	cycle[0] = cycle
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"struct", struct{ A int }{1}, "cannot encode"},
		{"func", func() {}, "cannot encode"},
		{"invalid UTF-8", "\xff", "UTF-8"},
		{"invalid UTF-8 key", map[string]any{"\xff": 1}, "UTF-8"},
		{"cycle", cycle, "nesting deeper"},
		{"odd offset", time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 600)), "offset"},
		{"bad decimal in a list", []any{Decimal("x")}, "invalid decimal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got % x, %v; want error containing %q", b, err, tt.want)
			}
		})
	}
}

func TestScalars(t *testing.T) {
	const s = "6a1b7c2d-0e4f-4a5b-9c8d-7e6f5a4b3c2d"
	for _, in := range []string{s, "6A1B7C2D0E4F4A5B9C8D7E6F5A4B3C2D", "{" + s + "}", "urn:uuid:" + s} {
		u, err := ParseUUID(in)
		if err != nil || u.String() != s {
			t.Errorf("ParseUUID(%q) = %v, %v", in, u, err)
		}
	}
	for _, in := range []string{"", "6a1b", s + "0", strings.Replace(s, "6", "g", 1)} {
		if _, err := ParseUUID(in); err == nil {
			t.Errorf("ParseUUID(%q) succeeded", in)
		}
	}
	for _, in := range []string{"0", "-0", "+1.5", "1.", ".5", "1e5", "1E+3", "-12.34e-5", "NaN", "nan12", "sNaN",
		"-Infinity", "inf", "123456789012345678901234567890.000001"} {
		if _, err := ParseDecimal(in); err != nil {
			t.Errorf("ParseDecimal(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", ".", "-", "e5", "1e", "1.2.3", "1_000", " 1", "0x10", "Infinit", "NaNx", "1e+-3"} {
		if _, err := ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) succeeded", in)
		}
	}
	for v, want := range map[string]Enum{
		"x": {Value: "x"}, "7": {Value: int64(7)}, "NAME": {Member: "NAME"},
	} {
		if got := want.String(); got != v {
			t.Errorf("%#v.String() = %q, want %q", want, got, v)
		}
	}
	r := ResourceSlot{{"cpu", "1"}}
	if q, ok := r.Get("cpu"); !ok || q != "1" {
		t.Errorf("Get(cpu) = %q, %v", q, ok)
	}
	if _, ok := r.Get("mem"); ok {
		t.Error("Get(mem) found a slot")
	}
}
