package gpu

// Device is one NVIDIA GPU (or MIG device) of the node as discovery found
// it. Full GPUs are ordered by PCI bus id and Index is the position in
// that order (the device id the manager sees, and what CUDA_DEVICE_ORDER=
// PCI_BUS_ID numbers), not necessarily NVML's index; MIG devices follow,
// numbered on from there. Indices are given before device_mask applies, so
// a masked device leaves a gap rather than renumbering the others.
type Device struct {
	Index int
	// NVMLIndex is NVML's own index of the device.
	NVMLIndex int
	UUID      string // "GPU-..." (or "MIG-..." for a MIG device)
	Name      string // e.g. "NVIDIA A100-SXM4-40GB"
	// BusID is the PCI bus id in sysfs form, lower case: "0000:07:00.0".
	BusID string
	// Minor is the minor number of /dev/nvidia<Minor>.
	Minor int
	// MemoryBytes is the total memory.
	MemoryBytes uint64
	// SMs is the multiprocessor count; 0 when NVML does not tell.
	SMs int
	// NUMANode is the device's NUMA node from sysfs; -1 when unknown.
	NUMANode int
	// ComputeCapability is "major.minor", e.g. "8.0".
	ComputeCapability string
	// MIGEnabled is the current MIG mode of a full GPU.
	MIGEnabled bool
	// MIG describes a MIG device: its parent and its access caps. Nil for
	// a full GPU.
	MIG *MIGDevice
}

// MIGDevice is what binding a MIG device needs beyond its parent GPU.
type MIGDevice struct {
	// ParentMinor is the minor of the parent GPU's /dev/nvidia<N>.
	ParentMinor int
	// GI and CI are the GPU and compute instance ids.
	GI, CI int
	// CapMinors are the minors of the /dev/nvidia-caps/nvidia-cap<N>
	// nodes granting access to the GI and the CI.
	CapMinors []int
}

// Driver is the host's NVIDIA driver as NVML reports it.
type Driver struct {
	// Version is the kernel driver version, e.g. "550.54.15": the suffix
	// of its user-space libraries (libcuda.so.550.54.15).
	Version string
	// CUDAVersion is the CUDA driver API version, e.g. "12.4".
	CUDAVersion string
}
