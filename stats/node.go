package stats

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// NodeOptions configures a Node.
type NodeOptions struct {
	// ProcRoot is where procfs is mounted; "" means "/proc". The Node
	// reads stat, meminfo, net/dev, filesystems and self/mountinfo
	// below it.
	ProcRoot string
	// ExcludeMountPrefixes are directories whose submounts are not
	// disks of the node: the agent's scratch root and image store,
	// which hold kernels' rootfs overlays and loop-mounted scratch
	// files. A mount on such a directory itself still counts.
	ExcludeMountPrefixes []string
}

// NodeStats is one sample of the node's metrics in upstream's Redis form
// (the value under the agent's id).
type NodeStats struct {
	// Node maps a metric key to its node-wide value.
	Node map[string]MetricValue
	// Devices maps a metric key to its values per device: per core
	// ("0", "1", ...) for cpu_util, "root" for mem, the source device
	// ("/dev/sda1") for disk and "node" for net_rx and net_tx.
	Devices map[string]map[string]MetricValue
}

// Node samples the host's own metrics: cpu_util, mem, disk, net_rx and
// net_tx. It is safe for concurrent use.
type Node struct {
	procRoot string
	exclude  []string
	statfs   statfsFunc

	mu sync.Mutex
	// lastCPU is when /proc/stat was last read; zero before the first.
	lastCPU time.Time
	node    map[string]*Metric
	devices map[string]map[string]*Metric
}

// NewNode returns a Node that has sampled nothing yet.
func NewNode(opts NodeOptions) *Node {
	root := opts.ProcRoot
	if root == "" {
		root = "/proc"
	}
	return &Node{
		procRoot: root,
		exclude:  append([]string(nil), opts.ExcludeMountPrefixes...),
		statfs:   statfs,
		node:     make(map[string]*Metric),
		devices:  make(map[string]map[string]*Metric),
	}
}

// Sample reads the host at now (from time.Now, so that intervals and
// rates use the monotonic clock) and returns every node metric. Each
// source is read on its own: when one fails, the error says which, and
// its metrics keep their previous values, as upstream reports a failed
// plugin's last values. Sample blocks while a mounted filesystem does not
// answer statfs.
func (n *Node) Sample(now time.Time) (NodeStats, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	errs := []error{n.sampleCPU(now), n.sampleMem(now), n.sampleDisk(now), n.sampleNet(now)}
	return n.snapshot(), errors.Join(errs...)
}

// sampleCPU observes cpu_util: per core, the busy (user + system) ms of
// the interval since the last sample, against the interval in ms; the
// node value is the sum over cores against the same interval, so its
// pct reaches 100 × cores. The first sample has an interval of 0.
func (n *Node) sampleCPU(now time.Time) error {
	cpus, err := parseFile(filepath.Join(n.procRoot, "stat"), parseProcStat)
	if err != nil {
		return fmt.Errorf("node cpu: %w", err)
	}
	var interval Decimal
	if !n.lastCPU.IsZero() {
		interval = decimalFrac(int64(now.Sub(n.lastCPU)), int64(time.Millisecond)).quantize(3)
	}
	n.lastCPU = now
	var total Decimal
	perCore := make(map[string]Measurement, len(cpus))
	for i, c := range cpus {
		ms := c.busyMs()
		total = total.add(ms)
		perCore[strconv.Itoa(i)] = Measurement{Value: ms, Capacity: ptr(interval)}
	}
	spec := Spec{Key: KeyCPUUtil, Type: Utilization, UnitHint: UnitMsec, Current: CurrentDiff}
	n.observe(spec, now, Measurement{Value: total, Capacity: ptr(interval)}, perCore)
	return nil
}

// sampleMem observes mem: total − available against the total.
func (n *Node) sampleMem(now time.Time) error {
	mem, err := parseFile(filepath.Join(n.procRoot, "meminfo"), parseMeminfo)
	if err != nil {
		return fmt.Errorf("node mem: %w", err)
	}
	m := Measurement{Value: DecimalFromUint(mem.used), Capacity: ptr(DecimalFromUint(mem.total))}
	spec := Spec{Key: KeyMem, Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"max"}}
	n.observe(spec, now, m, map[string]Measurement{"root": m})
	return nil
}

// sampleDisk observes disk: used against total space per partition,
// and their sums.
func (n *Node) sampleDisk(now time.Time) error {
	disks, err := readDisks(n.procRoot, n.exclude, n.statfs)
	if err != nil {
		return fmt.Errorf("node disk: %w", err)
	}
	var used, capacity Decimal
	perDisk := make(map[string]Measurement, len(disks))
	for dev, u := range disks {
		used, capacity = used.add(u.used), capacity.add(u.capacity)
		perDisk[dev] = Measurement{Value: u.used, Capacity: ptr(u.capacity)}
	}
	spec := Spec{Key: KeyDisk, Type: Gauge, UnitHint: UnitBytes}
	n.observe(spec, now, Measurement{Value: used, Capacity: ptr(capacity)}, perDisk)
	return nil
}

// sampleNet observes net_rx and net_tx: bytes per second over all
// interfaces but the loopback, without a capacity.
func (n *Node) sampleNet(now time.Time) error {
	t, err := parseFile(filepath.Join(n.procRoot, "net", "dev"), parseNetDev)
	if err != nil {
		return fmt.Errorf("node net: %w", err)
	}
	for _, c := range []struct {
		key   string
		bytes Decimal
	}{{KeyNetRx, t.rx}, {KeyNetTx, t.tx}} {
		m := Measurement{Value: c.bytes}
		spec := Spec{Key: c.key, Type: Rate, UnitHint: UnitBPS, Current: CurrentRate}
		n.observe(spec, now, m, map[string]Measurement{"node": m})
	}
	return nil
}

// observe adds one sample of a metric: the node-wide measurement and one
// per device. A device missing from perDevice (an unmounted disk, an
// offlined core) is dropped rather than reported with stale values.
func (n *Node) observe(spec Spec, now time.Time, total Measurement, perDevice map[string]Measurement) {
	if m, ok := n.node[spec.Key]; ok {
		m.Update(now, total)
	} else {
		n.node[spec.Key] = NewMetric(spec, now, total)
	}
	devs := n.devices[spec.Key]
	if devs == nil {
		devs = make(map[string]*Metric, len(perDevice))
		n.devices[spec.Key] = devs
	}
	for id, v := range perDevice {
		if m, ok := devs[id]; ok {
			m.Update(now, v)
		} else {
			devs[id] = NewMetric(spec, now, v)
		}
	}
	for id := range devs {
		if _, ok := perDevice[id]; !ok {
			delete(devs, id)
		}
	}
}

// snapshot returns the metrics in wire form; a metric without devices
// has no entry in Devices, as upstream.
func (n *Node) snapshot() NodeStats {
	s := NodeStats{
		Node:    make(map[string]MetricValue, len(n.node)),
		Devices: make(map[string]map[string]MetricValue, len(n.devices)),
	}
	for key, m := range n.node {
		s.Node[key] = m.Value()
	}
	for key, devs := range n.devices {
		if len(devs) == 0 {
			continue
		}
		out := make(map[string]MetricValue, len(devs))
		for id, m := range devs {
			out[id] = m.Value()
		}
		s.Devices[key] = out
	}
	return s
}
