package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroup writes files (name -> content) under root/<dir>/backendai/k1
// for each of their directories ("" for v2, the controller for v1).
func fakeCgroup(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		dir, file := filepath.Split(name)
		p := filepath.Join(root, dir, "backendai", "k1", file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func v2FakeFiles() map[string]string {
	return map[string]string{
		"cpu.stat":        v2CPUStat,
		"memory.current":  "104857600\n",
		"memory.max":      "268435456\n",
		"memory.stat":     v2MemoryStat,
		"memory.events":   v2MemoryEvents,
		"io.stat":         v2IOStat,
		"pids.current":    "5\n",
		"pids.max":        "max\n",
		"cpu.pressure":    v2Pressure,
		"memory.pressure": v2Pressure,
		"io.pressure":     v2Pressure,
	}
}

func TestReaderV2(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, v2FakeFiles())
	r, err := OpenMode(root, "/backendai/k1", ModeV2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Sample
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	pl := Pressure{
		Some: PressureLine{Avg10: 1.25, Avg60: 0.5, Avg300: 0.1, TotalMicros: 123456},
		Full: PressureLine{Avg60: 0.03, TotalMicros: 789},
	}
	want := Sample{
		CPUUsageNanos: 1234567000, CPUUserNanos: 1000000000, CPUSystemNanos: 234567000,
		CPUPeriods: 120, CPUThrottledPeriods: 7, CPUThrottledNanos: 350000000,
		MemoryCurrent: 104857600, MemoryInactiveFile: 41943040, MemoryUsed: 104857600 - 41943040,
		MemoryAnon: 35651584, MemoryFile: 50331648, MemoryLimit: 268435456,
		OOMEvents: 2, OOMKills: 1,
		IOAccounted: true, IOReadBytes: 1048576 + 4096, IOWriteBytes: 67108864 + 8192,
		PidsCurrent: 5,
		HasPSI:      true, PSI: PSI{CPU: pl, Memory: pl, IO: pl},
	}
	if s != want {
		t.Fatalf("Read\n got %+v\nwant %+v", s, want)
	}

	// The same descriptors see new content: Read preads from offset 0.
	fakeCgroup(t, root, map[string]string{"memory.max": "max\n", "pids.current": "6"})
	r.RefreshLimits() // limits are kept between reads otherwise
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	if s.MemoryLimit != 0 || s.PidsCurrent != 6 {
		t.Errorf("after rewrite: limit %d, pids %d; want 0 (max), 6", s.MemoryLimit, s.PidsCurrent)
	}
}

func TestReaderV1(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, map[string]string{
		"cpuacct/cpuacct.usage":                  "7086315344887\n",
		"cpu/cpu.stat":                           v1CPUStat,
		"memory/memory.usage_in_bytes":           "138412032\n",
		"memory/memory.limit_in_bytes":           "9223372036854771712\n",
		"memory/memory.stat":                     v1MemoryStat,
		"memory/memory.oom_control":              v1OOMControl,
		"blkio/blkio.throttle.io_service_bytes":  "Total 0\n",
		"blkio/blkio.io_service_bytes_recursive": v1Blkio,
		"pids/pids.current":                      "3\n",
		"pids/pids.max":                          "100\n",
	})
	r, err := OpenMode(root, "/backendai/k1", ModeV1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Sample
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	want := Sample{
		CPUUsageNanos: 7086315344887,
		CPUPeriods:    40, CPUThrottledPeriods: 3, CPUThrottledNanos: 123456789,
		MemoryCurrent: 138412032, MemoryInactiveFile: 103579648, MemoryUsed: 138412032 - 103579648,
		MemoryAnon: 33554432, MemoryFile: 104857600,
		OOMKills: 4, UnderOOM: true,
		IOAccounted: true, IOReadBytes: 1048576 + 4096, IOWriteBytes: 67108864 + 512, // from the CFQ fallback
		PidsCurrent: 3, PidsLimit: 100,
	}
	if s != want {
		t.Fatalf("Read\n got %+v\nwant %+v", s, want)
	}

	// With throttle data, the fallback is not read (nor added).
	fakeCgroup(t, root, map[string]string{"blkio/blkio.throttle.io_service_bytes": "8:0 Read 1\n8:0 Write 2\nTotal 3\n"})
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	if !s.IOAccounted || s.IOReadBytes != 1 || s.IOWriteBytes != 2 {
		t.Errorf("throttle data: accounted %v, read %d, write %d; want true, 1, 2", s.IOAccounted, s.IOReadBytes, s.IOWriteBytes)
	}
}

func TestReaderMissingControllers(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, map[string]string{"cpu.stat": "usage_usec 3\n"}) // no memory, io, pids; PSI off
	r, err := OpenMode(root, "/backendai/k1", ModeV2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := Sample{MemoryLimit: 99, HasPSI: true} // Read resets every field
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	if want := (Sample{CPUUsageNanos: 3000}); s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
}

func TestOpenGone(t *testing.T) {
	root := t.TempDir()
	for _, mode := range []Mode{ModeV1, ModeV2} {
		_, err := OpenMode(root, "/backendai/nope", mode)
		if !errors.Is(err, ErrGone) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v: open a missing cgroup: %v; want ErrGone and fs.ErrNotExist", mode, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, v2FakeFiles())
	if _, err := OpenMode(root, "backendai/k1", ModeV2); err == nil {
		t.Error("relative path accepted")
	}
	if _, err := OpenMode(root, "/backendai/k1", Mode(7)); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := Open(root, "/backendai/k1"); err == nil || !strings.Contains(err.Error(), "neither cgroup2 nor a tmpfs") {
		t.Errorf("Open on a plain directory: %v; want a mode detection error", err)
	}
}

func TestReaderMalformed(t *testing.T) {
	root := t.TempDir()
	files := v2FakeFiles()
	files["memory.stat"] = "anon 1\ninactive_file lots\n"
	fakeCgroup(t, root, files)
	r, err := OpenMode(root, "/backendai/k1", ModeV2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Sample
	err = r.Read(&s)
	if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrGone) || !strings.Contains(err.Error(), "backendai/k1: memory.stat line 2") {
		t.Errorf("Read: %v; want ErrMalformed naming the cgroup directory and memory.stat line 2", err)
	}
}

func TestReaderClosed(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, v2FakeFiles())
	r, err := OpenMode(root, "/backendai/k1", ModeV2)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var s Sample
	if err := r.Read(&s); err == nil {
		t.Error("Read after Close succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestReaderGrowsBuffer(t *testing.T) {
	root := t.TempDir()
	files := v2FakeFiles()
	var b strings.Builder
	for i := range 1000 { // about 40 KiB: more than the initial buffer
		b.WriteString("259:")
		b.WriteString(strings.Repeat("1", 1+i%3))
		b.WriteString(" rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n")
	}
	files["io.stat"] = b.String()
	fakeCgroup(t, root, files)
	r, err := OpenMode(root, "/backendai/k1", ModeV2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Sample
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	if s.IOReadBytes != 1000 || s.IOWriteBytes != 2000 || s.PidsCurrent != 5 {
		t.Errorf("read %d, write %d, pids %d; want 1000, 2000, 5", s.IOReadBytes, s.IOWriteBytes, s.PidsCurrent)
	}
}

func TestReaderReadAllocatesNothing(t *testing.T) {
	root := t.TempDir()
	fakeCgroup(t, root, v2FakeFiles())
	r, err := OpenMode(root, "/backendai/k1", ModeV2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Sample
	if n := testing.AllocsPerRun(100, func() {
		if err := r.Read(&s); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Read allocates %v times per call, want 0", n)
	}
}

func BenchmarkReaderReadFakeV2(b *testing.B) {
	root := b.TempDir()
	for name, content := range v2FakeFiles() {
		p := filepath.Join(root, "backendai", "k1", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	r, err := OpenMode(root, "/backendai/k1", ModeV2)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var s Sample
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Read(&s); err != nil {
			b.Fatal(err)
		}
	}
}
