package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/runtime/alloc"
)

// envNVIDIALibDirs adds directories (colon-separated) where the NVIDIA
// driver's libraries may live outside the ld cache (e.g. a read-only
// /usr/local/nvidia on some GPU hosts); /usr/local/nvidia/lib{64,} are
// searched anyway.
const envNVIDIALibDirs = "BACKENDAI_NVIDIA_LIB_DIRS"

// gpuSupport is the node's GPUs: NVML kept open for the process, the
// discovered devices, and the binder that turns a kernel's GPUs into
// spec edits. A nil *gpuSupport is a node without GPU support.
type gpuSupport struct {
	nvml   *gpu.NVML
	devs   []gpu.Device // allocatable: full GPUs not in MIG mode, and MIG devices
	byID   map[string]gpu.Device
	driver gpu.Driver
	binder *gpu.Binder
	log    *slog.Logger
}

// openGPUs discovers the node's GPUs. Without NVML, or without any GPU,
// GPU support is off with one log line and nil is returned: that is not an
// error. A driver that answers but cannot be bound (device nodes or
// libraries missing) is an error, since kernels asking for GPUs would
// fail in a way the operator should see at start.
func openGPUs(log *slog.Logger, mask []string) (*gpuSupport, error) {
	roots := gpu.DefaultHostRoots()
	if extra := os.Getenv(envNVIDIALibDirs); extra != "" {
		roots.LibDirs = append(filepath.SplitList(extra), roots.LibDirs...)
	}
	n, err := gpu.Open(gpu.NewLibrary(nvmlPath(roots)), log)
	if err != nil {
		// Open has said why, in one line; the session keeps its logger
		// for later (a GPU falling off the bus).
		return nil, nil
	}
	devs, driver, err := gpu.Discover(n, gpu.DiscoverOptions{Mask: mask})
	if err != nil && len(devs) == 0 {
		_ = n.Close()
		log.Warn("GPU support off: discovery failed", "err", err)
		return nil, nil
	}
	if err != nil {
		log.Warn("some GPUs left out", "err", err)
	}
	var usable []gpu.Device
	for _, d := range devs {
		if d.MIGEnabled && d.MIG == nil {
			continue // its MIG devices are offered instead
		}
		usable = append(usable, d)
	}
	if len(usable) == 0 {
		_ = n.Close()
		log.Info("GPU support off", "reason", "no GPU found")
		return nil, nil
	}
	b, err := gpu.NewBinder(roots, driver)
	if err != nil {
		_ = n.Close()
		return nil, fmt.Errorf("GPU binding: %w", err)
	}
	g := &gpuSupport{nvml: n, devs: usable, byID: map[string]gpu.Device{}, driver: driver, binder: b, log: log}
	for _, d := range usable {
		g.byID[gpu.DeviceID(d)] = d
		log.Info("GPU found", "device_id", gpu.DeviceID(d), "name", d.Name, "uuid", d.UUID, "bus_id", d.BusID, "numa_node", d.NUMANode)
	}
	log.Info("GPU support on", "gpus", len(usable), "driver", driver.Version, "cuda", driver.CUDAVersion)
	return g, nil
}

// nvmlPath finds libnvidia-ml.so.1 through the ld cache, then in the
// extra library dirs; "" lets dlopen search as usual.
func nvmlPath(roots gpu.HostRoots) string {
	const lib = "libnvidia-ml.so.1"
	if p, ok, err := gpu.LookupLDCache(roots.LDCache, lib); err == nil && ok {
		return p
	}
	for _, d := range roots.LibDirs {
		if p := filepath.Join(d, lib); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Close ends the NVML session.
func (g *gpuSupport) Close() {
	if g != nil {
		_ = g.nvml.Close()
	}
}

// allocDevices are the GPUs as the allocator offers them.
func (g *gpuSupport) allocDevices() []alloc.Device {
	if g == nil {
		return nil
	}
	out := make([]alloc.Device, len(g.devs))
	for i, d := range g.devs {
		out[i] = alloc.Device{ID: gpu.DeviceID(d), NUMANode: d.NUMANode}
	}
	return out
}

// Edits is runtime.GPUBinder: the kernel's GPUs, in bus order, bound.
func (g *gpuSupport) Edits(ids []string, capabilities []string) (gpu.Edits, error) {
	devs := make([]gpu.Device, 0, len(ids))
	for _, id := range ids {
		d, ok := g.byID[id]
		if !ok {
			return gpu.Edits{}, fmt.Errorf("GPU %s: not on this node", id)
		}
		devs = append(devs, d)
	}
	slices.SortFunc(devs, func(a, b gpu.Device) int { return a.Index - b.Index })
	return g.binder.Edits(devs, capabilities)
}

// Sample is stats.GPUSampler.
func (g *gpuSupport) Sample() ([]gpu.DeviceSample, error) {
	return g.nvml.Sample(g.devs)
}

// HWInfo is gather_hwinfo's view of the GPUs.
func (g *gpuSupport) HWInfo() map[string]gpu.HWDevice {
	samples, _ := g.nvml.Sample(g.devs)
	return gpu.HWInfo(g.devs, samples, g.driver)
}

// PluginInfo is the heartbeat's compute_plugins["cuda"].
func (g *gpuSupport) PluginInfo() map[string]any { return gpu.PluginInfo(g.driver) }

// Attached is create_kernels' attached_devices["cuda"] for a kernel's GPUs.
func (g *gpuSupport) Attached(ids []string) []any {
	var out []any
	for _, id := range ids {
		if d, ok := g.byID[id]; ok {
			out = append(out, gpu.AttachedDevice(d))
		}
	}
	return out
}

// gpuMask reads config/plugins/accelerator/cuda/device_mask from etcd's
// plugin configuration: comma-separated UUIDs or indices.
func gpuMask(plugins map[string]any) []string {
	cuda, _ := plugins["cuda"].(map[string]any)
	v, _ := cuda["device_mask"].(string)
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var errNoGPUs = errors.New("this node has no GPU support (no NVML or no GPU)")
