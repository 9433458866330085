package gpu

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

func discoverA100(t *testing.T, n *NVML) []Device {
	t.Helper()
	devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: t.TempDir()})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return devs
}

func TestSample(t *testing.T) {
	s := newA100(t)
	n := mustOpen(t, s, nil)
	devs := discoverA100(t, n)
	for round := range 2 {
		samples, err := n.Sample(devs)
		if err != nil {
			t.Fatalf("Sample: %v", err)
		}
		if len(samples) != 8 {
			t.Fatalf("got %d samples", len(samples))
		}
		for i, sm := range samples {
			want := DeviceSample{
				Index: i, UUID: devs[i].UUID,
				MemUsed: uint64(i) * 1024 * mib, MemTotal: 40960 * mib,
				Util: uint32(10*i + 5), UtilSupported: true,
			}
			if sm != want {
				t.Errorf("round %d sample %d = %+v, want %+v", round, i, sm, want)
			}
		}
	}
	if got := len(s.DeviceGetHandleByUUIDCalls()); got != 8 {
		t.Errorf("DeviceGetHandleByUUID called %d times over two rounds, want 8 (cached)", got)
	}
}

func TestSampleLostGPU(t *testing.T) {
	s := newA100(t)
	var buf bytes.Buffer
	n := mustOpen(t, s, testLogger(&buf))
	devs := discoverA100(t, n)
	// The GPU at index 3 falls off the bus after discovery.
	mockDev(s, 3).GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST
	}
	for range 2 {
		samples, err := n.Sample(devs)
		if err != nil {
			t.Fatalf("Sample: %v", err)
		}
		for i, sm := range samples {
			if i == 3 {
				if !sm.Lost || !errors.Is(sm.Err, nvml.ERROR_GPU_IS_LOST) || !strings.Contains(sm.Err.Error(), devs[3].UUID) {
					t.Errorf("lost GPU sample = %+v", sm)
				}
				if sm.Metrics() != nil {
					t.Errorf("lost GPU has metrics %v", sm.Metrics())
				}
				continue
			}
			if sm.Lost || sm.Err != nil || sm.MemTotal == 0 {
				t.Errorf("sample %d = %+v; the others must still be read", i, sm)
			}
		}
	}
	if got := strings.Count(buf.String(), `msg="GPU lost"`); got != 1 {
		t.Errorf("GPU lost logged %d times over two rounds, want once:\n%s", got, buf.String())
	}
	// The lost GPU's handle is dropped and looked up again: 8 + 1.
	if got := len(s.DeviceGetHandleByUUIDCalls()); got != 9 {
		t.Errorf("DeviceGetHandleByUUID calls = %d, want 9", got)
	}
}

func TestSampleGoneAndTransient(t *testing.T) {
	s := newA100(t)
	n := mustOpen(t, s, nil)
	devs := discoverA100(t, n)
	byUUID := s.DeviceGetHandleByUUIDFunc
	s.DeviceGetHandleByUUIDFunc = func(uuid string) (nvml.Device, nvml.Return) {
		if uuid == devs[0].UUID {
			return nil, nvml.ERROR_NOT_FOUND // no longer enumerated
		}
		return byUUID(uuid)
	}
	mockDev(s, 1).GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{}, nvml.ERROR_TIMEOUT
	}
	samples, err := n.Sample(devs[:3])
	if err != nil {
		t.Fatal(err)
	}
	if !samples[0].Lost || !errors.Is(samples[0].Err, nvml.ERROR_NOT_FOUND) {
		t.Errorf("gone GPU = %+v", samples[0])
	}
	if samples[1].Lost || !errors.Is(samples[1].Err, nvml.ERROR_TIMEOUT) {
		t.Errorf("transient failure = %+v, want Err and not Lost", samples[1])
	}
	if samples[2].Err != nil {
		t.Errorf("healthy GPU = %+v", samples[2])
	}
}

func TestSampleMIG(t *testing.T) {
	s := newA100(t)
	addMIG(t, s, 2)
	n := mustOpen(t, s, nil)
	devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: fakeCaps(t, 2, 1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	samples, err := n.Sample(devs[8:])
	if err != nil {
		t.Fatal(err)
	}
	for _, sm := range samples {
		if sm.Err != nil || sm.UtilSupported || sm.MemUsed != 100*mib {
			t.Errorf("MIG sample = %+v", sm)
		}
		ms := sm.Metrics()
		if len(ms) != 1 || ms[0].Key != MetricMem {
			t.Errorf("MIG metrics = %+v, want cuda_mem only", ms)
		}
	}
}

func TestMetrics(t *testing.T) {
	a := DeviceSample{Index: 0, UUID: "GPU-a", MemUsed: 1 << 30, MemTotal: 40 << 30, Util: 30, UtilSupported: true}
	b := DeviceSample{Index: 1, UUID: "GPU-b", MemUsed: 2 << 30, MemTotal: 40 << 30, Util: 50, UtilSupported: true}
	mig := DeviceSample{Index: 8, UUID: "MIG-x", MemUsed: 1 << 20, MemTotal: 5 << 30}
	dead := DeviceSample{Index: 2, UUID: "GPU-c", Lost: true, Err: errors.New("lost")}

	want := []Metric{
		{Key: MetricMem, Current: 1 << 30, Capacity: 40 << 30, UnitHint: UnitBytes},
		{Key: MetricUtil, Current: 30, Capacity: 100, UnitHint: UnitPercent},
	}
	if got := a.Metrics(); !slices.Equal(got, want) {
		t.Errorf("Metrics = %+v, want %+v", got, want)
	}
	want = []Metric{
		{Key: MetricMem, Current: 3<<30 + 1<<20, Capacity: 85 << 30, UnitHint: UnitBytes},
		{Key: MetricUtil, Current: 80, Capacity: 200, UnitHint: UnitPercent},
	}
	if got := SumMetrics([]DeviceSample{a, b, mig, dead}); !slices.Equal(got, want) {
		t.Errorf("SumMetrics = %+v, want %+v", got, want)
	}
	if got := SumMetrics([]DeviceSample{dead}); got != nil {
		t.Errorf("SumMetrics(dead) = %+v, want none", got)
	}
}

func TestSampleAfterClose(t *testing.T) {
	s := newA100(t)
	n := mustOpen(t, s, nil)
	devs := discoverA100(t, n)
	n.Close()
	if _, err := n.Sample(devs); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Sample after Close: %v", err)
	}
	if got := len(s.DeviceGetHandleByUUIDCalls()); got != 0 {
		t.Errorf("Sample after Close called into the library %d times", got)
	}
}
