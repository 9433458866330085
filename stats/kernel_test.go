package stats

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// dumpKernel writes every metric of k, one per line, sorted by key.
func dumpKernel(b *strings.Builder, k *KernelStats) {
	metrics := k.Metrics()
	for _, key := range k.Keys() {
		fmt.Fprintf(b, "%s: %s\n", key, metrics[key])
	}
}

func TestKernelStatsGolden(t *testing.T) {
	k := NewKernelStats()
	var b strings.Builder
	for _, step := range []struct {
		at float64
		r  KernelReading
	}{
		{0, KernelReading{
			CPUUsedNs: 1_000_000_000, MemUsed: 512 << 20, MemLimit: 2 << 30,
			IORead: 4096, IOWrite: 0, IOAccounted: true, NetRx: 1000, NetTx: 500,
			Pids: 3, PidsLimit: 1024, HasPSI: true, CPUPressure: 1.5, MemPressure: 0, IOPressure: 0.25,
		}},
		// 3000 ms of CPU in 3 s: one core busy.
		{3, KernelReading{
			CPUUsedNs: 4_000_000_000, MemUsed: 1 << 30, MemLimit: 2 << 30,
			IORead: 4096 + 3*1024*1024, IOWrite: 300, IOAccounted: true, NetRx: 1000 + 30000, NetTx: 500 + 1500,
			Pids: 10, PidsLimit: 1024, OOMKills: 0, HasPSI: true, CPUPressure: 12.5, MemPressure: 0.01, IOPressure: 3,
		}},
		// The kernel restarted its network (counters reset) and got an
		// OOM kill; 2.5 cores busy over 2 s.
		{5, KernelReading{
			CPUUsedNs: 9_000_000_000, MemUsed: 256 << 20, MemLimit: 2 << 30,
			IORead: 4096 + 3*1024*1024, IOWrite: 300, IOAccounted: true, NetRx: 10, NetTx: 20,
			Pids: 2, PidsLimit: 1024, OOMKills: 1, HasPSI: true, CPUPressure: 40, MemPressure: 80.123456, IOPressure: 3,
		}},
	} {
		k.Update(at(step.at), step.r)
		fmt.Fprintf(&b, "# t=%gs\n", step.at)
		dumpKernel(&b, k)
	}
	golden(t, "kernel.golden", b.String())
}

func TestKernelStatsCPUUtil(t *testing.T) {
	k := NewKernelStats()
	k.Update(at(0), KernelReading{CPUUsedNs: 0})
	k.Update(at(3), KernelReading{CPUUsedNs: 3_000_000_000})
	v := k.Metrics()[KeyCPUUtil]
	if v["current"] != "1000" || v["capacity"] != "1000" || v["pct"] != "100" || v["unit_hint"] != "percent" {
		t.Errorf("cpu_util = %s, want current 1000 capacity 1000 pct 100", v)
	}
	if got := k.Metrics()[KeyCPUUsed]["current"]; got != "3000" {
		t.Errorf("cpu_used current = %v, want 3000", got)
	}
}

func TestKernelStatsCPUUsedQuantized(t *testing.T) {
	k := NewKernelStats()
	k.Update(at(0), KernelReading{CPUUsedNs: 1_234_567_891}) // 1234.567891 ms
	if got := k.Metrics()[KeyCPUUsed]["current"]; got != "1234.568" {
		t.Errorf("cpu_used = %v, want 1234.568", got)
	}
}

func TestKernelStatsCapacities(t *testing.T) {
	k := NewKernelStats()
	k.Update(at(0), KernelReading{MemUsed: 100, MemLimit: 0, Pids: 4, PidsLimit: 0, OOMKills: 0})
	k.Update(at(1), KernelReading{MemUsed: 150, MemLimit: 0, Pids: 5, PidsLimit: 0})
	m := k.Metrics()
	// Upstream's rule for its kernel metrics: no capacity at first means
	// the first value.
	if got := m[KeyMem]["capacity"]; got != "100" {
		t.Errorf("unlimited mem capacity = %v, want the first value 100", got)
	}
	if got := m[KeyCPUUsed]["capacity"]; got != "0" {
		t.Errorf("cpu_used capacity = %v, want 0 (first value)", got)
	}
	// The additions keep null.
	if got := m[KeyPids]["capacity"]; got != nil {
		t.Errorf("unlimited pids capacity = %v, want null", got)
	}
	if got := m[KeyOOMKills]["capacity"]; got != nil {
		t.Errorf("oom_kills capacity = %v, want null", got)
	}
}

func TestKernelStatsOptionalSources(t *testing.T) {
	k := NewKernelStats()
	k.Update(at(0), KernelReading{IOAccounted: false})
	m := k.Metrics()
	for _, key := range []string{KeyCPUPressure, KeyMemPressure, KeyIOPressure} {
		if _, ok := m[key]; ok {
			t.Errorf("%s reported without its source", key)
		}
	}
	// I/O as upstream: an empty blkio file reads as 0.
	if got := m[KeyIORead]["current"]; got != "0" {
		t.Errorf("io_read without accounting = %v, want 0", got)
	}
	k.Update(at(1), KernelReading{IORead: 100, IOAccounted: true, HasPSI: true, CPUPressure: 2})
	m = k.Metrics()
	if got := m[KeyIORead]["current"]; got != "100" {
		t.Errorf("io_read = %v, want 100", got)
	}
	if got := m[KeyCPUPressure].String(); got != "current=2 capacity=100 pct=2 unit_hint=percent stats.max=2 stats.avg=2" {
		t.Errorf("cpu_pressure = %s", got)
	}
}

func TestKernelStatsNetRate(t *testing.T) {
	k := NewKernelStats()
	k.Update(at(0), KernelReading{NetRx: 1_000_000, NetTx: 0})
	k.Update(at(30), KernelReading{NetRx: 4_000_000, NetTx: 100})
	m := k.Metrics()
	if m[KeyNetRx]["current"] != "100000" || m[KeyNetTx]["current"] != "3.333" || m[KeyNetRx]["unit_hint"] != "bps" {
		t.Errorf("net_rx %s net_tx %s", m[KeyNetRx], m[KeyNetTx])
	}
	k.Update(at(60), KernelReading{NetRx: 5, NetTx: 200})
	if got := k.Metrics()[KeyNetRx]["current"]; got != "0" {
		t.Errorf("net_rx after a counter reset = %v, want 0", got)
	}
}

func TestKernelStatsConcurrentUse(t *testing.T) {
	k := NewKernelStats()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			k.Update(at(float64(i)), KernelReading{CPUUsedNs: uint64(i) * 1e9})
		}
	}()
	for range 100 {
		_ = k.Metrics()
	}
	<-done
	if got := k.Metrics()[KeyCPUUtil]["current"]; got != "1000" {
		t.Errorf("cpu_util = %v, want 1000", got)
	}
}
