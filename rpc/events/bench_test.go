package events

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/baiagent/agent/stats"
)

// cpuTime is the process's user plus system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchKernels returns n kernels' metrics as the collector makes them:
// two readings apart, so every metric has its statistics.
func benchKernels(n int) map[string]map[string]stats.MetricValue {
	out := make(map[string]map[string]stats.MetricValue, n)
	t0 := time.Unix(1724400000, 0)
	for i := range n {
		ks := stats.NewKernelStats()
		r := stats.KernelReading{
			CPUUsedNs: 5e9, MemUsed: 1 << 30, MemLimit: 4 << 30, IORead: 1 << 20, IOWrite: 2 << 20,
			IOAccounted: true, NetRx: 1e6, NetTx: 2e6, Pids: 12, PidsLimit: 4096, HasPSI: true, CPUPressure: 1.5,
		}
		ks.Update(t0, r)
		r.CPUUsedNs += 3e9
		r.NetRx += 1e5
		ks.Update(t0.Add(30*time.Second), r)
		out[fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)] = ks.Metrics()
	}
	return out
}

// benchNode returns node stats of a 64-core host.
func benchNode(kernel map[string]stats.MetricValue) stats.NodeStats {
	ns := stats.NodeStats{Node: kernel, Devices: map[string]map[string]stats.MetricValue{}}
	cores := map[string]stats.MetricValue{}
	for c := range 64 {
		cores[fmt.Sprint(c)] = kernel["cpu_util"]
	}
	ns.Devices["cpu_util"] = cores
	ns.Devices["mem"] = map[string]stats.MetricValue{"root": kernel["mem"]}
	return ns
}

// BenchmarkStatsWrite200 is one heartbeat and one stats round for 200
// kernels against a real redis-server: the heartbeat (event and installed
// images of 52 images), node stats of a 64-core host,
// the 200 kernels' stats, their presence and the container count. It
// reports the agent's CPU time per round (getrusage, user + system, all
// goroutines; redis-server is another process), the target being at most
// 5 ms.
func BenchmarkStatsWrite200(b *testing.B) {
	s, ok := startRedis(b)
	if !ok {
		return
	}
	p := newProducer(b, s, Options{})
	kernels := benchKernels(200)
	ids := make([]string, 0, len(kernels))
	for id := range kernels {
		ids = append(ids, id)
	}
	node := benchNode(kernels[ids[0]])
	info := testAgentInfo()
	for i := range 50 {
		info.Images = append(info.Images, InstalledImage{
			Canonical: fmt.Sprintf("cr.backend.ai/stable/image-%d:latest", i), Digest: "sha256:0123456789abcdef", Architecture: "x86_64"})
	}
	ctx := b.Context()
	round := func() {
		if err := p.Heartbeat(ctx, info); err != nil {
			b.Fatal(err)
		}
		if err := p.WriteNodeStats(ctx, node, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		if err := p.WriteKernelStats(ctx, kernels); err != nil {
			b.Fatal(err)
		}
		if err := p.WriteKernelPresence(ctx, ids); err != nil {
			b.Fatal(err)
		}
		if err := p.WriteContainerCount(ctx, len(ids)); err != nil {
			b.Fatal(err)
		}
	}
	round() // connections dialed outside the measurement
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for b.Loop() {
		round()
	}
	cpu := cpuTime(b) - start
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkEncodeKernelStats200 is the encoding part of WriteKernelStats
// for 200 kernels, without Redis.
func BenchmarkEncodeKernelStats200(b *testing.B) {
	kernels := benchKernels(200)
	ids := sortedKeys(kernels)
	b.ReportAllocs()
	for b.Loop() {
		enc := metricEncoder{buf: make([]byte, 0, 1024*len(ids))}
		for _, id := range ids {
			if err := enc.metricMap(kernels[id]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
