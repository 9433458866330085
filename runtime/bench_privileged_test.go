package runtime

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/cgroup"
	"github.com/baiagent/agent/test/testenv"
)

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// BenchmarkPrivilegedCreateToRunning measures Create, from the call to the
// user process running (init reported it started), for the busybox image;
// it reports p50 and p99, and the CPU time of a create (as
// BenchmarkPrivilegedConcurrent64 does). Destroys are outside the timing.
func BenchmarkPrivilegedCreateToRunning(b *testing.B) {
	testenv.RequirePrivileged(b)
	e := newEnv(b)
	m := e.manager(b)
	var times []time.Duration
	var agentCPU, kernelCPU time.Duration
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("k-bench-%d", i)
		i++
		cpu0 := processCPU(b)
		start := time.Now()
		if _, err := m.Create(b.Context(), CreateRequest{ID: id, Image: e.image, Slots: slots("1", "67108864"), Args: []string{"sleep", "60"}}); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		agentCPU += processCPU(b) - cpu0
		b.StopTimer()
		kernelCPU += kernelsCPU(b, m)
		if _, err := m.Destroy(b.Context(), id, time.Millisecond); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(percentile(times, 0.5).Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(percentile(times, 0.99).Microseconds())/1000, "ms-p99")
	b.ReportMetric(agentCPU.Seconds()*1000/float64(i), "ms-cpu-agent/create")
	b.ReportMetric(kernelCPU.Seconds()*1000/float64(i), "ms-cpu-kernel/create")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPrivilegedConcurrent64 creates 64 kernels at once and reports
// the time until all run (target: under 2 s on 2 cores).
func BenchmarkPrivilegedConcurrent64(b *testing.B) {
	testenv.RequirePrivileged(b)
	e := newEnv(b)
	e.opts.CreateConcurrency = 64
	m := e.manager(b)
	var all []time.Duration
	var agentCPU, kernelCPU time.Duration
	round := 0
	for b.Loop() {
		cpu0 := processCPU(b)
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, 64)
		for i := range 64 {
			wg.Go(func() {
				_, errs[i] = m.Create(context.Background(), CreateRequest{ID: fmt.Sprintf("k-c%d-%d", round, i), Image: e.image, Slots: slots("1", "67108864"), Args: []string{"sleep", "60"}})
			})
		}
		wg.Wait()
		all = append(all, time.Since(start))
		agentCPU += processCPU(b) - cpu0
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		kernelCPU += kernelsCPU(b, m)
		destroyAll(b, m)
		round++
		b.StartTimer()
	}
	b.ReportMetric(percentile(all, 0.5).Seconds(), "s-all-64-running")
	// Where the CPU went, per create: in the agent (its own threads and
	// the reaped nsexec stages), and in the kernel's cgroup (libcontainer's
	// init stage, which joins it early, then our init and the command).
	// 64 creates on 2 cores within 2 s leave 62.5 ms of CPU to each.
	n := float64(64 * round)
	b.ReportMetric(agentCPU.Seconds()*1000/n, "ms-cpu-agent/create")
	b.ReportMetric(kernelCPU.Seconds()*1000/n, "ms-cpu-kernel/create")
	b.ReportMetric(0, "ns/op")
}

// processCPU is the user and system CPU time of this process and of its
// children that were reaped.
func processCPU(b *testing.B) time.Duration {
	var total time.Duration
	for _, who := range []int{unix.RUSAGE_SELF, unix.RUSAGE_CHILDREN} {
		var ru unix.Rusage
		if err := unix.Getrusage(who, &ru); err != nil {
			b.Fatal(err)
		}
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return total
}

// kernelsCPU sums the CPU time the cgroups of the listed kernels used.
func kernelsCPU(b *testing.B, m *Manager) time.Duration {
	var total time.Duration
	for _, st := range m.List() {
		r, err := cgroup.Open("", m.CgroupPath(st.ID))
		if err != nil {
			b.Fatal(err)
		}
		var s cgroup.Sample
		err = r.Read(&s)
		_ = r.Close()
		if err != nil {
			b.Fatal(err)
		}
		total += time.Duration(s.CPUUsageNanos)
	}
	return total
}

func destroyAll(b *testing.B, m *Manager) {
	var wg sync.WaitGroup
	for _, st := range m.List() {
		wg.Go(func() {
			if _, err := m.Destroy(context.Background(), st.ID, time.Millisecond); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

// BenchmarkPrivilegedRestart200 starts 200 idle kernels, then makes a new
// manager over the same state (what an agent restart does) and reports
// how long reattaching all took, that none was lost, and the agent's RSS
// growth per idle kernel.
func BenchmarkPrivilegedRestart200(b *testing.B) {
	testenv.RequirePrivileged(b)
	e := newEnv(b)
	e.opts.CreateConcurrency = 16
	m := e.manager(b)
	rss0 := rssBytes()
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Go(func() {
			_, errs[i] = m.Create(context.Background(), CreateRequest{ID: fmt.Sprintf("k-r%03d", i), Image: e.image, Slots: slots("1", "67108864"), Args: []string{"sleep", "600"}})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	rss1 := rssBytes()
	defer destroyAll(b, m)
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		m2, err := New(context.Background(), e.opts)
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		running := 0
		for _, st := range m2.List() {
			if st.Status == StatusRunning {
				running++
			}
		}
		if running != 200 {
			b.Fatalf("%d of 200 kernels running after the restart", running)
		}
	}
	b.ReportMetric(percentile(took, 0.5).Seconds()*1000, "ms-reattach-200")
	b.ReportMetric(float64(rss1-rss0)/200/1024, "KiB-RSS-per-kernel")
	b.ReportMetric(0, "ns/op")
}

// rssBytes is this process's resident set size.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
