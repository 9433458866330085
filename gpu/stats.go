package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Upstream's metric keys and unit hints for GPUs (cuda_open's stats).
const (
	MetricMem  = "cuda_mem"  // GAUGE, bytes used; capacity total bytes
	MetricUtil = "cuda_util" // USAGE, percent; capacity 100 per GPU

	UnitBytes   = "bytes"
	UnitPercent = "percent"
)

// DeviceSample is one reading of one device.
type DeviceSample struct {
	// Index and UUID identify the device as Discover returned it.
	Index int
	UUID  string
	// MemUsed and MemTotal are the device memory in bytes.
	MemUsed, MemTotal uint64
	// Util is the GPU utilisation in percent over NVML's last sample
	// period; meaningful only when UtilSupported (MIG devices have none).
	Util          uint32
	UtilSupported bool
	// Lost is set when the GPU is gone (fallen off the bus, needs a reset,
	// no longer enumerated): it will not come back without a reset.
	Lost bool
	// Err is why this device could not be read; nil on success. The other
	// fields except Index and UUID are then not meaningful.
	Err error
}

// Metric is one upstream metric value of a device or a sum of devices.
type Metric struct {
	Key      string // MetricMem or MetricUtil
	Current  uint64
	Capacity uint64
	UnitHint string // UnitBytes or UnitPercent
}

// Sample reads memory and utilisation of devs. A device that fails is
// marked in its sample (Err, and Lost when the GPU is gone) and the others
// are still read; the error is non-nil only when NVML itself is unavailable.
// Handles are looked up by UUID once and cached; a lost GPU's handle is
// dropped so that a later sample looks it up afresh.
func (n *NVML) Sample(devs []Device) ([]DeviceSample, error) {
	if err := n.acquire(); err != nil {
		return nil, err
	}
	defer n.mu.RUnlock()
	out := make([]DeviceSample, len(devs))
	for i, d := range devs {
		out[i] = n.sampleOne(d)
	}
	return out, nil
}

func (n *NVML) sampleOne(d Device) DeviceSample {
	s := DeviceSample{Index: d.Index, UUID: d.UUID}
	h, ret := n.handle(d.UUID)
	if ret != nvml.SUCCESS {
		// NOT_FOUND: no device with this UUID any more.
		return n.failed(s, "handle", ret, lost(ret) || ret == nvml.ERROR_NOT_FOUND)
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return n.failed(s, "memory info", ret, lost(ret))
	}
	s.MemUsed, s.MemTotal = mem.Used, mem.Total
	u, ret := h.GetUtilizationRates()
	switch {
	case ret == nvml.SUCCESS:
		s.Util, s.UtilSupported = u.Gpu, true
	case unsupported(ret):
	default:
		return n.failed(s, "utilization", ret, lost(ret))
	}
	n.hmu.Lock()
	delete(n.lostLogged, d.UUID)
	n.hmu.Unlock()
	return s
}

// handle returns the cached handle of uuid, looking it up on a miss.
func (n *NVML) handle(uuid string) (nvml.Device, nvml.Return) {
	n.hmu.Lock()
	h, ok := n.handles[uuid]
	n.hmu.Unlock()
	if ok {
		return h, nvml.SUCCESS
	}
	h, ret := n.lib.DeviceGetHandleByUUID(uuid)
	if ret != nvml.SUCCESS {
		return nil, ret
	}
	n.hmu.Lock()
	n.handles[uuid] = h
	n.hmu.Unlock()
	return h, nvml.SUCCESS
}

func (n *NVML) failed(s DeviceSample, what string, ret nvml.Return, isLost bool) DeviceSample {
	s.Lost = isLost
	s.Err = fmt.Errorf("GPU %s (index %d): %s: %w", s.UUID, s.Index, what, ret)
	if !isLost {
		n.log.Debug("GPU sample failed", "index", s.Index, "uuid", s.UUID, "err", s.Err)
		return s
	}
	n.hmu.Lock()
	delete(n.handles, s.UUID)
	first := !n.lostLogged[s.UUID]
	n.lostLogged[s.UUID] = true
	n.hmu.Unlock()
	if first {
		n.log.Error("GPU lost", "index", s.Index, "uuid", s.UUID, "err", s.Err)
	}
	return s
}

// Metrics returns the sample as upstream's per-device metrics: cuda_mem
// (used of total bytes) and, when the device reports it, cuda_util
// (percent of 100). A failed sample has none.
func (s DeviceSample) Metrics() []Metric {
	if s.Err != nil || s.Lost {
		return nil
	}
	ms := []Metric{{Key: MetricMem, Current: s.MemUsed, Capacity: s.MemTotal, UnitHint: UnitBytes}}
	if s.UtilSupported {
		ms = append(ms, Metric{Key: MetricUtil, Current: uint64(s.Util), Capacity: 100, UnitHint: UnitPercent})
	}
	return ms
}

// SumMetrics sums the metrics of several samples, as upstream reports a
// kernel's GPUs (and the node's): cuda_mem adds bytes and capacities,
// cuda_util adds percents with a capacity of 100 per device that reported
// utilisation. Failed samples are left out. cuda_util is absent when no
// sample had it; both are absent when no sample succeeded.
func SumMetrics(samples []DeviceSample) []Metric {
	mem := Metric{Key: MetricMem, UnitHint: UnitBytes}
	util := Metric{Key: MetricUtil, UnitHint: UnitPercent}
	var nMem, nUtil int
	for _, s := range samples {
		for _, m := range s.Metrics() {
			switch m.Key {
			case MetricMem:
				mem.Current += m.Current
				mem.Capacity += m.Capacity
				nMem++
			case MetricUtil:
				util.Current += m.Current
				util.Capacity += m.Capacity
				nUtil++
			}
		}
	}
	var ms []Metric
	if nMem > 0 {
		ms = append(ms, mem)
	}
	if nUtil > 0 {
		ms = append(ms, util)
	}
	return ms
}
