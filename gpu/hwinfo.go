package gpu

import (
	"fmt"
	"strconv"
)

// Hardware status values of upstream's gather_hwinfo.
const (
	StatusHealthy     = "healthy"
	StatusDegraded    = "degraded"
	StatusOffline     = "offline"
	StatusUnavailable = "unavailable"
)

// HWDevice is one entry of upstream's gather_hwinfo answer:
// {device_name: {status, status_info, metadata: {str: str}}}.
type HWDevice struct {
	Status     string            `json:"status" msgpack:"status"`
	StatusInfo string            `json:"status_info" msgpack:"status_info"`
	Metadata   map[string]string `json:"metadata" msgpack:"metadata"`
}

// DeviceID is the device id the manager sees: the Index as a string, as
// upstream's cuda_open uses CUDA indices.
func DeviceID(d Device) string { return strconv.Itoa(d.Index) }

// HWInfo describes devs for gather_hwinfo, keyed by DeviceID. The status
// comes from the device's sample in samples (matched by UUID): a lost GPU
// is offline, a failed read degraded, a good one healthy. A device with no
// sample is reported from discovery alone, as healthy, with status_info
// saying so. Every metadata value is a string, as the wire type demands.
func HWInfo(devs []Device, samples []DeviceSample, driver Driver) map[string]HWDevice {
	byUUID := make(map[string]DeviceSample, len(samples))
	for _, s := range samples {
		byUUID[s.UUID] = s
	}
	out := make(map[string]HWDevice, len(devs))
	for _, d := range devs {
		hw := HWDevice{Status: StatusHealthy, Metadata: hwMetadata(d, driver)}
		s, ok := byUUID[d.UUID]
		switch {
		case !ok:
			hw.StatusInfo = "no stats sample yet"
		case s.Lost:
			hw.Status = StatusOffline
			hw.StatusInfo = errText(s.Err, "GPU lost")
		case s.Err != nil:
			hw.Status = StatusDegraded
			hw.StatusInfo = s.Err.Error()
		case d.MIGEnabled:
			// Healthy, but not allocatable whole: say why it has no slot.
			hw.StatusInfo = "MIG enabled: used through its MIG devices"
		}
		out[DeviceID(d)] = hw
	}
	return out
}

func errText(err error, fallback string) string {
	if err == nil {
		return fallback
	}
	return err.Error()
}

func hwMetadata(d Device, driver Driver) map[string]string {
	mig := "disabled"
	switch {
	case d.MIG != nil:
		mig = fmt.Sprintf("gi=%d,ci=%d", d.MIG.GI, d.MIG.CI)
	case d.MIGEnabled:
		mig = "enabled"
	}
	return map[string]string{
		"uuid":               d.UUID,
		"name":               d.Name,
		"bus_id":             d.BusID,
		"memory":             strconv.FormatUint(d.MemoryBytes, 10),
		"sms":                strconv.Itoa(d.SMs),
		"numa_node":          strconv.Itoa(d.NUMANode),
		"compute_capability": d.ComputeCapability,
		"driver_version":     driver.Version,
		"cuda_version":       driver.CUDAVersion,
		"mig":                mig,
	}
}

// PluginInfo is upstream cuda_open's extra_info: cuda_support with the
// NVML driver version and the CUDA version ("12.4"). A zero Driver (NVML
// unavailable) gives {cuda_support: false}, as upstream does when its
// libraries are missing.
func PluginInfo(driver Driver) map[string]any {
	if driver.Version == "" {
		return map[string]any{"cuda_support": false}
	}
	return map[string]any{
		"cuda_support":   true,
		"nvidia_version": driver.Version,
		"cuda_version":   driver.CUDAVersion,
	}
}

// AttachedDevice is one entry of upstream's attached_devices for a kernel:
// {device_id, model_name, data: {smp: SMs, mem: bytes}}. mem is an integer
// (upstream's BinarySize is an int).
func AttachedDevice(d Device) map[string]any {
	return map[string]any{
		"device_id":  DeviceID(d),
		"model_name": d.Name,
		"data": map[string]any{
			"smp": d.SMs,
			"mem": int64(d.MemoryBytes),
		},
	}
}
