package cgroup

import (
	"bytes"
	"math"
	"strconv"
	"testing"
)

// The fuzz targets feed arbitrary bytes to the parsers, which must never
// panic and must keep the invariants checked here. Seeds are the unit
// cases' inputs. Run one with, for example:
//
//	go test -run '^$' -fuzz '^FuzzParseKeyed$' -fuzztime 10s ./cgroup/

// fuzzParsers returns the parsers of the named files of mode.
func fuzzParsers(t testing.TB, mode Mode, names ...string) []func([]byte, *Sample) error {
	var out []func([]byte, *Sample) error
	for _, name := range names {
		found := false
		for _, f := range statFiles(mode) {
			if f.name == name {
				out, found = append(out, f.parse), true
			}
		}
		if !found {
			t.Fatalf("no %v parser for %s", mode, name)
		}
	}
	return out
}

// addSeeds adds the inputs of the unit cases of the named files.
func addSeeds(f *testing.F, names ...string) {
	for _, c := range parseCases() {
		for _, n := range names {
			if c.file == n {
				f.Add([]byte(c.in))
			}
		}
	}
}

func FuzzParseSingle(f *testing.F) {
	names := []string{"memory.current", "memory.max", "pids.current", "pids.max"}
	v1Names := []string{"cpuacct.usage", "memory.usage_in_bytes", "memory.limit_in_bytes"}
	addSeeds(f, append(names, v1Names...)...)
	parsers := append(fuzzParsers(f, ModeV2, names...), fuzzParsers(f, ModeV1, v1Names...)...)
	f.Fuzz(func(t *testing.T, b []byte) {
		trimmed := bytes.TrimRight(b, " \t\n")
		want, werr := strconv.ParseUint(string(trimmed), 10, 64)
		for _, parse := range parsers {
			var s Sample
			err := parse(b, &s)
			switch {
			case err == nil && werr != nil && string(trimmed) != "max":
				t.Fatalf("accepted %q, which is neither a number nor max", b)
			case err == nil && werr == nil:
				// Exactly one field is set; v1's unlimited reads as 0.
				got := s.MemoryCurrent + s.MemoryLimit + s.PidsCurrent + s.PidsLimit + s.CPUUsageNanos
				if got != want && (want < v1Unlimited || got != 0) {
					t.Fatalf("parsed %q as %d, want %d", b, got, want)
				}
			case err != nil && werr == nil:
				t.Fatalf("refused the number %q: %v", b, err)
			}
		}
	})
}

func FuzzParseKeyed(f *testing.F) {
	names := []string{"cpu.stat", "memory.stat", "memory.events"}
	v1Names := []string{"cpu.stat", "memory.stat", "memory.oom_control"}
	addSeeds(f, append(names, v1Names...)...)
	parsers := append(fuzzParsers(f, ModeV2, names...), fuzzParsers(f, ModeV1, v1Names...)...)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range parsers {
			s := Sample{MemoryCurrent: 1 << 30}
			if err := parse(b, &s); err != nil {
				continue
			}
			if s.MemoryUsed > s.MemoryCurrent {
				t.Fatalf("%q: used %d > current %d", b, s.MemoryUsed, s.MemoryCurrent)
			}
		}
	})
}

func FuzzParseIO(f *testing.F) {
	v1Names := []string{"blkio.throttle.io_service_bytes", "blkio.io_service_bytes_recursive"}
	addSeeds(f, append(v1Names, "io.stat")...)
	parsers := append(fuzzParsers(f, ModeV2, "io.stat"), fuzzParsers(f, ModeV1, v1Names...)...)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range parsers {
			var s Sample
			if err := parse(b, &s); err != nil {
				continue
			}
			if !s.IOAccounted && (s.IOReadBytes != 0 || s.IOWriteBytes != 0) {
				t.Fatalf("%q: bytes %d/%d without a device", b, s.IOReadBytes, s.IOWriteBytes)
			}
		}
	})
}

func FuzzParsePressure(f *testing.F) {
	names := []string{"cpu.pressure", "memory.pressure", "io.pressure"}
	addSeeds(f, names...)
	parsers := fuzzParsers(f, ModeV2, names...)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range parsers {
			var s Sample
			if err := parse(b, &s); err != nil {
				continue
			}
			if !s.HasPSI {
				t.Fatalf("%q: parsed without HasPSI", b)
			}
			for _, p := range []Pressure{s.PSI.CPU, s.PSI.Memory, s.PSI.IO} {
				for _, v := range []float64{p.Some.Avg10, p.Some.Avg60, p.Some.Avg300, p.Full.Avg10, p.Full.Avg60, p.Full.Avg300} {
					if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
						t.Fatalf("%q: average %v", b, v)
					}
				}
			}
		}
	})
}

// FuzzParseNumber checks the hand-written number parsers against strconv.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"0", "42", "18446744073709551615", "18446744073709551616", "-1", "1.25", "99.99", "0.00", "1e5", "", "0.000000000000000000A", "1.0000000000000000000000000001"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseUint(b)
		want, err := strconv.ParseUint(string(b), 10, 64)
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("parseUint(%q) = %d, %v; strconv says %d, %v", b, got, ok, want, err)
		}
		fx, ok := parseFixed(b)
		if !ok {
			return
		}
		if bytes.ContainsAny(b, "+-eEnNiIxX_") {
			t.Fatalf("parseFixed(%q) accepted a sign, exponent or word", b)
		}
		ref, err := strconv.ParseFloat(string(b), 64)
		if err != nil && len(b) < 300 {
			t.Fatalf("parseFixed(%q) = %v but strconv refuses it: %v", b, fx, err)
		}
		if err == nil && math.Abs(fx-ref) > 1e-9*math.Max(1, math.Abs(ref)) {
			t.Fatalf("parseFixed(%q) = %v, strconv %v", b, fx, ref)
		}
	})
}
