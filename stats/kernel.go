package stats

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// KernelReading is one plain reading of a kernel's counters, as the
// collector gathers them from its cgroup, its network namespace and its
// scratch directory. Counters are cumulative.
type KernelReading struct {
	// CPUUsedNs is the CPU time the kernel used, in nanoseconds.
	CPUUsedNs uint64
	// MemUsed is the memory in use in bytes (charged memory minus the
	// inactive page cache); MemLimit is the limit, 0 for unlimited.
	MemUsed, MemLimit uint64
	// IORead and IOWrite are the block I/O bytes. IOAccounted says the
	// cgroup listed a device at all; without, io_read and io_write are
	// still reported (0), as upstream reports an empty blkio file.
	IORead, IOWrite uint64
	IOAccounted     bool
	// NetRx and NetTx are the bytes the kernel received and sent.
	NetRx, NetTx uint64
	// ScratchBytes is the size of the kernel's scratch directory.
	ScratchBytes uint64
	// Pids is the number of tasks; PidsLimit the limit, 0 for unlimited.
	Pids, PidsLimit uint64
	// OOMKills counts the kernel's processes the OOM killer killed.
	OOMKills uint64
	// CPUPressure, MemPressure and IOPressure are the PSI "some" avg10
	// percentages; they count only when HasPSI is set.
	CPUPressure, MemPressure, IOPressure float64
	HasPSI                               bool
	// GPUs is the number of GPUs the kernel holds; with any, CUDAMemUsed
	// and CUDAMemTotal (bytes) and CUDAUtil (percent, summed over the
	// GPUs) count.
	GPUs                      int
	CUDAMemUsed, CUDAMemTotal uint64
	CUDAUtil                  uint64
}

// KernelStats turns a kernel's readings into its metrics over time. It is
// safe for concurrent use.
type KernelStats struct {
	mu      sync.Mutex
	metrics map[string]*Metric
}

// NewKernelStats returns a KernelStats with no reading yet.
func NewKernelStats() *KernelStats {
	return &KernelStats{metrics: make(map[string]*Metric)}
}

// Update adds the reading r taken at now (from time.Now, so that rates
// use the monotonic clock).
func (k *KernelStats) Update(now time.Time, r KernelReading) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range kernelObservations(r) {
		m, ok := k.metrics[o.spec.Key]
		switch {
		case ok:
			m.Update(now, o.measure)
		case o.upstream:
			k.metrics[o.spec.Key] = NewKernelMetric(o.spec, now, o.measure)
		default:
			k.metrics[o.spec.Key] = NewMetric(o.spec, now, o.measure)
		}
	}
}

// Metrics returns every metric seen so far in wire form, by key: what
// upstream stores in Redis under the kernel's id.
func (k *KernelStats) Metrics() map[string]MetricValue {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]MetricValue, len(k.metrics))
	for key, m := range k.metrics {
		out[key] = m.Value()
	}
	return out
}

// Keys returns the keys of the metrics seen so far, sorted.
func (k *KernelStats) Keys() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Sorted(maps.Keys(k.metrics))
}

// observation is one measurement of one kernel metric. upstream marks the
// metrics upstream reports, which take its capacity rule (NewKernelMetric).
type observation struct {
	spec     Spec
	measure  Measurement
	upstream bool
}

// kernelObservations derives the kernel metrics from r.
func kernelObservations(r KernelReading) []observation {
	// Upstream reads cpu_used in ms and quantizes it to 0.001 ms.
	cpuMs := DecimalFromUint(r.CPUUsedNs).quo(DecimalFromInt(1_000_000)).quantize(3)
	obs := []observation{
		{
			// capacity 1000 ms per second: pct 100 is one core busy,
			// whatever the kernel was given (upstream's choice).
			spec:     Spec{Key: KeyCPUUtil, Type: Utilization, UnitHint: UnitPercent, StatsFilter: []string{"avg", "max"}, Current: CurrentRate},
			measure:  Measurement{Value: cpuMs, Capacity: ptr(DecimalFromInt(1000))},
			upstream: true,
		},
		{
			spec:     Spec{Key: KeyCPUUsed, Type: Accumulation, UnitHint: UnitMsec},
			measure:  Measurement{Value: cpuMs},
			upstream: true,
		},
		{
			spec:     Spec{Key: KeyMem, Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"max"}},
			measure:  Measurement{Value: DecimalFromUint(r.MemUsed), Capacity: limit(r.MemLimit)},
			upstream: true,
		},
	}
	// Always there, as upstream sums whatever the blkio files list (0
	// when they list nothing); IOAccounted stays in the raw reading.
	obs = append(obs,
		observation{
			spec:     Spec{Key: KeyIORead, Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"rate"}},
			measure:  Measurement{Value: DecimalFromUint(r.IORead)},
			upstream: true,
		},
		observation{
			spec:     Spec{Key: KeyIOWrite, Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"rate"}},
			measure:  Measurement{Value: DecimalFromUint(r.IOWrite)},
			upstream: true,
		})
	obs = append(obs,
		observation{
			spec:     Spec{Key: KeyNetRx, Type: Rate, UnitHint: UnitBPS, Current: CurrentRate},
			measure:  Measurement{Value: DecimalFromUint(r.NetRx)},
			upstream: true,
		},
		observation{
			spec:     Spec{Key: KeyNetTx, Type: Rate, UnitHint: UnitBPS, Current: CurrentRate},
			measure:  Measurement{Value: DecimalFromUint(r.NetTx)},
			upstream: true,
		},
		observation{
			spec:     Spec{Key: KeyIOScratchSize, Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"max"}},
			measure:  Measurement{Value: DecimalFromUint(r.ScratchBytes)},
			upstream: true,
		},
		observation{
			spec:    Spec{Key: KeyPids, Type: Gauge, UnitHint: UnitCount, StatsFilter: []string{"max"}},
			measure: Measurement{Value: DecimalFromUint(r.Pids), Capacity: limit(r.PidsLimit)},
		},
		observation{
			spec:    Spec{Key: KeyOOMKills, Type: Accumulation, UnitHint: UnitCount},
			measure: Measurement{Value: DecimalFromUint(r.OOMKills)},
		})
	if r.GPUs > 0 {
		obs = append(obs,
			observation{
				spec:     Spec{Key: KeyCUDAMem, Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"max"}},
				measure:  Measurement{Value: DecimalFromUint(r.CUDAMemUsed), Capacity: ptr(DecimalFromUint(r.CUDAMemTotal))},
				upstream: true,
			},
			observation{
				spec:     Spec{Key: KeyCUDAUtil, Type: Utilization, UnitHint: UnitPercent, StatsFilter: []string{"avg", "max"}},
				measure:  Measurement{Value: DecimalFromUint(r.CUDAUtil), Capacity: ptr(DecimalFromInt(100 * int64(r.GPUs)))},
				upstream: true,
			})
	}
	if r.HasPSI {
		for _, p := range []struct {
			key   string
			value float64
		}{
			{KeyCPUPressure, r.CPUPressure},
			{KeyMemPressure, r.MemPressure},
			{KeyIOPressure, r.IOPressure},
		} {
			obs = append(obs, observation{
				spec:    Spec{Key: p.key, Type: Gauge, UnitHint: UnitPercent, StatsFilter: []string{"avg", "max"}},
				measure: Measurement{Value: DecimalFromFloat(p.value), Capacity: ptr(DecimalFromInt(100))},
			})
		}
	}
	return obs
}

// limit returns a limit as a capacity: nil for 0, which means unlimited.
func limit(v uint64) *Decimal {
	if v == 0 {
		return nil
	}
	return ptr(DecimalFromUint(v))
}

// ptr returns a pointer to a copy of d.
func ptr(d Decimal) *Decimal { return &d }
