package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrExhausted is returned by IPAM.Lease when every address is leased.
var ErrExhausted = errors.New("address pool exhausted")

// leaseSuffix ends the name of every lease file: <dir>/<kernelID>.lease.
const leaseSuffix = ".lease"

// IPAM hands out the addresses of a subnet to kernels. Each lease is one
// file in its directory, written atomically (temporary file + rename), so
// leases survive an agent restart. The network address, the gateway (the
// first address) and, for IPv4, the broadcast address are never handed out.
// Addresses are handed out round-robin, so a released address is reused as
// late as possible. An IPAM is safe for concurrent use.
type IPAM struct {
	dir    string
	subnet netip.Prefix
	first  netip.Addr // first leasable address
	last   netip.Addr // last leasable address

	mu     sync.Mutex
	byID   map[string]netip.Addr
	byAddr map[netip.Addr]string
	next   netip.Addr // where the next search starts
}

// NewIPAM opens the lease directory dir (created if missing) for subnet and
// loads the leases in it. A lease outside the subnet, on a reserved address
// or duplicating another one is an error naming its file.
func NewIPAM(dir string, subnet netip.Prefix) (*IPAM, error) {
	first, last, err := leasableRange(subnet)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create lease dir: %w", err)
	}
	p := &IPAM{
		dir: dir, subnet: subnet, first: first, last: last, next: first,
		byID: map[string]netip.Addr{}, byAddr: map[netip.Addr]string{},
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read lease dir: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		id, ok := strings.CutSuffix(name, leaseSuffix)
		if !ok || !e.Type().IsRegular() || validKernelID(id) != nil {
			if strings.HasPrefix(name, ".tmp-") {
				os.Remove(filepath.Join(dir, name)) // left by a crash mid-write
			}
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read lease: %w", err)
		}
		a, err := netip.ParseAddr(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, fmt.Errorf("lease %s: %w", name, err)
		}
		if a.Less(first) || last.Less(a) {
			return nil, fmt.Errorf("lease %s: address %s is not leasable in %s", name, a, subnet)
		}
		if other, dup := p.byAddr[a]; dup {
			return nil, fmt.Errorf("lease %s: address %s is also leased to %s", name, a, other)
		}
		p.byID[id], p.byAddr[a] = a, id
	}
	return p, nil
}

// leasableRange returns the first and last address of subnet that can be
// leased. It needs at least one such address.
func leasableRange(subnet netip.Prefix) (first, last netip.Addr, err error) {
	if !subnet.IsValid() || subnet.Masked() != subnet {
		return first, last, fmt.Errorf("subnet %s: not a valid network prefix", subnet)
	}
	hostBits := subnet.Addr().BitLen() - subnet.Bits()
	if hostBits < 2 {
		return first, last, fmt.Errorf("subnet %s: too small for a gateway and kernels", subnet)
	}
	last = lastAddr(subnet)
	if subnet.Addr().Is4() {
		last = last.Prev() // broadcast
	}
	first = subnet.Addr().Next().Next() // network, gateway
	if last.Less(first) {
		return first, last, fmt.Errorf("subnet %s: too small for a gateway and kernels", subnet)
	}
	return first, last, nil
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Lease returns the address leased to kernelID, leasing a free one first if
// it has none. It returns ErrExhausted when no address is free.
func (p *IPAM) Lease(kernelID string) (netip.Addr, error) {
	if err := validKernelID(kernelID); err != nil {
		return netip.Addr{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.byID[kernelID]; ok {
		return a, nil
	}
	a, ok := p.freeLocked()
	if !ok {
		return netip.Addr{}, fmt.Errorf("lease for kernel %s in %s: %w", kernelID, p.subnet, ErrExhausted)
	}
	if err := p.writeLease(kernelID, a); err != nil {
		return netip.Addr{}, err
	}
	p.byID[kernelID], p.byAddr[a] = a, kernelID
	p.next = a.Next()
	return a, nil
}

// freeLocked finds a free address, searching round-robin from p.next.
// Precondition: p.mu is held.
func (p *IPAM) freeLocked() (netip.Addr, bool) {
	if p.next.Less(p.first) || p.last.Less(p.next) {
		p.next = p.first
	}
	a := p.next
	for {
		if _, used := p.byAddr[a]; !used {
			return a, true
		}
		if a = a.Next(); p.last.Less(a) {
			a = p.first
		}
		if a == p.next {
			return netip.Addr{}, false
		}
	}
}

func (p *IPAM) writeLease(kernelID string, a netip.Addr) error {
	f, err := os.CreateTemp(p.dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("write lease of kernel %s: %w", kernelID, err)
	}
	_, err = f.WriteString(a.String() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// No fsync: a lease has to survive the agent, not the host; the
		// namespaces it belongs to do not survive a reboot either.
		err = os.Rename(f.Name(), filepath.Join(p.dir, kernelID+leaseSuffix))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write lease of kernel %s: %w", kernelID, err)
	}
	return nil
}

// Release frees the address of kernelID. Releasing a kernel without a lease
// is not an error.
func (p *IPAM) Release(kernelID string) error {
	if err := validKernelID(kernelID); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := os.Remove(filepath.Join(p.dir, kernelID+leaseSuffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release lease of kernel %s: %w", kernelID, err)
	}
	if a, ok := p.byID[kernelID]; ok {
		delete(p.byAddr, a)
		delete(p.byID, kernelID)
	}
	return nil
}

// Leases returns a copy of the current leases by kernel id.
func (p *IPAM) Leases() map[string]netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]netip.Addr, len(p.byID))
	for id, a := range p.byID {
		m[id] = a
	}
	return m
}

// Subnet returns the subnet the addresses come from.
func (p *IPAM) Subnet() netip.Prefix { return p.subnet }

// validKernelID checks that id can name a file: pins and leases are named
// after kernel ids.
func validKernelID(id string) error {
	switch {
	case id == "", len(id) > 200:
		return fmt.Errorf("kernel id %q: length must be 1 to 200", id)
	case strings.HasPrefix(id, "."):
		return fmt.Errorf("kernel id %q: must not start with a dot", id)
	case strings.ContainsAny(id, "/\x00"):
		return fmt.Errorf("kernel id %q: must not contain a slash or NUL", id)
	}
	return nil
}
