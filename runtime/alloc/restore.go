package alloc

import (
	"fmt"
	"maps"
	"math"
	"slices"
)

// Restore replaces the alloc maps with the allocations of the kernels
// recovered at startup (upstream's reconstruct_resource_usage). Each must
// name a distinct kernel, a positive CPUQuota and MemoryBytes, and a
// non-empty CPUs of this node's cores; CoreShares, when given, must cover
// exactly CPUs and add up to CPUQuota. Input that does not fit the node's
// capacity (per core, or in total) is an error wrapping ErrInsufficient;
// any other inconsistency wraps ErrInvalid. On error nothing changes.
func (a *Allocator) Restore(allocs []Allocation) error {
	known := make(map[int]bool, len(a.cores))
	for _, c := range a.cores {
		known[c] = true
	}
	kernels := make(map[string]held, len(allocs))
	coreUsed := map[int]int64{}
	devUsed := map[string]string{}
	var cpuUsed, memUsed int64
	for _, in := range allocs {
		h, err := restored(in, known)
		if err != nil {
			return fmt.Errorf("restore allocation of kernel %s: %w", in.KernelID, err)
		}
		if _, dup := kernels[in.KernelID]; dup {
			return fmt.Errorf("restore allocation of kernel %s: duplicate kernel: %w", in.KernelID, ErrInvalid)
		}
		kernels[in.KernelID] = h
		for _, d := range h.devices() {
			if _, ok := a.devIdx[d]; !ok {
				return fmt.Errorf("restore allocation of kernel %s: GPU %s is not on this node: %w", in.KernelID, d, ErrInvalid)
			}
			if other, dup := devUsed[d]; dup {
				return fmt.Errorf("restore allocation of kernel %s: GPU %s is held by kernel %s too: %w", in.KernelID, d, other, ErrInsufficient)
			}
			devUsed[d] = in.KernelID
		}
		for c, s := range h.shares {
			coreUsed[c] += s
			if coreUsed[c] > a.perCore {
				return fmt.Errorf("restore allocation of kernel %s: core %d holds %s of %s: %w",
					in.KernelID, c, formatMilli(coreUsed[c]), formatMilli(a.perCore), ErrInsufficient)
			}
		}
		cpuUsed += h.cpu
		memUsed += h.mem
	}
	if cpuUsed > a.cpuCap || memUsed > a.memCap {
		return fmt.Errorf("restore allocations: cpu %s of %s, mem %d of %d: %w",
			formatMilli(cpuUsed), formatMilli(a.cpuCap), memUsed, a.memCap, ErrInsufficient)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kernels, a.coreUsed, a.cpuUsed, a.memUsed, a.devUsed = kernels, coreUsed, cpuUsed, memUsed, devUsed
	return nil
}

// restored checks one recovered allocation and builds its record.
func restored(in Allocation, known map[int]bool) (held, error) {
	if in.KernelID == "" {
		return held{}, fmt.Errorf("empty kernel id: %w", ErrInvalid)
	}
	q := in.CPUQuota * milli
	if !(q >= 1) || math.IsInf(q, 0) || q > math.MaxInt64/2 {
		return held{}, fmt.Errorf("cpu quota %g: %w", in.CPUQuota, ErrInvalid)
	}
	cpu := int64(math.Round(q))
	if in.MemoryBytes <= 0 {
		return held{}, fmt.Errorf("memory %d: %w", in.MemoryBytes, ErrInvalid)
	}
	cpus := slices.Clone(in.CPUs)
	slices.Sort(cpus)
	if len(cpus) == 0 || len(slices.Compact(slices.Clone(cpus))) != len(cpus) {
		return held{}, fmt.Errorf("cpuset %v is empty or repeats a core: %w", in.CPUs, ErrInvalid)
	}
	for _, c := range cpus {
		if !known[c] {
			return held{}, fmt.Errorf("core %d is not available on this node: %w", c, ErrInvalid)
		}
	}
	shares, err := restoredShares(in.CoreShares, cpus, cpu)
	if err != nil {
		return held{}, err
	}
	slots := maps.Clone(in.Slots)
	if slots == nil {
		slots = map[string]string{SlotCPU: formatMilli(cpu), SlotMem: formatBytes(in.MemoryBytes)}
	}
	str := make(map[int]string, len(shares))
	for c, s := range shares {
		str[c] = formatMilli(s)
	}
	return held{
		alloc: Allocation{
			KernelID:    in.KernelID,
			Slots:       slots,
			CPUs:        cpus,
			CoreShares:  str,
			CPUQuota:    float64(cpu) / milli,
			MemoryBytes: in.MemoryBytes,
			Devices:     slices.Clone(in.Devices),
		},
		shares: shares,
		cpu:    cpu,
		mem:    in.MemoryBytes,
	}, nil
}

// restoredShares parses given per-core shares, or spreads the quota over
// the cpus when none are given.
func restoredShares(given map[int]string, cpus []int, cpu int64) (map[int]int64, error) {
	if given == nil {
		return spread(cpu, cpus), nil
	}
	if len(given) != len(cpus) {
		return nil, fmt.Errorf("core shares %v do not match cpuset %v: %w", given, cpus, ErrInvalid)
	}
	shares := make(map[int]int64, len(given))
	var sum int64
	for _, c := range cpus {
		raw, ok := given[c]
		if !ok {
			return nil, fmt.Errorf("core shares %v do not match cpuset %v: %w", given, cpus, ErrInvalid)
		}
		s, err := parseMilli(raw)
		if err != nil {
			return nil, fmt.Errorf("share of core %d %q: %w: %w", c, raw, err, ErrInvalid)
		}
		shares[c] = s
		sum += s
	}
	if sum != cpu {
		return nil, fmt.Errorf("core shares add up to %s, not the quota %s: %w", formatMilli(sum), formatMilli(cpu), ErrInvalid)
	}
	return shares, nil
}
