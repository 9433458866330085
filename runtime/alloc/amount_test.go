package alloc

import "testing"

func TestAmounts(t *testing.T) {
	for _, tc := range []struct {
		in        string
		milli     string // formatMilli(parseMilli(in)), or "error"
		bytes     string // formatBytes(parseBytes(in)), or "error"
		roundtrip bool
	}{
		{"0", "0", "0", true},
		{"2", "2", "2", true},
		{" 2 ", "2", "2", false},
		{"+2", "2", "2", false},
		{"2.500", "2.5", "error", false},
		{"0.001", "0.001", "error", true},
		{"0.010", "0.01", "error", false},
		{"12.34", "12.34", "error", true},
		{"1073741824.0", "1073741824", "1073741824", false},
		{"1E+3", "1000", "1000", false},
		{".5", "0.5", "error", false},
		{"5.", "5", "5", false},
		{"-0.0", "0", "0", false},
		{"-1", "error", "error", false},
		{"1e1000", "error", "error", false},
		{"9223372036854775807", "error", "9223372036854775807", true},
		{"9223372036854775808", "error", "error", false},
		{"0b1", "error", "error", false},
		{"1_000", "error", "error", false},
		{"inf", "error", "error", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			m, err := parseMilli(tc.in)
			got := "error"
			if err == nil {
				got = formatMilli(m)
			}
			if got != tc.milli {
				t.Errorf("milli: %q -> %q (%v), want %q", tc.in, got, err, tc.milli)
			}
			b, err := parseBytes(tc.in)
			got = "error"
			if err == nil {
				got = formatBytes(b)
			}
			if got != tc.bytes {
				t.Errorf("bytes: %q -> %q (%v), want %q", tc.in, got, err, tc.bytes)
			}
			if tc.roundtrip && tc.milli != "error" && tc.milli != tc.in {
				t.Errorf("milli does not round-trip: %q -> %q", tc.in, tc.milli)
			}
		})
	}
}
