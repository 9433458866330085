package netns

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VethPrefix starts the name of every host-side veth of the agent: the
// prefix followed by 8 lowercase hex digits (see VethName). Reconcile
// touches only links named so, of type veth and enslaved to the bridge.
const VethPrefix = "bai"

// kernelIfName is the kernel-side veth's name inside its namespace.
const kernelIfName = "eth0"

// ErrNotAttached is returned by Lookup for a kernel without a namespace.
var ErrNotAttached = errors.New("kernel not attached")

// Attachment describes a kernel's bridge-mode network.
type Attachment struct {
	KernelID string
	// NSPath is the pinned network namespace; the runtime joins it by path.
	NSPath string
	// HostVeth is the host-side veth's name.
	HostVeth string
	// Addr is the kernel's address on eth0, with the subnet's length.
	Addr    netip.Prefix
	Gateway netip.Addr
	MTU     int
}

// Options configures a Manager.
type Options struct {
	// PinDir holds a pin (bind mount of the namespace) per kernel, named by
	// kernel id, e.g. /run/backend.ai/netns. It is created if missing and is
	// left an ordinary directory: the runtime's containers pivot_root away
	// from the host's mounts, so copies of the pins in their mount
	// namespaces do not keep namespaces alive, and no propagation setting of
	// the host is changed.
	PinDir string
	// StateDir holds the address leases, one file per kernel.
	StateDir string
}

// Manager sets up and tears down the bridge-mode networks of kernels. It is
// safe for concurrent use; calls for one kernel are serialised.
type Manager struct {
	bridge *Bridge
	pinDir string
	ipam   *IPAM
	host   *netlink.Handle // netlink in the host namespace

	mu   sync.Mutex
	busy map[string]chan struct{} // kernels with a call in progress
}

// NewManager returns a Manager for kernels on bridge b, loading the leases
// in o.StateDir. Close releases it.
func NewManager(b *Bridge, o Options) (*Manager, error) {
	if o.PinDir == "" || o.StateDir == "" {
		return nil, errors.New("new netns manager: PinDir and StateDir are required")
	}
	if err := os.MkdirAll(o.PinDir, 0o755); err != nil {
		return nil, fmt.Errorf("new netns manager: create pin dir: %w", err)
	}
	ipam, err := NewIPAM(o.StateDir, b.subnet)
	if err != nil {
		return nil, fmt.Errorf("new netns manager: %w", err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("new netns manager: netlink: %w", err)
	}
	return &Manager{bridge: b, pinDir: o.PinDir, ipam: ipam, host: h, busy: map[string]chan struct{}{}}, nil
}

// Close releases the Manager's netlink handle. Attachments stay.
func (m *Manager) Close() error {
	m.host.Close()
	return nil
}

// IPAM returns the Manager's address allocator.
func (m *Manager) IPAM() *IPAM { return m.ipam }

// VethName returns the host-side veth name of a kernel: VethPrefix and the
// first 8 hex digits of the SHA-256 of the id (11 bytes, within IFNAMSIZ).
func VethName(kernelID string) string {
	sum := sha256.Sum256([]byte(kernelID))
	return VethPrefix + hex.EncodeToString(sum[:4])
}

// isVethName reports whether name has the form VethName produces.
func isVethName(name string) bool {
	if len(name) != len(VethPrefix)+8 || name[:len(VethPrefix)] != VethPrefix {
		return false
	}
	_, err := hex.DecodeString(name[len(VethPrefix):])
	return err == nil
}

// PinPath returns where the namespace of kernelID is pinned.
func (m *Manager) PinPath(kernelID string) string { return filepath.Join(m.pinDir, kernelID) }

// lock serialises the calls for one kernel; the returned func unlocks.
func (m *Manager) lock(ctx context.Context, kernelID string) (func(), error) {
	for {
		m.mu.Lock()
		ch, held := m.busy[kernelID]
		if !held {
			ch = make(chan struct{})
			m.busy[kernelID] = ch
			m.mu.Unlock()
			return func() {
				m.mu.Lock()
				delete(m.busy, kernelID)
				m.mu.Unlock()
				close(ch)
			}, nil
		}
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Attach creates the network of a kernel: a new namespace pinned at
// PinDir/kernelID with lo up, and a veth pair whose host side (VethName) is
// enslaved to the bridge and up, and whose other side is created directly
// in the namespace as eth0, with the MTU, an address from the IPAM and a
// default route via the gateway. A failure at any step undoes every earlier
// one: no link, pin or lease is left behind. A kernel that already has a
// pin is an error (fs.ErrExist).
func (m *Manager) Attach(ctx context.Context, kernelID string) (att *Attachment, err error) {
	if err := validKernelID(kernelID); err != nil {
		return nil, fmt.Errorf("attach kernel: %w", err)
	}
	unlock, err := m.lock(ctx, kernelID)
	if err != nil {
		return nil, fmt.Errorf("attach kernel %s: %w", kernelID, err)
	}
	defer unlock()

	var undo []func() error
	defer func() {
		if err == nil {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				err = errors.Join(err, fmt.Errorf("attach kernel %s: roll back: %w", kernelID, uerr))
			}
		}
	}()

	pin := m.PinPath(kernelID)
	nsh, nsfd, err := createPinned(pin, true)
	if err != nil {
		return nil, fmt.Errorf("attach kernel %s: %w", kernelID, err)
	}
	defer closePinned(nsh, nsfd)
	undo = append(undo, func() error { return Remove(pin) })

	addr, err := m.ipam.Lease(kernelID)
	if err != nil {
		return nil, fmt.Errorf("attach kernel %s: %w", kernelID, err)
	}
	undo = append(undo, func() error { return m.ipam.Release(kernelID) })

	hostName := VethName(kernelID)
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name: hostName, MTU: m.bridge.mtu, Flags: net.FlagUp, MasterIndex: m.bridge.index,
		},
		PeerName:      kernelIfName,
		PeerNamespace: netlink.NsFd(nsfd),
	}
	if err := m.host.LinkAdd(veth); err != nil {
		if !errors.Is(err, unix.EEXIST) {
			// The pair may exist with a later step of LinkAdd failed.
			undo = append(undo, func() error { return m.deleteVeth(hostName) })
		}
		return nil, fmt.Errorf("attach kernel %s: add veth %s: %w", kernelID, hostName, err)
	}
	undo = append(undo, func() error { return m.deleteVeth(hostName) })

	prefix := netip.PrefixFrom(addr, m.bridge.subnet.Bits())
	if err := configureKernelSide(nsh, prefix, m.bridge.gateway); err != nil {
		return nil, fmt.Errorf("attach kernel %s: %w", kernelID, err)
	}
	return &Attachment{
		KernelID: kernelID, NSPath: pin, HostVeth: hostName,
		Addr: prefix, Gateway: m.bridge.gateway, MTU: m.bridge.mtu,
	}, nil
}

// configureKernelSide brings lo and eth0 up, gives eth0 its address and adds
// the default route, through a handle whose socket is in the namespace.
func configureKernelSide(h *netlink.Handle, addr netip.Prefix, gw netip.Addr) error {
	// The loopback device of a new namespace always has index 1.
	if err := h.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1}}); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	eth, err := h.LinkByName(kernelIfName)
	if err != nil {
		return fmt.Errorf("find %s: %w", kernelIfName, err)
	}
	ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
	if err := h.AddrAdd(eth, &netlink.Addr{IPNet: ipnet}); err != nil {
		return fmt.Errorf("add address %s: %w", addr, err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("set %s up: %w", kernelIfName, err)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice()}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("add default route via %s: %w", gw, err)
	}
	return nil
}

// deleteVeth deletes the host-side veth called name, which deletes its
// peer too. A missing link is fine; a link of that name that is not a veth
// is left alone (it is not ours).
func (m *Manager) deleteVeth(name string) error {
	link, err := m.host.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find veth %s: %w", name, err)
	}
	if link.Type() != "veth" {
		return nil
	}
	if err := m.host.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete veth %s: %w", name, err)
	}
	return nil
}

// Detach removes the network of a kernel: its veth pair, its pinned
// namespace and its lease. It is idempotent and works on a half set up
// kernel; it tries every step and returns the joined errors.
func (m *Manager) Detach(ctx context.Context, kernelID string) error {
	if err := validKernelID(kernelID); err != nil {
		return fmt.Errorf("detach kernel: %w", err)
	}
	unlock, err := m.lock(ctx, kernelID)
	if err != nil {
		return fmt.Errorf("detach kernel %s: %w", kernelID, err)
	}
	defer unlock()
	var errs []error
	if err := m.deleteVeth(VethName(kernelID)); err != nil {
		errs = append(errs, err)
	}
	if err := Remove(m.PinPath(kernelID)); err != nil {
		errs = append(errs, err)
	}
	if err := m.ipam.Release(kernelID); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach kernel %s: %w", kernelID, err)
	}
	return nil
}

// Lookup rebuilds the Attachment of a kernel from its pin, host veth and
// lease, e.g. after an agent restart. A kernel without a pin gives
// ErrNotAttached.
func (m *Manager) Lookup(kernelID string) (*Attachment, error) {
	if err := validKernelID(kernelID); err != nil {
		return nil, fmt.Errorf("look up kernel: %w", err)
	}
	pin := m.PinPath(kernelID)
	if _, err := os.Lstat(pin); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("look up kernel %s: %w", kernelID, ErrNotAttached)
	} else if err != nil {
		return nil, fmt.Errorf("look up kernel %s: %w", kernelID, err)
	}
	addr, ok := m.ipam.Leases()[kernelID]
	if !ok {
		return nil, fmt.Errorf("look up kernel %s: no address lease", kernelID)
	}
	name := VethName(kernelID)
	link, err := m.host.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("look up kernel %s: veth %s: %w", kernelID, name, err)
	}
	return &Attachment{
		KernelID: kernelID, NSPath: pin, HostVeth: name,
		Addr: netip.PrefixFrom(addr, m.bridge.subnet.Bits()), Gateway: m.bridge.gateway, MTU: link.Attrs().MTU,
	}, nil
}

// Reconcile removes, at start-up, the leftovers of kernels that are not in
// running: their pins, leases and host veths. Those of running kernels are
// kept. It also deletes host veths of the bridge named like ours (VethName
// form) that belong to no running kernel. removed lists the kernel ids
// cleaned up and, for such orphan veths, their link names.
func (m *Manager) Reconcile(ctx context.Context, running map[string]bool) (removed []string, err error) {
	stale := map[string]bool{}
	entries, err := os.ReadDir(m.pinDir)
	if err != nil {
		return nil, fmt.Errorf("reconcile: read pin dir: %w", err)
	}
	for _, e := range entries {
		if !running[e.Name()] && validKernelID(e.Name()) == nil {
			stale[e.Name()] = true
		}
	}
	for id := range m.ipam.Leases() {
		if !running[id] {
			stale[id] = true
		}
	}
	var errs []error
	for id := range stale {
		if err := m.Detach(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, id)
	}
	keep := map[string]bool{}
	for id := range running {
		keep[VethName(id)] = true
	}
	links, err := redump(m.host.LinkList)
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("reconcile: list links: %w", err))...)
	}
	for _, l := range links {
		a := l.Attrs()
		if l.Type() != "veth" || a.MasterIndex != m.bridge.index || !isVethName(a.Name) || keep[a.Name] {
			continue
		}
		if err := m.host.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("reconcile: delete veth %s: %w", a.Name, err))
			continue
		}
		removed = append(removed, a.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, err
	}
	return removed, nil
}
