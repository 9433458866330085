package cgroup

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFile(t *testing.T) {
	for _, c := range parseCases() {
		t.Run(c.mode.String()+"/"+c.file+"/"+c.name, func(t *testing.T) {
			var got Sample
			err := ParseFile(c.mode, c.file, strings.NewReader(c.in), &got)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseFile(%q) = %v; want an ErrMalformed containing %q", c.in, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFile(%q): %v", c.in, err)
			}
			if got != c.want {
				t.Errorf("ParseFile(%q)\n got %+v\nwant %+v", c.in, got, c.want)
			}
		})
	}
}

func TestParseFileLeavesOtherFieldsAlone(t *testing.T) {
	s := Sample{CPUUsageNanos: 1, PidsCurrent: 2, MemoryCurrent: 100}
	if err := ParseFile(ModeV2, "memory.stat", strings.NewReader("inactive_file 30\n"), &s); err != nil {
		t.Fatal(err)
	}
	want := Sample{CPUUsageNanos: 1, PidsCurrent: 2, MemoryCurrent: 100, MemoryInactiveFile: 30, MemoryUsed: 70}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	// MemoryUsed is clamped, whichever of its sources comes last.
	if err := ParseFile(ModeV2, "memory.current", strings.NewReader("20\n"), &s); err != nil {
		t.Fatal(err)
	}
	if s.MemoryUsed != 0 {
		t.Errorf("MemoryUsed = %d with current 20 < inactive_file 30, want 0", s.MemoryUsed)
	}
}

func TestParseFileUnknown(t *testing.T) {
	var s Sample
	for _, c := range []struct {
		mode Mode
		file string
	}{{ModeV2, "cpuacct.usage"}, {ModeV1, "io.stat"}, {ModeV2, "cgroup.procs"}, {0, "cpu.stat"}} {
		if err := ParseFile(c.mode, c.file, strings.NewReader("1\n"), &s); err == nil {
			t.Errorf("ParseFile(%v, %s) accepted a file that Read does not read", c.mode, c.file)
		}
	}
	if err := ParseFile(ModeV2, "io.stat", strings.NewReader(strings.Repeat("8:0 rbytes=1\n", maxFileSize/12+1)), &s); err == nil {
		t.Error("ParseFile accepted a file over maxFileSize")
	}
}

func TestParseErrorQuotesAtMost64Bytes(t *testing.T) {
	var s Sample
	err := ParseFile(ModeV2, "memory.max", strings.NewReader(strings.Repeat("x", 1000)), &s)
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error %q: want a short error", err)
	}
}

func TestParseUint(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "7": 7, "18446744073709551615": 1<<64 - 1, "0042": 42} {
		if got, ok := parseUint([]byte(in)); !ok || got != want {
			t.Errorf("parseUint(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-1", "+1", "1.0", " 1", "18446744073709551616", "99999999999999999999"} {
		if got, ok := parseUint([]byte(in)); ok {
			t.Errorf("parseUint(%q) = %d, accepted", in, got)
		}
	}
}

func TestParseFixed(t *testing.T) {
	for in, want := range map[string]float64{"0.00": 0, "12.34": 12.34, "100.00": 100, "5": 5, "0.5": 0.5} {
		if got, ok := parseFixed([]byte(in)); !ok || got != want {
			t.Errorf("parseFixed(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", ".5", "1.", "1.2.3", "-1.0", "1e3", "nan"} {
		if got, ok := parseFixed([]byte(in)); ok {
			t.Errorf("parseFixed(%q) = %v, accepted", in, got)
		}
	}
}

// BenchmarkParseMemoryStat parses the largest file that a sweep reads.
func BenchmarkParseMemoryStat(b *testing.B) {
	for _, c := range []struct {
		name  string
		in    string
		parse func([]byte, *Sample) error
	}{{"v1", v1MemoryStat, parseMemoryStatV1}, {"v2", v2MemoryStat, parseMemoryStatV2}} {
		b.Run(c.name, func(b *testing.B) {
			in := []byte(c.in)
			var s Sample
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.parse(in, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
