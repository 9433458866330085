package alloc

import (
	"slices"
	"strings"
	"testing"
)

func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int64
		wantErr  string
	}{
		{"kB", "MemTotal:       16318436 kB\nMemFree:         1000 kB\n", 16318436 * 1024, ""},
		{"not first", "Foo: 1 kB\nMemTotal: 2 kB\n", 2048, ""},
		{"no unit", "MemTotal: 4096\n", 4096, ""},
		{"missing", "MemFree: 1 kB\n", 0, "no MemTotal line"},
		{"garbage", "MemTotal: x kB\n", 0, "malformed MemTotal"},
		{"unit", "MemTotal: 1 MB\n", 0, "unknown unit"},
		{"overflow", "MemTotal: 9223372036854775 kB\n", 0, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMeminfo(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseMeminfo error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseMeminfo = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestHost(t *testing.T) {
	c, err := HostCores()
	if err != nil || len(c) == 0 || !slices.IsSorted(c) {
		t.Fatalf("HostCores = %v, %v; want a sorted non-empty list", c, err)
	}
	m, err := HostMemory()
	if err != nil || m <= 0 {
		t.Fatalf("HostMemory = %d, %v", m, err)
	}
	if _, err := New(Options{Cores: c, MemoryBytes: m}); err != nil {
		t.Fatalf("New over the host: %v", err)
	}
}
