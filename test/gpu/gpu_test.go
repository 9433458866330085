// Package gpu_test holds the GPU tier's tests of package gpu against the
// real NVML. They live outside package gpu because gpu is a leaf and may
// not import the test gates.
package gpu_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/test/testenv"
)

// TestGPUDiscover opens the host's NVML, discovers every GPU, prints what
// it found and samples each device once. It fails when NVML reports no
// GPU, so that a GPU run cannot pass on a machine without one.
func TestGPUDiscover(t *testing.T) {
	testenv.RequireGPU(t, gpu.Probe)

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := gpu.Open(gpu.NewLibrary(""), log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer n.Close()

	devs, drv, err := gpu.Discover(n, gpu.DiscoverOptions{})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if len(devs) == 0 {
		t.Fatal("Discover found no GPU")
	}
	t.Logf("driver %s, CUDA %s", drv.Version, drv.CUDAVersion)
	if drv.Version == "" || drv.CUDAVersion == "" {
		t.Errorf("driver = %+v, want both versions", drv)
	}
	for _, d := range devs {
		t.Logf("device %d: %+v", d.Index, d)
		if d.MIG != nil {
			t.Logf("  MIG: %+v", *d.MIG)
		}
		if d.UUID == "" || d.Name == "" || d.BusID == "" || d.MemoryBytes == 0 {
			t.Errorf("device %d lacks a required field: %+v", d.Index, d)
		}
		if _, err := os.Stat("/sys/bus/pci/devices/" + d.BusID); err != nil {
			t.Errorf("device %d: bus id %q not in sysfs: %v", d.Index, d.BusID, err)
		}
	}

	samples, err := n.Sample(devs)
	if err != nil {
		t.Fatalf("Sample: %v", err)
	}
	for _, s := range samples {
		t.Logf("sample %d: %+v metrics %+v", s.Index, s, s.Metrics())
		if s.Err != nil {
			t.Errorf("sample of device %d: %v", s.Index, s.Err)
		}
	}
	t.Logf("sum: %+v", gpu.SumMetrics(samples))
	for id, hw := range gpu.HWInfo(devs, samples, drv) {
		t.Logf("hwinfo %s: %+v", id, hw)
	}
	t.Logf("extra_info: %v", gpu.PluginInfo(drv))
}
