package cgroup

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/test/testenv"
)

// BenchmarkPrivilegedSweep200 times one stats sweep over 200 kernel
// cgroups on a v1 host: our Readers (opened once, then one Read each)
// against containerd's cgroup1.Load + Stat over the same cgroups in the
// same iteration. It reports CPU time (getrusage of the whole process, so
// containerd's goroutines and GC count) and wall time per kernel. One
// untimed sweep of each comes first: the first read of a kept file
// allocates its kernel buffer once, which steady sweeps do not pay.
//
//	AGENT_TEST_PRIVILEGED=1 go test -tags seccomp -run '^$' -bench Sweep200 -benchtime 5x ./cgroup/
func BenchmarkPrivilegedSweep200(b *testing.B) {
	testenv.RequirePrivileged(b)
	mode, err := DetectMode("")
	if err != nil {
		b.Fatal(err)
	}
	if mode != ModeV1 {
		b.Fatalf("host cgroup mode %v: the comparison with containerd's cgroup1 needs a v1 host", mode)
	}
	const kernels, sleepers = 200, 5
	parent := newStatTestCgroup(b, ModeV1, fmt.Sprintf("/backendai-bench-stat-%08x", rand.Uint32()))
	paths := make([]string, kernels)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s/k%03d", parent.path, i)
		cg := newStatTestCgroup(b, ModeV1, paths[i])
		if i%(kernels/sleepers) == 0 {
			sleep := exec.Command("sleep", "3600")
			if err := sleep.Start(); err != nil {
				b.Fatal(err)
			}
			// Runs before the cgroup's own cleanup, which removes it.
			b.Cleanup(func() {
				_ = sleep.Process.Kill()
				_ = sleep.Wait()
			})
			cg.add(b, sleep.Process.Pid)
		}
	}
	readers := make([]*Reader, kernels)
	for i, p := range paths {
		if readers[i], err = OpenMode(Root, p, mode); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = readers[i].Close() })
	}

	var s Sample
	sweepOurs := func() {
		for _, r := range readers {
			if err := r.Read(&s); err != nil {
				b.Fatal(err)
			}
		}
	}
	sweepContainerd := func() {
		for _, p := range paths {
			cg, err := cgroup1.Load(cgroup1.StaticPath(p))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := cg.Stat(cgroup1.IgnoreNotExist); err != nil {
				b.Fatal(err)
			}
		}
	}
	sweepOurs()
	sweepContainerd()
	var oursCPU, theirsCPU, oursWall, theirsWall time.Duration
	for b.Loop() {
		c0, w0 := processCPU(b), time.Now()
		sweepOurs()
		c1, w1 := processCPU(b), time.Now()
		sweepContainerd()
		c2, w2 := processCPU(b), time.Now()
		oursCPU, theirsCPU = oursCPU+c1-c0, theirsCPU+c2-c1
		oursWall, theirsWall = oursWall+w1.Sub(w0), theirsWall+w2.Sub(w1)
	}
	perKernel := func(d time.Duration) float64 {
		return float64(d.Nanoseconds()) / 1e3 / float64(b.N*kernels)
	}
	b.ReportMetric(perKernel(oursCPU), "us-per-kernel-ours")
	b.ReportMetric(perKernel(theirsCPU), "us-per-kernel-containerd")
	b.ReportMetric(float64(theirsCPU)/float64(oursCPU), "containerd/ours")
	b.ReportMetric(perKernel(oursWall), "wall-us-per-kernel-ours")
	b.ReportMetric(perKernel(theirsWall), "wall-us-per-kernel-containerd")
	b.ReportMetric(float64(theirsWall)/float64(oursWall), "wall-containerd/ours")
	b.ReportMetric(0, "ns/op")
}

// processCPU is the CPU time (user and system) of the process so far.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
