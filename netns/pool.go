package netns

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of the host port pool.
var (
	// ErrPortsExhausted means the pool has fewer free ports than a request
	// needs (ports still in their reuse cooldown do not count as free).
	ErrPortsExhausted = errors.New("host port pool exhausted")
	// ErrPortInUse means a host port is already held by another owner.
	ErrPortInUse = errors.New("host port in use")
	// ErrPortOutOfRange means a host port lies outside the pool's range.
	ErrPortOutOfRange = errors.New("host port out of range")
)

// poolEntry is one free port of the pool's FIFO list.
type poolEntry struct {
	port     int
	released time.Time // zero for a port never handed out
}

// PortPool hands out the host ports of container.port-range [start, end]
// (inclusive) to owners (kernel ids), as the upstream agent's port pool
// does (spec 6.7): free ports are kept in FIFO order, so the least recently
// released port is handed out first, and a released port is unavailable
// until its reuse cooldown has passed. TakeSpecific, like the assign_port
// RPC, ignores the cooldown.
//
// A PortPool is safe for concurrent use.
type PortPool struct {
	start, end int
	cooldown   time.Duration
	now        func() time.Time

	mu     sync.Mutex
	free   []poolEntry    // FIFO: front = released longest ago
	owners map[int]string // held port -> owner
}

// NewPortPool returns a pool over the host ports [start, end]. A released
// port becomes available again after cooldown; now is the clock (nil means
// time.Now).
func NewPortPool(start, end int, cooldown time.Duration, now func() time.Time) (*PortPool, error) {
	if start < 1 || end > 65535 || start > end {
		return nil, fmt.Errorf("new port pool [%d, %d]: %w", start, end, ErrPortOutOfRange)
	}
	if cooldown < 0 {
		return nil, fmt.Errorf("new port pool: negative cooldown %s", cooldown)
	}
	if now == nil {
		now = time.Now
	}
	p := &PortPool{
		start:    start,
		end:      end,
		cooldown: cooldown,
		now:      now,
		free:     make([]poolEntry, 0, end-start+1),
		owners:   make(map[int]string),
	}
	for port := start; port <= end; port++ {
		p.free = append(p.free, poolEntry{port: port})
	}
	return p, nil
}

// availableLocked reports whether a free entry's cooldown has passed.
// Precondition: p.mu is held.
func (p *PortPool) availableLocked(e poolEntry, now time.Time) bool {
	return e.released.IsZero() || !now.Before(e.released.Add(p.cooldown))
}

// Take hands n ports to owner: the least recently released available
// ports, in that order. It is all-or-nothing: when fewer than n ports are
// available it takes none and returns an error wrapping ErrPortsExhausted
// that names how many were free.
func (p *PortPool) Take(owner string, n int) ([]int, error) {
	if n < 0 {
		return nil, fmt.Errorf("take %d ports for %s: negative count", n, owner)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	picked := make([]int, 0, n)
	idx := make([]int, 0, n)
	for i, e := range p.free {
		if len(picked) == n {
			break
		}
		if p.availableLocked(e, now) {
			picked = append(picked, e.port)
			idx = append(idx, i)
		}
	}
	if len(picked) < n {
		return nil, fmt.Errorf("take %d ports for %s: %d free of %d: %w",
			n, owner, p.freeLocked(now), p.end-p.start+1, ErrPortsExhausted)
	}
	p.removeFreeLocked(idx)
	for _, port := range picked {
		p.owners[port] = owner
	}
	return picked, nil
}

// removeFreeLocked deletes the free entries at the ascending indexes idx.
// Precondition: p.mu is held.
func (p *PortPool) removeFreeLocked(idx []int) {
	if len(idx) == 0 {
		return
	}
	out := p.free[:idx[0]]
	next := 0
	for i := idx[0]; i < len(p.free); i++ {
		if next < len(idx) && idx[next] == i {
			next++
			continue
		}
		out = append(out, p.free[i])
	}
	p.free = out
}

// TakeSpecific hands the given port to owner, ignoring the reuse cooldown
// (the assign_port semantics). Taking a port the owner already holds is a
// no-op; a port held by another owner gives ErrPortInUse.
func (p *PortPool) TakeSpecific(owner string, port int) error {
	if port < p.start || port > p.end {
		return fmt.Errorf("take port %d for %s: range [%d, %d]: %w", port, owner, p.start, p.end, ErrPortOutOfRange)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.owners[port]; ok {
		if cur == owner {
			return nil
		}
		return fmt.Errorf("take port %d for %s: held by %s: %w", port, owner, cur, ErrPortInUse)
	}
	i := slices.IndexFunc(p.free, func(e poolEntry) bool { return e.port == port })
	p.removeFreeLocked([]int{i})
	p.owners[port] = owner
	return nil
}

// Release gives back every port of owner, in ascending order, and returns
// them. Their reuse cooldown starts now; they go to the back of the FIFO.
func (p *PortPool) Release(owner string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	ports := p.heldLocked(owner)
	now := p.now()
	for _, port := range ports {
		delete(p.owners, port)
		p.free = append(p.free, poolEntry{port: port, released: now})
	}
	return ports
}

// Restore marks ports as held after an agent restart: owners maps each
// running kernel to the host ports it holds. Ports outside the range are
// ignored (the range may have changed since the kernel started). It is
// all-or-nothing: a port held by another owner, or claimed by two owners,
// gives ErrPortInUse and changes nothing.
func (p *PortPool) Restore(owners map[string][]int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	claim := make(map[int]string)
	var errs []error
	for owner, ports := range owners {
		for _, port := range ports {
			if port < p.start || port > p.end {
				continue
			}
			if cur, ok := p.owners[port]; ok && cur != owner {
				errs = append(errs, fmt.Errorf("restore port %d for %s: held by %s: %w", port, owner, cur, ErrPortInUse))
				continue
			}
			if cur, ok := claim[port]; ok && cur != owner {
				errs = append(errs, fmt.Errorf("restore port %d for %s: claimed by %s: %w", port, owner, cur, ErrPortInUse))
				continue
			}
			claim[port] = owner
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	var idx []int
	for i, e := range p.free {
		if _, ok := claim[e.port]; ok {
			idx = append(idx, i)
		}
	}
	p.removeFreeLocked(idx)
	for port, owner := range claim {
		p.owners[port] = owner
	}
	return nil
}

// Free returns how many ports can be taken now (ports in their reuse
// cooldown are not counted).
func (p *PortPool) Free() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.freeLocked(p.now())
}

// freeLocked counts the available free entries.
// Precondition: p.mu is held.
func (p *PortPool) freeLocked(now time.Time) int {
	n := 0
	for _, e := range p.free {
		if p.availableLocked(e, now) {
			n++
		}
	}
	return n
}

// Held returns the ports owner holds, in ascending order.
func (p *PortPool) Held(owner string) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.heldLocked(owner)
}

// heldLocked lists owner's ports in ascending order.
// Preconditions: p.mu is held.
func (p *PortPool) heldLocked(owner string) []int {
	var ports []int
	for port, o := range p.owners {
		if o == owner {
			ports = append(ports, port)
		}
	}
	slices.Sort(ports)
	return ports
}

// ErrReservedPort means a container port a user asked to open is one the
// kernel runner and its intrinsic services use.
var ErrReservedPort = errors.New("reserved container port")

// ErrInvalidPort means a port number outside 1..65535.
var ErrInvalidPort = errors.New("invalid port")

// ReservedContainerPorts are the container-side ports of the kernel runner
// (REPL in/out 2000/2001, legacy stdin/stdout 2002/2003) and of the
// intrinsic services sshd (2200) and ttyd (7681).
func ReservedContainerPorts() []int { return []int{2000, 2001, 2002, 2003, 2200, 7681} }

// CheckPreopenPorts checks the container-side ports a user asked to open:
// each must be in 1..65535 (ErrInvalidPort) and not reserved
// (ErrReservedPort). Every bad port is reported.
func CheckPreopenPorts(ports []int) error {
	var errs []error
	for _, port := range ports {
		switch {
		case port < 1 || port > 65535:
			errs = append(errs, fmt.Errorf("preopen port %d: %w", port, ErrInvalidPort))
		case slices.Contains(ReservedContainerPorts(), port):
			errs = append(errs, fmt.Errorf("preopen port %d: %w", port, ErrReservedPort))
		}
	}
	return errors.Join(errs...)
}
