package configs

// Resource is the [resource] section: what the agent keeps for the host and
// how devices are allocated to kernels.
type Resource struct {
	// ReservedCPU is the number of cores subtracted from the reported cpu
	// slot.
	ReservedCPU int `toml:"reserved-cpu"`
	// ReservedMem is the memory subtracted from the reported mem slot.
	ReservedMem BinarySize `toml:"reserved-mem"`
	// ReservedDisk is disk space kept for the host (unused upstream).
	ReservedDisk BinarySize `toml:"reserved-disk"`
	// MemoryAlignSize is the granularity the reported memory is rounded
	// down to.
	MemoryAlignSize BinarySize `toml:"memory-align-size"`
	// AllocationOrder is the order device kinds are allocated in.
	AllocationOrder []string `toml:"allocation-order"`
	// AffinityPolicy is "INTERLEAVED" or "PREFER_SINGLE_NODE".
	AffinityPolicy string `toml:"affinity-policy"`
	// AllocationMode is "shared", "auto-split" or "manual".
	AllocationMode string `toml:"allocation-mode"`
	// Allocations is [resource.allocations], required in manual mode and
	// rejected otherwise.
	Allocations *Allocations `toml:"allocations"`
}

// Allocations is [resource.allocations]: the resources this agent may hand
// out in manual allocation mode.
type Allocations struct {
	// CPU is the number of cores.
	CPU int `toml:"cpu" cfg:"required"`
	// Mem is the amount of memory.
	Mem BinarySize `toml:"mem" cfg:"required"`
	// Devices maps slot names (such as "cuda.device" or "cuda.mem") to
	// decimal amounts, kept as written.
	Devices map[string]string `toml:"devices" cfg:"slots"`
}
