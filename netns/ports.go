package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Mapping is one published port: traffic to HostIP:HostPort on the host is
// forwarded to KernelIP:KernelPort in the kernel's namespace.
type Mapping struct {
	// KernelID is the kernel that owns the mapping.
	KernelID string
	// HostIP is the host address the port is published on: container.bind-host,
	// or 127.0.0.1 for the kernel runner's REPL ports. The unspecified
	// address 0.0.0.0 means every local address.
	HostIP netip.Addr
	// HostPort is the host port (from the PortPool).
	HostPort int
	// KernelIP is the kernel's address on the bridge.
	KernelIP netip.Addr
	// KernelPort is the port inside the kernel.
	KernelPort int
	// Proto is "tcp" (the default when empty) or "udp".
	Proto string
}

// ErrInvalidMapping means a Mapping that cannot be published.
var ErrInvalidMapping = errors.New("invalid port mapping")

// ErrPortPublished means a host port is already published for another kernel.
var ErrPortPublished = errors.New("host port already published")

// ruleTagPrefix starts the comment (rule user data) that tags a DNAT rule
// with its kernel id.
const ruleTagPrefix = "backendai kernel="

// normalize fills defaults and checks m.
func (m Mapping) normalize() (Mapping, error) {
	if m.Proto == "" {
		m.Proto = "tcp"
	}
	var errs []error
	if m.KernelID == "" {
		errs = append(errs, errors.New("empty kernel id"))
	}
	if m.Proto != "tcp" && m.Proto != "udp" {
		errs = append(errs, fmt.Errorf("protocol %q", m.Proto))
	}
	if !m.HostIP.Is4() {
		errs = append(errs, fmt.Errorf("host address %s is not IPv4", m.HostIP))
	}
	if !m.KernelIP.Is4() || m.KernelIP.IsUnspecified() {
		errs = append(errs, fmt.Errorf("kernel address %s", m.KernelIP))
	}
	if m.HostPort < 1 || m.HostPort > 65535 {
		errs = append(errs, fmt.Errorf("host port %d", m.HostPort))
	}
	if m.KernelPort < 1 || m.KernelPort > 65535 {
		errs = append(errs, fmt.Errorf("kernel port %d", m.KernelPort))
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("mapping %s %d: %w: %w", m.KernelID, m.HostPort, ErrInvalidMapping, errors.Join(errs...))
	}
	return m, nil
}

// mappingKey identifies a mapping for Publish's idempotence: one rule per
// (kernel, host port, protocol).
type mappingKey struct {
	kernel string
	port   int
	proto  string
}

func (m Mapping) key() mappingKey { return mappingKey{m.KernelID, m.HostPort, m.Proto} }

func protoNumber(proto string) byte {
	if proto == "udp" {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

func nftPort(p int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(p)) }

// dnatExprs builds the DNAT rule of m:
//
//	ip daddr HOST | fib daddr type local; meta l4proto P; th dport HP; dnat to KIP:KP
func dnatExprs(m Mapping) []expr.Any {
	var match []expr.Any
	if m.HostIP.IsUnspecified() {
		match = []expr.Any{
			&expr.Fib{Register: 1, ResultADDRTYPE: true, FlagDADDR: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binary.NativeEndian.AppendUint32(nil, unix.RTN_LOCAL)},
		}
	} else {
		ip := m.HostIP.As4()
		match = []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip[:]},
		}
	}
	kip := m.KernelIP.As4()
	return append(match,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{protoNumber(m.Proto)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: nftPort(m.HostPort)},
		&expr.Immediate{Register: 1, Data: kip[:]},
		&expr.Immediate{Register: 2, Data: nftPort(m.KernelPort)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
}

// kernelTag returns the rule user data that tags a rule with kernelID.
func kernelTag(kernelID string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, ruleTagPrefix+kernelID)
}

// taggedKernel returns the kernel id a rule's user data names, if any.
func taggedKernel(ud []byte) (string, bool) {
	c, ok := userdata.GetString(ud, userdata.TypeComment)
	if !ok {
		return "", false
	}
	return strings.CutPrefix(c, ruleTagPrefix)
}

// parseDNAT reads a mapping back from the expressions of a DNAT rule built
// by dnatExprs, as the kernel dumps them.
func parseDNAT(kernelID string, exprs []expr.Any) (Mapping, error) {
	const (
		loadNone = iota
		loadDaddr
		loadFibType
		loadL4Proto
		loadDport
	)
	m := Mapping{KernelID: kernelID}
	loaded := map[uint32]int{}
	imm := map[uint32][]byte{}
	var nat *expr.NAT
	seen := 0
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Payload:
			switch {
			case e.Base == expr.PayloadBaseNetworkHeader && e.Offset == 16 && e.Len == 4:
				loaded[e.DestRegister] = loadDaddr
			case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 2 && e.Len == 2:
				loaded[e.DestRegister] = loadDport
			default:
				loaded[e.DestRegister] = loadNone
			}
		case *expr.Fib:
			if e.ResultADDRTYPE && e.FlagDADDR {
				loaded[e.Register] = loadFibType
			} else {
				loaded[e.Register] = loadNone
			}
		case *expr.Meta:
			if e.Key == expr.MetaKeyL4PROTO && !e.SourceRegister {
				loaded[e.Register] = loadL4Proto
			} else {
				loaded[e.Register] = loadNone
			}
		case *expr.Cmp:
			if e.Op != expr.CmpOpEq {
				return m, fmt.Errorf("parse rule of kernel %s: unexpected comparison %d", kernelID, e.Op)
			}
			switch loaded[e.Register] {
			case loadDaddr:
				a, ok := netip.AddrFromSlice(e.Data)
				if !ok {
					return m, fmt.Errorf("parse rule of kernel %s: host address %x", kernelID, e.Data)
				}
				m.HostIP = a
				seen |= 1
			case loadFibType:
				m.HostIP = netip.IPv4Unspecified()
				seen |= 1
			case loadL4Proto:
				switch {
				case len(e.Data) == 1 && e.Data[0] == unix.IPPROTO_TCP:
					m.Proto = "tcp"
				case len(e.Data) == 1 && e.Data[0] == unix.IPPROTO_UDP:
					m.Proto = "udp"
				default:
					return m, fmt.Errorf("parse rule of kernel %s: protocol %x", kernelID, e.Data)
				}
				seen |= 2
			case loadDport:
				if len(e.Data) != 2 {
					return m, fmt.Errorf("parse rule of kernel %s: port %x", kernelID, e.Data)
				}
				m.HostPort = int(binary.BigEndian.Uint16(e.Data))
				seen |= 4
			}
		case *expr.Immediate:
			imm[e.Register] = e.Data
		case *expr.NAT:
			nat = e
		}
	}
	if seen != 7 || nat == nil || nat.Type != expr.NATTypeDestNAT {
		return m, fmt.Errorf("parse rule of kernel %s: not a port mapping", kernelID)
	}
	a, ok := netip.AddrFromSlice(imm[nat.RegAddrMin])
	if !ok || !a.Is4() {
		return m, fmt.Errorf("parse rule of kernel %s: kernel address %x", kernelID, imm[nat.RegAddrMin])
	}
	m.KernelIP = a
	p := imm[nat.RegProtoMin]
	if len(p) != 2 {
		return m, fmt.Errorf("parse rule of kernel %s: kernel port %x", kernelID, p)
	}
	m.KernelPort = int(binary.BigEndian.Uint16(p))
	return m, nil
}

// ifname returns name as the kernel compares interface names: NUL-padded to
// IFNAMSIZ bytes.
func nftIfname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// masqExprs builds "ip saddr PREFIX oifname [!=] BRIDGE masquerade"; an
// empty bridge drops the interface match.
func masqExprs(src netip.Prefix, bridge string, onBridge bool) []expr.Any {
	bits := src.Bits()
	mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-bits))
	if bits == 0 {
		mask = []byte{0, 0, 0, 0}
	}
	network := src.Masked().Addr().As4()
	e := []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: network[:]},
	}
	if bridge != "" {
		op := expr.CmpOpNeq
		if onBridge {
			op = expr.CmpOpEq
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: op, Register: 1, Data: nftIfname(bridge)},
		)
	}
	return append(e, &expr.Masq{})
}

// checkBridgeName refuses names that would make route_localnet global or
// escape /proc/sys/net/ipv4/conf.
func checkBridgeName(name string) error {
	if name == "" {
		return nil
	}
	if name == "all" || name == "default" || name == "." || name == ".." ||
		strings.ContainsAny(name, "/ \x00") || len(name) >= 16 {
		return fmt.Errorf("bridge name %q", name)
	}
	return nil
}

func routeLocalnetPath(bridge string) string {
	return filepath.Join("/proc/sys/net/ipv4/conf", bridge, "route_localnet")
}
