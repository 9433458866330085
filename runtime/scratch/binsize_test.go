package scratch

import (
	"strings"
	"testing"
)

func TestFormatBinarySize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1023, "1023"},
		{1024, "1k"},
		{1025, "1k"},
		{1536, "1.5k"},
		{1152, "1.12k"}, // 1.125: half to even
		{1408, "1.38k"}, // 1.375: half to even
		{1048575, "1024k"},
		{1 << 20, "1m"},
		{4 << 30, "4g"},
		{5 << 29, "2.5g"},
		{(1 << 30) + (1 << 30 / 100), "1.01g"},
		{3 << 40, "3t"},
		{1 << 62, "4e"},
		{-5, "-5"},
	} {
		if got := FormatBinarySize(tc.n); got != tc.want {
			t.Errorf("FormatBinarySize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0m"},
		{1000, "0m"},
		{64 << 20, "64m"},
		{3 << 19, "1.5m"},
		{10 << 30, "10240m"},
	} {
		if got := formatScaled(tc.n, 1); got != tc.want {
			t.Errorf("formatScaled(%d, m) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestParseBinarySize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"0", 0, ""},
		{"1073741824", 1 << 30, ""},
		{" 1_024 ", 1024, ""},
		{"4g", 4 << 30, ""},
		{"4G", 4 << 30, ""},
		{"1.5m", 3 << 19, ""},
		{"0m", 0, ""},
		{"64 MiB", 64 << 20, ""},
		{"2KB", 2048, ""},
		{"2 kbytes", 2048, ""},
		{"5 b", 5, ""},
		{"1.001k", 1025, ""},
		{"1e", 1 << 60, ""},
		{"8e", 0, "out of range"},
		{"-1", 0, "negative"},
		{"-1k", 0, "not a non-negative decimal"},
		{"0.5", 0, "not a whole number"},
		{"1x", 0, "unknown scale"},
		{"1b", 0, "unknown scale"},
		{"inf", 0, "unknown scale"},
		{"", 0, "not a whole number"},
		{"k", 0, "not a non-negative decimal"},
		{"1/2k", 0, "not a non-negative decimal"},
	} {
		got, err := ParseBinarySize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseBinarySize(%q) = %d, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseBinarySize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, n := range []int64{0, 1, 1023, 1024, 1536, 4 << 30, 5 << 29, 7 << 50} {
		if got, err := ParseBinarySize(FormatBinarySize(n)); err != nil || got != n {
			t.Errorf("ParseBinarySize(FormatBinarySize(%d)) = %d, %v", n, got, err)
		}
	}
}
