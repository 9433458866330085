package gpu

import (
	"errors"
	"fmt"
	"maps"
	"testing"
)

func TestHWInfo(t *testing.T) {
	drv := Driver{Version: "550.54.15", CUDAVersion: "12.4"}
	devs := []Device{
		{Index: 0, UUID: "GPU-a", Name: "NVIDIA A100-SXM4-40GB", BusID: "0000:07:00.0", MemoryBytes: 40 << 30, SMs: 108, NUMANode: 3, ComputeCapability: "8.0"},
		{Index: 1, UUID: "GPU-b", BusID: "0000:0f:00.0", NUMANode: -1},
		{Index: 2, UUID: "GPU-c", BusID: "0000:47:00.0", MIGEnabled: true},
		{Index: 3, UUID: "GPU-d", BusID: "0000:4e:00.0"},
		{Index: 4, UUID: "GPU-e", BusID: "0000:87:00.0"},
		{Index: 8, UUID: "MIG-x", BusID: "0000:47:00.0", MIG: &MIGDevice{ParentMinor: 2, GI: 1, CI: 0}},
	}
	samples := []DeviceSample{
		{Index: 0, UUID: "GPU-a", MemTotal: 40 << 30, UtilSupported: true},
		{Index: 1, UUID: "GPU-b", Lost: true, Err: errors.New("GPU GPU-b (index 1): memory info: ERROR_GPU_IS_LOST")},
		{Index: 2, UUID: "GPU-c"},
		{Index: 3, UUID: "GPU-d", Err: errors.New("timeout")},
		{Index: 8, UUID: "MIG-x"},
	}
	hw := HWInfo(devs, samples, drv)
	if len(hw) != len(devs) {
		t.Fatalf("got %d entries, want %d", len(hw), len(devs))
	}
	status := map[string]string{}
	for k, v := range hw {
		status[k] = v.Status
	}
	want := map[string]string{"0": "healthy", "1": "offline", "2": "healthy", "3": "degraded", "4": "healthy", "8": "healthy"}
	if !maps.Equal(status, want) {
		t.Errorf("statuses = %v, want %v", status, want)
	}
	if hw["1"].StatusInfo == "" || hw["3"].StatusInfo != "timeout" || hw["4"].StatusInfo == "" || hw["2"].StatusInfo == "" {
		t.Errorf("status_info: %q %q %q %q", hw["1"].StatusInfo, hw["3"].StatusInfo, hw["4"].StatusInfo, hw["2"].StatusInfo)
	}
	wantMeta := map[string]string{
		"uuid": "GPU-a", "name": "NVIDIA A100-SXM4-40GB", "bus_id": "0000:07:00.0",
		"memory": fmt.Sprint(40 << 30), "sms": "108", "numa_node": "3", "compute_capability": "8.0",
		"driver_version": "550.54.15", "cuda_version": "12.4", "mig": "disabled",
	}
	if !maps.Equal(hw["0"].Metadata, wantMeta) {
		t.Errorf("metadata = %v, want %v", hw["0"].Metadata, wantMeta)
	}
	if hw["1"].Metadata["numa_node"] != "-1" || hw["2"].Metadata["mig"] != "enabled" || hw["8"].Metadata["mig"] != "gi=1,ci=0" {
		t.Errorf("metadata: %v %v %v", hw["1"].Metadata, hw["2"].Metadata, hw["8"].Metadata)
	}
}

func TestPluginInfo(t *testing.T) {
	got := PluginInfo(Driver{Version: "550.54.15", CUDAVersion: "12.4"})
	want := map[string]any{"cuda_support": true, "nvidia_version": "550.54.15", "cuda_version": "12.4"}
	if !maps.Equal(got, want) {
		t.Errorf("PluginInfo = %v, want %v", got, want)
	}
	if got := PluginInfo(Driver{}); !maps.Equal(got, map[string]any{"cuda_support": false}) {
		t.Errorf("PluginInfo(zero) = %v", got)
	}
}

func TestAttachedDevice(t *testing.T) {
	got := AttachedDevice(Device{Index: 3, Name: "NVIDIA H100 80GB HBM3", SMs: 132, MemoryBytes: 80 << 30})
	if got["device_id"] != "3" || got["model_name"] != "NVIDIA H100 80GB HBM3" {
		t.Errorf("AttachedDevice = %v", got)
	}
	data, ok := got["data"].(map[string]any)
	if !ok || data["smp"] != 132 || data["mem"] != int64(80<<30) {
		t.Errorf("data = %#v", got["data"])
	}
}
