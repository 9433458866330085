package codec

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The vectors are those of the temporenc spec and temporenc-python's tests
// (1983-01-15 18:25:12, or 17:25:12 UTC at +01:00).
func TestTemporencDecode(t *testing.T) {
	plus1 := time.FixedZone("", 3600)
	naive := func(ns int) any { return NaiveDateTime{time.Date(1983, 1, 15, 18, 25, 12, ns, time.UTC)} }
	aware := func(ns int) any { return time.Date(1983, 1, 15, 18, 25, 12, ns, plus1) }
	tests := []struct {
		name, in string
		want     any
	}{
		{"DT", "1e fc 1d 26 4c", naive(0)},
		{"DTZ", "cf 7e 0e 8b 26 44", aware(0)},
		{"DTS ms", "47 bf 07 49 93 07 b0", naive(123000000)},
		{"DTS us", "57 bf 07 49 93 07 89 00", naive(123456000)},
		{"DTS ns", "67 bf 07 49 93 07 5b cd 15", naive(123456789)},
		{"DTS none", "77 bf 07 49 93 00", naive(0)},
		{"DTSZ ms", "e3 df 83 a2 c9 83 dc 40", aware(123000000)},
		{"DTSZ us", "eb df 83 a2 c9 83 c4 81 10", aware(123456000)},
		{"DTSZ ns", "f3 df 83 a2 c9 83 ad e6 8a c4", aware(123456789)},
		{"DTSZ none", "fb df 83 a2 c9 91 00", aware(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTemporenc(unhex(t, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if d := diff("time", tt.want, got); d != "" {
				t.Fatal(d)
			}
		})
	}
}

func TestTemporencDecodeErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"D has no time", "8f 7e 0e", "incomplete"},
		{"T has no date", "a1 26 4c", "incomplete"},
		{"bad tag", "bb 12 34", "no valid tag"},
		{"DT too long", "1e fc 1d 26 4c 00", "want 5"},
		{"DTS us too short", "57 bf 07 49 93 07 89", "want 8"},
		{"empty year", "3f fc 1d 26 4c", "incomplete"},
		{"month 13", "1e ff 1d 26 4c", "out of range"},
		{"second 60", "1e fc 1d 26 7c", "out of range"},
		{"february 30", "1e fc 7b 26 4c", "day 30"},
		{"year 0", "00 00 00 00 00", "out of range"},
		{"ms over 999", "47 bf 07 49 93 3f f0", "sub-second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeTemporenc(unhex(t, tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, %v; want error containing %q", v, err, tt.want)
			}
		})
	}
}

func TestTemporencEncode(t *testing.T) {
	tests := []struct {
		name  string
		in    time.Time
		naive bool
		want  string
	}{
		{"naive", time.Date(1983, 1, 15, 18, 25, 12, 123456789, time.UTC), true, "57 bf 07 49 93 07 89 00"},
		{"naive ignores location", time.Date(1983, 1, 15, 18, 25, 12, 123456000, time.FixedZone("", 7200)), true, "57 bf 07 49 93 07 89 00"},
		{"aware", time.Date(1983, 1, 15, 18, 25, 12, 123456000, time.FixedZone("", 3600)), false, "eb df 83 a2 c9 83 c4 81 10"},
		{"same instant in UTC", time.Date(1983, 1, 15, 17, 25, 12, 123456000, time.UTC), false, "eb df 83 a2 c9 83 c4 81 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeTemporenc(tt.in, tt.naive)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("got % x, want % x", got, want)
			}
		})
	}
}

func TestTemporencEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
	}{
		{"offset not a quarter hour", time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 7*60))},
		{"offset with seconds", time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -30))},
		{"offset beyond +15:30", time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 16*3600))},
		{"year 0", time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"year 4095", time.Date(4095, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := encodeTemporenc(tt.in, false); err == nil {
				t.Fatalf("got % x, want an error", b)
			}
		})
	}
}

func TestTemporencOffsets(t *testing.T) {
	for quarters := -64; quarters <= 62; quarters++ {
		in := time.Date(2026, 8, 23, 12, 34, 56, 789000, time.FixedZone("", quarters*15*60))
		b, err := encodeTemporenc(in, false)
		if err != nil {
			t.Fatalf("offset %d quarters: %v", quarters, err)
		}
		got, err := decodeTemporenc(b)
		if err != nil {
			t.Fatalf("offset %d quarters: %v", quarters, err)
		}
		if d := diff("time", in, got); d != "" {
			t.Fatalf("offset %d quarters: %s", quarters, d)
		}
	}
}
