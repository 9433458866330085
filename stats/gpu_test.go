package stats

import (
	"testing"
	"time"

	"github.com/baiagent/agent/gpu"
)

type noKernels struct{}

func (noKernels) Kernels() []KernelTarget                    { return nil }
func (noKernels) NetCounters(string) (uint64, uint64, error) { return 0, 0, nil }

type fakeGPUs []gpu.DeviceSample

func (f fakeGPUs) Sample() ([]gpu.DeviceSample, error) { return f, nil }

// TestCUDAMetrics: per-GPU cuda_mem and cuda_util on the node, their sums,
// a lost GPU left out; and a kernel's sums over its GPUs.
func TestCUDAMetrics(t *testing.T) {
	c, err := NewCollector(CollectorOptions{
		Source: noKernels{}, Node: NewNode(NodeOptions{}),
		GPU: fakeGPUs{
			{Index: 0, MemUsed: 1 << 30, MemTotal: 40 << 30, Util: 30, UtilSupported: true},
			{Index: 1, MemUsed: 3 << 30, MemTotal: 40 << 30, Util: 50, UtilSupported: true},
			{Index: 2, Lost: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.SweepNode()
	ns := c.Node()
	if got := ns.Devices[KeyCUDAMem]["1"]["current"]; got != "3221225472" {
		t.Errorf("cuda_mem of GPU 1: %q", got)
	}
	if got := ns.Devices[KeyCUDAUtil]["0"]["pct"]; got != "30" {
		t.Errorf("cuda_util pct of GPU 0: %q", got)
	}
	if _, ok := ns.Devices[KeyCUDAMem]["2"]; ok {
		t.Error("a lost GPU is reported")
	}
	if got := ns.Node[KeyCUDAMem]["capacity"]; got != "85899345920" {
		t.Errorf("node cuda_mem capacity %q", got)
	}
	if got := ns.Node[KeyCUDAUtil]["pct"]; got != "40" {
		t.Errorf("node cuda_util pct %q (80 of 200)", got)
	}

	ks := NewKernelStats()
	ks.Update(time.Now(), KernelReading{GPUs: 2, CUDAMemUsed: 4 << 30, CUDAMemTotal: 80 << 30, CUDAUtil: 80})
	m := ks.Metrics()
	if m[KeyCUDAMem]["current"] != "4294967296" || m[KeyCUDAUtil]["capacity"] != "200" {
		t.Errorf("kernel GPU metrics %v %v", m[KeyCUDAMem], m[KeyCUDAUtil])
	}
	if _, ok := kernelMetricsOf(KernelReading{})[KeyCUDAMem]; ok {
		t.Error("a kernel without GPUs reports cuda_mem")
	}
}

func kernelMetricsOf(r KernelReading) map[string]MetricValue {
	ks := NewKernelStats()
	ks.Update(time.Now(), r)
	return ks.Metrics()
}
