package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/cgroup"
	"github.com/baiagent/agent/gpu"
)

// KernelTarget is what the collector needs to know of a running kernel.
type KernelTarget struct {
	ID string
	// CgroupPath is the kernel's absolute cgroup path ("/backendai/<id>").
	CgroupPath string
	// ScratchDir is statfs'd for io_scratch_size when ScratchMeasured
	// (memory and hostfile scratches are file systems of their own; a
	// hostdir scratch is not walked and reports 0).
	ScratchDir      string
	ScratchMeasured bool
	// OwnNetwork says the kernel has a network namespace of its own
	// (bridge mode), so that net_rx/net_tx are its own.
	OwnNetwork bool
	// GPUs are the ids of the GPUs the kernel holds (gpu.DeviceID).
	GPUs []string
}

// Source is the collector's view of the runtime: the running kernels and
// their network counters.
type Source interface {
	Kernels() []KernelTarget
	NetCounters(id string) (rx, tx uint64, err error)
}

// CollectorOptions configure a Collector.
type CollectorOptions struct {
	Source Source
	// CgroupRoot is where the cgroup file systems are mounted; "" means
	// cgroup.Root.
	CgroupRoot string
	// Node, when set, is swept every NodeInterval.
	Node *Node
	// NodeInterval and KernelInterval are the sweep periods of Run
	// (agent.utilization-metric.{node,container}.interval).
	NodeInterval, KernelInterval time.Duration
	Log                          *slog.Logger
	// GPU, when set, is sampled with the node: per-GPU cuda_mem and
	// cuda_util, and the sums of each kernel's GPUs (KernelTarget.GPUs).
	GPU GPUSampler
	// Now is the clock; default time.Now (rates need its monotonic part).
	Now func() time.Time
}

// Collector sweeps the node and the kernels at their intervals and keeps
// their metrics with upstream's semantics for the RPC layer (Redis) and
// Prometheus. A kernel that ends mid-sweep is dropped without an error;
// a kernel no longer listed by the Source loses its metrics (and its
// Prometheus series) at the next sweep.
type Collector struct {
	o    CollectorOptions
	mode cgroup.Mode

	sweep sync.Mutex // one kernel sweep at a time

	mu      sync.Mutex
	kernels map[string]*kernelEntry
	node    NodeStats
	gpus    map[string]gpu.DeviceSample // by device id, latest sample
	gpuStat map[string]*Metric          // "<key>/<device id>"
}

// GPUSampler samples the node's GPUs (gpu.NVML over the discovered
// devices).
type GPUSampler interface {
	Sample() ([]gpu.DeviceSample, error)
}

// kernelEntry is the collector's state of one kernel.
type kernelEntry struct {
	reader  *cgroup.Reader
	sample  cgroup.Sample
	stats   *KernelStats
	reading KernelReading
}

// NewCollector detects the cgroup layout once and returns a collector
// with no metrics yet.
func NewCollector(o CollectorOptions) (*Collector, error) {
	if o.Source == nil {
		return nil, errors.New("new collector: no source")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	mode, err := cgroup.DetectMode(o.CgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("new collector: %w", err)
	}
	return &Collector{o: o, mode: mode, kernels: make(map[string]*kernelEntry)}, nil
}

// Run sweeps at the configured intervals until ctx ends (the first sweeps
// one interval from now: callers that want metrics at once sweep first).
// An interval of 0 disables that loop.
func (c *Collector) Run(ctx context.Context) {
	tick := func(d time.Duration) <-chan time.Time {
		if d <= 0 {
			return nil
		}
		t := time.NewTicker(d)
		context.AfterFunc(ctx, t.Stop)
		return t.C
	}
	nodeC, kernelC := tick(c.o.NodeInterval), tick(c.o.KernelInterval)
	for {
		select {
		case <-ctx.Done():
			c.Close()
			return
		case <-nodeC:
			if c.o.Node != nil {
				c.SweepNode()
			}
		case <-kernelC:
			c.SweepKernels()
		}
	}
}

// SweepNode samples the node's metrics.
func (c *Collector) SweepNode() {
	if c.o.Node == nil && c.o.GPU == nil {
		return
	}
	now := c.o.Now()
	var ns NodeStats
	if c.o.Node != nil {
		var err error
		if ns, err = c.o.Node.Sample(now); err != nil {
			c.o.Log.Warn("node stats: some sources failed", "err", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.o.GPU != nil {
		c.sampleGPUsLocked(now, &ns)
	}
	c.node = ns
}

// sampleGPUsLocked adds the GPUs' metrics to ns and keeps the samples
// for the kernels' sums. A lost GPU reports nothing (its series go).
func (c *Collector) sampleGPUsLocked(now time.Time, ns *NodeStats) {
	samples, err := c.o.GPU.Sample()
	if err != nil {
		c.o.Log.Warn("GPU stats: some devices failed", "err", err)
	}
	if c.gpuStat == nil {
		c.gpuStat = map[string]*Metric{}
	}
	c.gpus = make(map[string]gpu.DeviceSample, len(samples))
	var memUsed, memTotal, util uint64
	utilN := 0
	for _, s := range samples {
		if s.Lost || s.Err != nil {
			continue
		}
		id := strconv.Itoa(s.Index)
		c.gpus[id] = s
		memUsed += s.MemUsed
		memTotal += s.MemTotal
		c.deviceMetricLocked(now, ns, KeyCUDAMem, id, Spec{Key: KeyCUDAMem, Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"max"}},
			Measurement{Value: DecimalFromUint(s.MemUsed), Capacity: ptr(DecimalFromUint(s.MemTotal))})
		if s.UtilSupported {
			util += uint64(s.Util)
			utilN++
			c.deviceMetricLocked(now, ns, KeyCUDAUtil, id, Spec{Key: KeyCUDAUtil, Type: Utilization, UnitHint: UnitPercent, StatsFilter: []string{"avg", "max"}},
				Measurement{Value: DecimalFromUint(uint64(s.Util)), Capacity: ptr(DecimalFromInt(100))})
		}
	}
	if len(c.gpus) == 0 {
		return
	}
	if ns.Node == nil {
		ns.Node = map[string]MetricValue{}
	}
	ns.Node[KeyCUDAMem] = NewMetric(Spec{Key: KeyCUDAMem, Type: Gauge, UnitHint: UnitBytes}, now,
		Measurement{Value: DecimalFromUint(memUsed), Capacity: ptr(DecimalFromUint(memTotal))}).Value()
	if utilN > 0 {
		ns.Node[KeyCUDAUtil] = NewMetric(Spec{Key: KeyCUDAUtil, Type: Utilization, UnitHint: UnitPercent}, now,
			Measurement{Value: DecimalFromUint(util), Capacity: ptr(DecimalFromInt(100 * int64(utilN)))}).Value()
	}
}

// deviceMetricLocked updates one device's metric and puts it in ns.
func (c *Collector) deviceMetricLocked(now time.Time, ns *NodeStats, key, id string, spec Spec, m Measurement) {
	name := key + "/" + id
	met, ok := c.gpuStat[name]
	if ok {
		met.Update(now, m)
	} else {
		met = NewMetric(spec, now, m)
		c.gpuStat[name] = met
	}
	if ns.Devices == nil {
		ns.Devices = map[string]map[string]MetricValue{}
	}
	if ns.Devices[key] == nil {
		ns.Devices[key] = map[string]MetricValue{}
	}
	ns.Devices[key][id] = met.Value()
}

// SweepKernels reads every running kernel once.
func (c *Collector) SweepKernels() {
	c.sweep.Lock()
	defer c.sweep.Unlock()
	targets := c.o.Source.Kernels()
	seen := make(map[string]bool, len(targets))
	for _, t := range targets {
		seen[t.ID] = true
		c.mu.Lock()
		e := c.kernels[t.ID]
		c.mu.Unlock()
		if e == nil {
			r, err := cgroup.OpenMode(c.o.CgroupRoot, t.CgroupPath, c.mode)
			if err != nil {
				if !errors.Is(err, cgroup.ErrGone) {
					c.o.Log.Warn("kernel stats: open cgroup", "kernel_id", t.ID, "err", err)
				}
				continue
			}
			e = &kernelEntry{reader: r, stats: NewKernelStats()}
		}
		if err := c.read(t, e); err != nil {
			_ = e.reader.Close()
			c.mu.Lock()
			delete(c.kernels, t.ID)
			c.mu.Unlock()
			if !errors.Is(err, cgroup.ErrGone) {
				c.o.Log.Warn("kernel stats: read", "kernel_id", t.ID, "err", err)
			}
			continue
		}
		c.mu.Lock()
		c.kernels[t.ID] = e
		c.mu.Unlock()
	}
	c.mu.Lock()
	for id, e := range c.kernels {
		if !seen[id] {
			_ = e.reader.Close()
			delete(c.kernels, id)
		}
	}
	c.mu.Unlock()
}

// read takes one reading of a kernel into its entry.
func (c *Collector) read(t KernelTarget, e *kernelEntry) error {
	if err := e.reader.Read(&e.sample); err != nil {
		return err
	}
	now := c.o.Now()
	s := &e.sample
	r := KernelReading{
		CPUUsedNs: s.CPUUsageNanos, MemUsed: s.MemoryUsed, MemLimit: s.MemoryLimit,
		IORead: s.IOReadBytes, IOWrite: s.IOWriteBytes, IOAccounted: s.IOAccounted,
		Pids: s.PidsCurrent, PidsLimit: s.PidsLimit, OOMKills: s.OOMKills, HasPSI: s.HasPSI,
		CPUPressure: s.PSI.CPU.Some.Avg10, MemPressure: s.PSI.Memory.Some.Avg10, IOPressure: s.PSI.IO.Some.Avg10,
	}
	if t.OwnNetwork {
		if rx, tx, err := c.o.Source.NetCounters(t.ID); err == nil {
			r.NetRx, r.NetTx = rx, tx
		}
	}
	if t.ScratchMeasured && t.ScratchDir != "" {
		var fs unix.Statfs_t
		if err := unix.Statfs(t.ScratchDir, &fs); err == nil {
			r.ScratchBytes = (fs.Blocks - fs.Bfree) * uint64(fs.Bsize)
		}
	}
	c.mu.Lock()
	if len(t.GPUs) > 0 {
		r.GPUs = len(t.GPUs)
		for _, id := range t.GPUs {
			if s, ok := c.gpus[id]; ok {
				r.CUDAMemUsed += s.MemUsed
				r.CUDAMemTotal += s.MemTotal
				r.CUDAUtil += uint64(s.Util)
			}
		}
	}
	c.mu.Unlock()
	e.stats.Update(now, r)
	c.mu.Lock()
	e.reading = r
	c.mu.Unlock()
	return nil
}

// Kernel returns a kernel's metrics in wire form; false when the
// collector has none (not swept yet, or ended).
func (c *Collector) Kernel(id string) (map[string]MetricValue, bool) {
	c.mu.Lock()
	e, ok := c.kernels[id]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return e.stats.Metrics(), true
}

// Reading returns the last raw reading of a kernel (cumulative counters).
func (c *Collector) Reading(id string) (KernelReading, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.kernels[id]
	if !ok {
		return KernelReading{}, false
	}
	return e.reading, true
}

// KernelIDs lists the kernels that have metrics.
func (c *Collector) KernelIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.kernels))
	for id := range c.kernels {
		out = append(out, id)
	}
	return out
}

// Node returns the node's metrics of the last node sweep.
func (c *Collector) Node() NodeStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.node
}

// Close releases the cgroup files the collector holds open.
func (c *Collector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.kernels {
		_ = e.reader.Close()
		delete(c.kernels, id)
	}
}
