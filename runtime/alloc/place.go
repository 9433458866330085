package alloc

import "slices"

// pickCoresLocked chooses the cores for a request of need milli-cpu, EVENLY
// as upstream's DiscretePropertyAllocMap does for cpu: in rounds, each core
// with room takes one piece (a whole core, or the last fraction of the
// request), cores with the most room first and lower ids on ties. It
// returns the share of each chosen core, or nil when the free room is too
// fragmented for the request. It changes nothing.
// Preconditions: a.mu is held.
func (a *Allocator) pickCoresLocked(need int64) map[int]int64 {
	free := make(map[int]int64, len(a.cores))
	for _, c := range a.cores {
		free[c] = a.perCore - a.coreUsed[c]
	}
	order := slices.Clone(a.cores)
	shares := map[int]int64{}
	for need > 0 {
		slices.SortStableFunc(order, func(x, y int) int {
			switch {
			case free[x] > free[y]:
				return -1
			case free[x] < free[y]:
				return 1
			}
			return x - y
		})
		progress := false
		for _, c := range order {
			piece := min(need, milli)
			if piece == 0 {
				break
			}
			if free[c] < piece {
				continue
			}
			free[c] -= piece
			shares[c] += piece
			need -= piece
			progress = true
		}
		if !progress {
			return nil
		}
	}
	return shares
}

// spread divides quota milli-cpu over cpus for a restored kernel that
// comes without per-core shares: whole cores in order, round after round,
// the last fraction on the core whose turn it is.
func spread(quota int64, cpus []int) map[int]int64 {
	shares := make(map[int]int64, len(cpus))
	for i := 0; quota > 0; i = (i + 1) % len(cpus) {
		piece := min(quota, milli)
		shares[cpus[i]] += piece
		quota -= piece
	}
	return shares
}
