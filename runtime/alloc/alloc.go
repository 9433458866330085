package alloc

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Slot names of the intrinsic resources.
const (
	SlotCPU = "cpu"
	SlotMem = "mem"
	// SlotCUDADevice is upstream's cuda.device: whole GPUs, counted.
	SlotCUDADevice = "cuda.device"
)

// Errors of the allocator. Allocate wraps exactly one of them when it fails,
// so that callers can map them to the manager's error classes.
var (
	// ErrInsufficient is upstream's InsufficientResource: a slot has not
	// enough free capacity (or no set of cores fits the request).
	ErrInsufficient = errors.New("insufficient resource")
	// ErrUnknownSlot is a non-zero request for a slot this node lacks.
	ErrUnknownSlot = errors.New("unknown resource slot")
	// ErrInvalid is a malformed request: a missing or zero cpu/mem slot, an
	// amount that is not a finite non-negative decimal.
	ErrInvalid = errors.New("invalid resource request")
	// ErrAllocated is a second Allocate for a kernel that holds resources.
	ErrAllocated = errors.New("kernel already has an allocation")
)

// Options describe the node's resources and the [resource] settings.
type Options struct {
	// Cores are the available CPU core ids (HostCores).
	Cores []int
	// MemoryBytes is the total memory (HostMemory).
	MemoryBytes int64
	// ReservedCPU is reserved-cpu: subtracted from the reported cpu count.
	// As upstream, no core is excluded from cpusets because of it.
	ReservedCPU int
	// ReservedMem is reserved-mem, in bytes.
	ReservedMem int64
	// MemAlign is memory-align-size: the usable memory, total less
	// reserved, is rounded down to a multiple of it (0: no rounding).
	MemAlign int64
	// CPUOvercommit and MemOvercommit are the overcommit factors
	// (BACKEND_CPU_OVERCOMMIT_FACTOR, BACKEND_MEM_OVERCOMMIT_FACTOR); 0
	// means 1. A core holds CPUOvercommit units of cpu.
	CPUOvercommit, MemOvercommit float64
	// Devices are the node's GPUs (offered as the cuda.device slot), in
	// the order of their ids' preference (PCI bus order).
	Devices []Device
	// CoreNodes maps a core to its NUMA node (HostCoreNodes); devices on
	// the nodes of a kernel's cores are preferred. Nil: no preference.
	CoreNodes map[int]int
}

// Device is one allocatable GPU.
type Device struct {
	// ID is the device id the manager and resource.txt see (its index
	// in PCI bus order, as a string).
	ID string
	// NUMANode is the device's NUMA node, -1 when unknown.
	NUMANode int
}

// Allocation is what one kernel holds.
type Allocation struct {
	// KernelID names the kernel.
	KernelID string
	// Slots are the requested slots, amounts as normalised decimal strings
	// ("cpu": "2", "mem": "1073741824"); zero-amount slots of other devices
	// are kept as "0", for resource.txt's SLOTS line.
	Slots map[string]string
	// CPUs are the chosen cores, sorted: the kernel's cpuset.
	CPUs []int
	// CoreShares is the cpu amount held on each core of CPUs, as a
	// normalised decimal string: resource.txt's CPU_SHARES ("0": "1"). On
	// Restore it may be nil: the quota is then spread over CPUs one core at
	// a time, in order.
	CoreShares map[int]string
	// CPUQuota is the cpu slot's amount, in cores (the CFS quota).
	CPUQuota float64
	// MemoryBytes is the mem slot's amount: the memory limit.
	MemoryBytes int64
	// Devices are the ids of the GPUs held (cuda.device), in id order.
	Devices []string `json:",omitempty"`
}

// held is the allocator's record of one kernel, in internal units.
type held struct {
	alloc  Allocation
	shares map[int]int64 // milli-cpu per core
	cpu    int64         // milli-cpu
	mem    int64         // bytes
}

// devices returns the GPUs an allocation holds.
func (h held) devices() []string { return h.alloc.Devices }

// Allocator keeps the alloc maps of the node. It is safe for concurrent use.
type Allocator struct {
	cores   []int // sorted
	perCore int64 // milli-cpu capacity of each core
	cpuCap  int64 // reported cpu capacity, milli-cpu
	memCap  int64 // reported mem capacity, bytes
	devices []Device
	devIdx  map[string]int // device id → position in devices
	nodes   map[int]int    // core → NUMA node

	mu       sync.Mutex
	coreUsed map[int]int64 // milli-cpu held on each core
	cpuUsed  int64
	memUsed  int64
	kernels  map[string]held
	devUsed  map[string]string // device id → kernel id
}

// New builds an empty allocator over the node's resources.
func New(o Options) (*Allocator, error) {
	if len(o.Cores) == 0 {
		return nil, errors.New("new allocator: no cpu cores")
	}
	cores := slices.Clone(o.Cores)
	slices.Sort(cores)
	for i, c := range cores {
		if c < 0 || (i > 0 && cores[i-1] == c) {
			return nil, fmt.Errorf("new allocator: invalid or duplicate core id %d", c)
		}
	}
	if o.MemoryBytes <= 0 {
		return nil, fmt.Errorf("new allocator: memory %d is not positive", o.MemoryBytes)
	}
	if o.ReservedCPU < 0 || o.ReservedMem < 0 || o.MemAlign < 0 {
		return nil, fmt.Errorf("new allocator: reserved cpu %d, reserved mem %d and alignment %d must not be negative",
			o.ReservedCPU, o.ReservedMem, o.MemAlign)
	}
	cpuOC, err := factor(o.CPUOvercommit)
	if err != nil {
		return nil, fmt.Errorf("new allocator: cpu overcommit: %w", err)
	}
	memOC, err := factor(o.MemOvercommit)
	if err != nil {
		return nil, fmt.Errorf("new allocator: mem overcommit: %w", err)
	}
	perCore := int64(math.Round(cpuOC * milli))
	if perCore < 1 {
		return nil, fmt.Errorf("new allocator: cpu overcommit %g leaves no capacity per core", cpuOC)
	}
	cpuCap := int64(len(cores))*perCore - int64(o.ReservedCPU)*milli
	if cpuCap <= 0 {
		return nil, fmt.Errorf("new allocator: reserved cpu %d leaves no cpu of %s", o.ReservedCPU, formatMilli(int64(len(cores))*perCore))
	}
	scanned := o.MemoryBytes
	if memOC != 1 {
		scanned = int64(math.Floor(float64(o.MemoryBytes) * memOC))
	}
	memCap := scanned - o.ReservedMem
	if o.MemAlign > 0 && memCap > 0 {
		memCap -= memCap % o.MemAlign
	}
	if memCap <= 0 {
		return nil, fmt.Errorf("new allocator: reserved mem %d and alignment %d leave no memory of %d", o.ReservedMem, o.MemAlign, scanned)
	}
	devIdx := make(map[string]int, len(o.Devices))
	for i, d := range o.Devices {
		if _, dup := devIdx[d.ID]; dup || d.ID == "" {
			return nil, fmt.Errorf("new allocator: empty or duplicate device id %q", d.ID)
		}
		devIdx[d.ID] = i
	}
	return &Allocator{
		cores:    cores,
		perCore:  perCore,
		cpuCap:   cpuCap,
		memCap:   memCap,
		devices:  slices.Clone(o.Devices),
		devIdx:   devIdx,
		nodes:    maps.Clone(o.CoreNodes),
		coreUsed: map[int]int64{},
		kernels:  map[string]held{},
		devUsed:  map[string]string{},
	}, nil
}

// factor checks an overcommit factor; 0 means 1.
func factor(f float64) (float64, error) {
	switch {
	case f == 0:
		return 1, nil
	case f < 0 || math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Errorf("invalid factor %g", f)
	}
	return f, nil
}

// Capacity is the capacity reported to the manager: cpu is cores times the
// overcommit factor less reserved-cpu, mem the aligned usable bytes.
func (a *Allocator) Capacity() map[string]string {
	c := map[string]string{SlotCPU: formatMilli(a.cpuCap), SlotMem: formatBytes(a.memCap)}
	if len(a.devices) > 0 {
		c[SlotCUDADevice] = strconv.Itoa(len(a.devices))
	}
	return c
}

// Usage is the total currently allocated, per slot.
func (a *Allocator) Usage() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := map[string]string{SlotCPU: formatMilli(a.cpuUsed), SlotMem: formatBytes(a.memUsed)}
	if len(a.devices) > 0 {
		u[SlotCUDADevice] = strconv.Itoa(len(a.devUsed))
	}
	return u
}

// Allocate reserves slots for a kernel, all or nothing. slots must hold a
// positive "cpu" and "mem"; other slots are accepted only with a zero
// amount. The error wraps ErrInvalid, ErrUnknownSlot, ErrAllocated or
// ErrInsufficient (naming each short slot, requested against free).
func (a *Allocator) Allocate(kernelID string, slots map[string]string) (Allocation, error) {
	if kernelID == "" {
		return Allocation{}, fmt.Errorf("allocate: empty kernel id: %w", ErrInvalid)
	}
	cpu, mem, gpus, norm, err := a.parseRequest(slots)
	if err != nil {
		return Allocation{}, fmt.Errorf("allocate for kernel %s: %w", kernelID, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.kernels[kernelID]; ok {
		return Allocation{}, fmt.Errorf("allocate for kernel %s: %w", kernelID, ErrAllocated)
	}
	var short []string
	if free := a.cpuCap - a.cpuUsed; cpu > free {
		short = append(short, fmt.Sprintf("cpu: requested %s, free %s", formatMilli(cpu), formatMilli(free)))
	}
	if free := a.memCap - a.memUsed; mem > free {
		short = append(short, fmt.Sprintf("mem: requested %d, free %d", mem, free))
	}
	if free := int64(len(a.devices) - len(a.devUsed)); gpus > free {
		short = append(short, fmt.Sprintf("%s: requested %d, free %d", SlotCUDADevice, gpus, free))
	}
	var shares map[int]int64
	if len(short) == 0 {
		if shares = a.pickCoresLocked(cpu); shares == nil {
			short = append(short, fmt.Sprintf("cpu: requested %s, free %s, but no %d cores have room for it",
				formatMilli(cpu), formatMilli(a.cpuCap-a.cpuUsed), min((cpu+milli-1)/milli, int64(len(a.cores)))))
		}
	}
	if len(short) > 0 {
		return Allocation{}, fmt.Errorf("allocate for kernel %s: %s: %w", kernelID, strings.Join(short, "; "), ErrInsufficient)
	}
	h := newHeld(kernelID, norm, shares, cpu, mem)
	h.alloc.Devices = a.pickDevicesLocked(gpus, h.alloc.CPUs)
	a.commitLocked(h)
	return h.copy(), nil
}

// Release frees what a kernel holds; it reports whether it held anything.
func (a *Allocator) Release(kernelID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.kernels[kernelID]
	if !ok {
		return false
	}
	for c, s := range h.shares {
		if a.coreUsed[c] -= s; a.coreUsed[c] == 0 {
			delete(a.coreUsed, c)
		}
	}
	a.cpuUsed -= h.cpu
	a.memUsed -= h.mem
	for _, d := range h.devices() {
		delete(a.devUsed, d)
	}
	delete(a.kernels, kernelID)
	return true
}

// parseRequest checks requested slots and returns the cpu (milli), mem
// (bytes) and cuda.device (whole GPUs) amounts and the normalised slots.
func (a *Allocator) parseRequest(slots map[string]string) (cpu, mem, gpus int64, norm map[string]string, err error) {
	norm = make(map[string]string, len(slots))
	for _, name := range slices.Sorted(maps.Keys(slots)) {
		raw := slots[name]
		switch name {
		case SlotCPU:
			if cpu, err = parseMilli(raw); err != nil {
				return 0, 0, 0, nil, fmt.Errorf("slot cpu: amount %q: %w: %w", raw, err, ErrInvalid)
			}
			norm[name] = formatMilli(cpu)
		case SlotMem:
			if mem, err = parseBytes(raw); err != nil {
				return 0, 0, 0, nil, fmt.Errorf("slot mem: amount %q: %w: %w", raw, err, ErrInvalid)
			}
			norm[name] = formatBytes(mem)
		default:
			r, perr := parseDecimal(raw)
			if perr != nil {
				return 0, 0, 0, nil, fmt.Errorf("slot %s: amount %q: %w: %w", name, raw, perr, ErrInvalid)
			}
			if r.Sign() == 0 {
				norm[name] = "0"
				continue
			}
			if name != SlotCUDADevice || len(a.devices) == 0 {
				return 0, 0, 0, nil, fmt.Errorf("slot %s (requested %s): %w", name, raw, ErrUnknownSlot)
			}
			if !r.IsInt() || r.Sign() < 0 || !r.Num().IsInt64() {
				return 0, 0, 0, nil, fmt.Errorf("slot %s: amount %q: whole GPUs only (fractional sharing is not offered): %w", name, raw, ErrInvalid)
			}
			gpus = r.Num().Int64()
			norm[name] = strconv.FormatInt(gpus, 10)
		}
	}
	for _, s := range []struct {
		name string
		v    int64
	}{{SlotCPU, cpu}, {SlotMem, mem}} {
		if s.v == 0 {
			return 0, 0, 0, nil, fmt.Errorf("slot %s: missing or zero: %w", s.name, ErrInvalid)
		}
	}
	return cpu, mem, gpus, norm, nil
}

// newHeld builds the record of a kernel from its shares.
func newHeld(kernelID string, slots map[string]string, shares map[int]int64, cpu, mem int64) held {
	cpus := slices.Sorted(maps.Keys(shares))
	str := make(map[int]string, len(shares))
	for c, s := range shares {
		str[c] = formatMilli(s)
	}
	return held{
		alloc: Allocation{
			KernelID:    kernelID,
			Slots:       slots,
			CPUs:        cpus,
			CoreShares:  str,
			CPUQuota:    float64(cpu) / milli,
			MemoryBytes: mem,
		},
		shares: shares,
		cpu:    cpu,
		mem:    mem,
	}
}

// commitLocked adds a kernel's record to the maps.
// Preconditions: a.mu is held; the kernel holds nothing yet.
func (a *Allocator) commitLocked(h held) {
	for c, s := range h.shares {
		a.coreUsed[c] += s
	}
	a.cpuUsed += h.cpu
	a.memUsed += h.mem
	for _, d := range h.devices() {
		a.devUsed[d] = h.alloc.KernelID
	}
	a.kernels[h.alloc.KernelID] = h
}

// pickDevicesLocked chooses n free GPUs, those on the NUMA nodes of the
// kernel's cores first (the more of its cores on a node, the better),
// then in id order. The caller checked that n are free.
func (a *Allocator) pickDevicesLocked(n int64, cpus []int) []string {
	if n == 0 {
		return nil
	}
	onNode := map[int]int{}
	for _, c := range cpus {
		if node, ok := a.nodes[c]; ok {
			onNode[node]++
		}
	}
	var free []int
	for i, d := range a.devices {
		if _, used := a.devUsed[d.ID]; !used {
			free = append(free, i)
		}
	}
	slices.SortStableFunc(free, func(x, y int) int {
		return onNode[a.devices[y].NUMANode] - onNode[a.devices[x].NUMANode]
	})
	picked := free[:n]
	slices.Sort(picked)
	ids := make([]string, len(picked))
	for i, p := range picked {
		ids[i] = a.devices[p].ID
	}
	return ids
}

// copy returns the Allocation with its own maps and slices.
func (h held) copy() Allocation {
	out := h.alloc
	out.Slots = maps.Clone(h.alloc.Slots)
	out.CPUs = slices.Clone(h.alloc.CPUs)
	out.CoreShares = maps.Clone(h.alloc.CoreShares)
	out.Devices = slices.Clone(h.alloc.Devices)
	return out
}
