package stats

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baiagent/agent/cgroup"
	"github.com/baiagent/agent/test/testenv"
)

// fixedSource lists fixed cgroups as kernels.
type fixedSource []KernelTarget

func (s fixedSource) Kernels() []KernelTarget { return s }
func (fixedSource) NetCounters(string) (uint64, uint64, error) {
	return 0, 0, fmt.Errorf("no network")
}

// BenchmarkPrivilegedCollectorSweep200 times the whole kernel sweep of the
// collector (cgroup reads, metric updates) over 200 empty kernel cgroups
// on a v1 host, in CPU time per kernel (target: at most 50 µs; the
// cgroup reading alone is BenchmarkPrivilegedSweep200 in package cgroup,
// which also compares it with containerd's Stat).
func BenchmarkPrivilegedCollectorSweep200(b *testing.B) {
	testenv.RequirePrivileged(b)
	mode, err := cgroup.DetectMode("")
	if err != nil {
		b.Fatal(err)
	}
	if mode != cgroup.ModeV1 {
		b.Fatalf("cgroup mode %v: this benchmark makes v1 cgroups", mode)
	}
	const kernels = 200
	parent := fmt.Sprintf("/backendai-bench-col-%08x", rand.Uint32())
	// Only mounted hierarchies: "cpu,cpuacct" is a directory only where
	// the two are mounted together.
	var controllers []string
	for _, c := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
		if _, err := os.Stat(filepath.Join(cgroup.Root, c, "cgroup.procs")); err == nil {
			controllers = append(controllers, c)
		}
	}
	var src fixedSource
	for i := range kernels {
		path := fmt.Sprintf("%s/k%03d", parent, i)
		for _, c := range controllers {
			if err := os.MkdirAll(filepath.Join(cgroup.Root, c, path), 0o755); err != nil && !os.IsExist(err) {
				b.Fatal(err)
			}
		}
		src = append(src, KernelTarget{ID: fmt.Sprintf("k%03d", i), CgroupPath: path})
	}
	b.Cleanup(func() {
		for _, c := range controllers {
			for i := range kernels {
				_ = os.Remove(filepath.Join(cgroup.Root, c, fmt.Sprintf("%s/k%03d", parent, i)))
			}
			_ = os.Remove(filepath.Join(cgroup.Root, c, parent))
		}
	})
	col, err := NewCollector(CollectorOptions{Source: src})
	if err != nil {
		b.Fatal(err)
	}
	defer col.Close()
	col.SweepKernels() // opens the readers
	if n := len(col.KernelIDs()); n != kernels {
		b.Fatalf("%d kernels swept, want %d", n, kernels)
	}
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	b.ResetTimer()
	c0 := cpu()
	for b.Loop() {
		col.SweepKernels()
	}
	used := cpu() - c0
	b.ReportMetric(float64(used.Microseconds())/float64(b.N*kernels), "cpu-us-per-kernel")
	b.ReportMetric(0, "ns/op")
}

// TestPrivilegedCollectorDropsEndedKernel: a kernel whose cgroup goes away
// between sweeps, or is gone when first listed, is dropped without a
// warning; the others keep their metrics.
func TestPrivilegedCollectorDropsEndedKernel(t *testing.T) {
	testenv.RequirePrivileged(t)
	mode, err := cgroup.DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	ctrls := []string{""} // the hierarchies a kernel cgroup is made in
	if mode == cgroup.ModeV1 {
		ctrls = nil
		for _, c := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
			if _, err := os.Stat(filepath.Join(cgroup.Root, c, "cgroup.procs")); err == nil {
				ctrls = append(ctrls, c)
			}
		}
	}
	mk := func(path string) {
		for _, c := range ctrls {
			if err := os.MkdirAll(filepath.Join(cgroup.Root, c, path), 0o755); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
		}
	}
	rm := func(path string) {
		for _, c := range ctrls {
			_ = os.Remove(filepath.Join(cgroup.Root, c, path))
		}
	}
	parent := fmt.Sprintf("/backendai-test-col-%08x", rand.Uint32())
	mk(parent + "/stays")
	mk(parent + "/ends")
	t.Cleanup(func() {
		rm(parent + "/stays")
		rm(parent + "/ends")
		rm(parent)
	})
	var logs bytes.Buffer
	src := fixedSource{
		{ID: "stays", CgroupPath: parent + "/stays"},
		{ID: "ends", CgroupPath: parent + "/ends"},
		{ID: "never", CgroupPath: parent + "/never"},
	}
	col, err := NewCollector(CollectorOptions{Source: src, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	col.SweepKernels()
	if ids := col.KernelIDs(); len(ids) != 2 {
		t.Fatalf("kernels with metrics %v, want stays and ends", ids)
	}
	rm(parent + "/ends")
	col.SweepKernels()
	if _, ok := col.Kernel("ends"); ok {
		t.Error("a kernel whose cgroup went away kept its metrics")
	}
	if _, ok := col.Kernel("stays"); !ok {
		t.Error("the other kernel lost its metrics")
	}
	if strings.Contains(logs.String(), "WARN") {
		t.Errorf("ended kernels were warned about:\n%s", logs.String())
	}
}
