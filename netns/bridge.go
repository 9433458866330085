package netns

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// defaultMTU is used when the host has no default route to take it from.
const defaultMTU = 1500

// BridgeConfig describes the agent's bridge.
type BridgeConfig struct {
	// Name is the bridge's link name, e.g. "bai0" (at most 15 bytes).
	Name string
	// Subnet is the kernels' IPv4 subnet, e.g. 10.231.0.0/24. Its first
	// address is the gateway, set on the bridge.
	Subnet netip.Prefix
	// MTU of the bridge and the veths; 0 takes the MTU of the host's
	// default-route uplink, or 1500 when there is none.
	MTU int
}

// Bridge is the agent's bridge in the host namespace.
type Bridge struct {
	name    string
	gateway netip.Addr
	subnet  netip.Prefix
	mtu     int
	index   int
}

// Name returns the bridge's link name.
func (b *Bridge) Name() string { return b.name }

// Gateway returns the bridge's address, the kernels' default gateway.
func (b *Bridge) Gateway() netip.Addr { return b.gateway }

// Subnet returns the kernels' subnet.
func (b *Bridge) Subnet() netip.Prefix { return b.subnet }

// MTU returns the MTU of the bridge and of the kernels' veths.
func (b *Bridge) MTU() int { return b.mtu }

// Index returns the bridge's interface index.
func (b *Bridge) Index() int { return b.index }

// HostRoute is a destination the host already reaches through an interface:
// a route of the main table or an address prefix of an interface.
type HostRoute struct {
	Dst netip.Prefix
	Dev string
}

// ErrSubnetOverlap is returned when the bridge's subnet overlaps a route or
// address of another interface of the host.
var ErrSubnetOverlap = errors.New("subnet overlaps a host route")

// CheckSubnet returns an error (ErrSubnetOverlap) naming the first route in routes whose
// destination overlaps subnet. Default routes (prefix length 0) are ignored.
func CheckSubnet(subnet netip.Prefix, routes []HostRoute) error {
	for _, r := range routes {
		if !r.Dst.IsValid() || r.Dst.Bits() == 0 {
			continue
		}
		if r.Dst.Addr().Is4() != subnet.Addr().Is4() {
			continue
		}
		if r.Dst.Overlaps(subnet) {
			return fmt.Errorf("subnet %s: route %s dev %s: %w", subnet, r.Dst.Masked(), r.Dev, ErrSubnetOverlap)
		}
	}
	return nil
}

// EnsureBridge creates the bridge, or adopts it when it already exists with
// the gateway address, sets its address and MTU and brings it up. It refuses
// a subnet that overlaps a route or address of another interface, and a link
// of that name that is not a bridge or has another IPv4 address. It changes
// no global setting (no sysctl).
func EnsureBridge(cfg BridgeConfig) (*Bridge, error) {
	if l := len(cfg.Name); l == 0 || l > unix.IFNAMSIZ-1 {
		return nil, fmt.Errorf("ensure bridge %q: name must be 1 to 15 bytes", cfg.Name)
	}
	if !cfg.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("ensure bridge %s: subnet %s: only IPv4 is supported", cfg.Name, cfg.Subnet)
	}
	if _, _, err := leasableRange(cfg.Subnet); err != nil {
		return nil, fmt.Errorf("ensure bridge %s: %w", cfg.Name, err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("ensure bridge %s: netlink: %w", cfg.Name, err)
	}
	defer h.Close()

	existing, err := h.LinkByName(cfg.Name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		existing = nil
	case err != nil:
		return nil, fmt.Errorf("ensure bridge %s: %w", cfg.Name, err)
	case existing.Type() != "bridge":
		return nil, fmt.Errorf("ensure bridge %s: a %s link of that name exists", cfg.Name, existing.Type())
	}
	own := 0
	if existing != nil {
		own = existing.Attrs().Index
	}
	routes, uplinkMTU, err := hostRoutes(h, own)
	if err != nil {
		return nil, fmt.Errorf("ensure bridge %s: %w", cfg.Name, err)
	}
	if err := CheckSubnet(cfg.Subnet, routes); err != nil {
		return nil, fmt.Errorf("ensure bridge %s: %w", cfg.Name, err)
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = uplinkMTU
	}
	b := &Bridge{name: cfg.Name, gateway: cfg.Subnet.Addr().Next(), subnet: cfg.Subnet, mtu: mtu}
	gw := &netlink.Addr{IPNet: &net.IPNet{
		IP: b.gateway.AsSlice(), Mask: net.CIDRMask(cfg.Subnet.Bits(), 32),
	}}

	link := existing
	if link == nil {
		link = &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{
			Name: cfg.Name, MTU: mtu, HardwareAddr: bridgeMAC(cfg.Name),
		}}
		if err := h.LinkAdd(link); err != nil {
			return nil, fmt.Errorf("ensure bridge %s: add: %w", cfg.Name, err)
		}
		if err := h.AddrAdd(link, gw); err != nil {
			h.LinkDel(link)
			return nil, fmt.Errorf("ensure bridge %s: add address %s: %w", cfg.Name, gw.IPNet, err)
		}
	} else if err := adoptAddr(h, link, gw); err != nil {
		return nil, fmt.Errorf("ensure bridge %s: %w", cfg.Name, err)
	} else if link.Attrs().MTU != mtu {
		if err := h.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("ensure bridge %s: set mtu %d: %w", cfg.Name, mtu, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		if existing == nil {
			h.LinkDel(link)
		}
		return nil, fmt.Errorf("ensure bridge %s: up: %w", cfg.Name, err)
	}
	b.index = link.Attrs().Index
	return b, nil
}

// adoptAddr checks the IPv4 addresses of an existing bridge: the gateway
// address is added when it has none, and any other address is an error.
func adoptAddr(h *netlink.Handle, link netlink.Link, gw *netlink.Addr) error {
	addrs, err := redump(func() ([]netlink.Addr, error) { return h.AddrList(link, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	found := false
	for _, a := range addrs {
		if a.IPNet.String() != gw.IPNet.String() {
			return fmt.Errorf("exists with address %s, want %s", a.IPNet, gw.IPNet)
		}
		found = true
	}
	if found {
		return nil
	}
	if err := h.AddrAdd(link, gw); err != nil {
		return fmt.Errorf("add address %s: %w", gw.IPNet, err)
	}
	return nil
}

// hostRoutes lists the IPv4 routes of the main table and the address
// prefixes of every interface except the one with index skip, and returns
// the MTU of the default route's interface (defaultMTU without one).
func hostRoutes(h *netlink.Handle, skip int) ([]HostRoute, int, error) {
	links, err := redump(h.LinkList)
	if err != nil {
		return nil, 0, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	mtus := map[int]int{}
	for _, l := range links {
		names[l.Attrs().Index], mtus[l.Attrs().Index] = l.Attrs().Name, l.Attrs().MTU
	}
	rs, err := redump(func() ([]netlink.Route, error) { return h.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, 0, fmt.Errorf("list routes: %w", err)
	}
	var out []HostRoute
	mtu := defaultMTU
	for _, r := range rs {
		if r.LinkIndex == skip && skip != 0 {
			continue
		}
		if r.Dst == nil || isZeroNet(r.Dst) {
			if m, ok := mtus[r.LinkIndex]; ok && m > 0 && mtu == defaultMTU {
				mtu = m
			}
			continue
		}
		if p, ok := toPrefix(r.Dst); ok {
			out = append(out, HostRoute{Dst: p, Dev: names[r.LinkIndex]})
		}
	}
	addrs, err := redump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, 0, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.LinkIndex == skip && skip != 0 {
			continue
		}
		if p, ok := toPrefix(a.IPNet); ok {
			out = append(out, HostRoute{Dst: p.Masked(), Dev: names[a.LinkIndex]})
		}
	}
	return out, mtu, nil
}

func isZeroNet(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// bridgeMAC derives a fixed, locally administered MAC address from the
// bridge's name, so that the bridge's address does not change as ports come
// and go (which would leave stale ARP entries in the kernels).
func bridgeMAC(name string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("bridge:" + name))
	return net.HardwareAddr{0x02, sum[0], sum[1], sum[2], sum[3], sum[4]}
}

// Remove deletes the bridge (for tests and uninstall). A bridge that is
// already gone is not an error.
func (b *Bridge) Remove() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("remove bridge %s: netlink: %w", b.name, err)
	}
	defer h.Close()
	link, err := h.LinkByName(b.name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove bridge %s: %w", b.name, err)
	}
	if link.Type() != "bridge" {
		return fmt.Errorf("remove bridge %s: link is a %s", b.name, link.Type())
	}
	if err := h.LinkDel(link); err != nil {
		return fmt.Errorf("remove bridge %s: %w", b.name, err)
	}
	return nil
}
