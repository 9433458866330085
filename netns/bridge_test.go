package netns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/baiagent/agent/test/testenv"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestCheckSubnet(t *testing.T) {
	routes := []HostRoute{
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0"},
		{Dst: netip.MustParsePrefix("192.0.2.0/24"), Dev: "eth0"},
		{Dst: netip.MustParsePrefix("10.200.0.0/16"), Dev: "wg0"},
		{Dst: netip.MustParsePrefix("127.0.0.0/8"), Dev: "lo"},
		{Dst: netip.MustParsePrefix("fd00::/8"), Dev: "eth0"},
	}
	for _, tc := range []struct {
		subnet, wantDev string
	}{
		{"10.231.0.0/24", ""},
		{"10.200.5.0/24", "wg0"}, // inside a wider route
		{"10.0.0.0/8", "wg0"},    // contains a route
		{"192.0.2.128/25", "eth0"},
		{"127.0.0.0/24", "lo"},
		{"10.201.0.0/16", ""},
	} {
		t.Run(tc.subnet, func(t *testing.T) {
			err := CheckSubnet(netip.MustParsePrefix(tc.subnet), routes)
			if tc.wantDev == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrSubnetOverlap) || !strings.Contains(err.Error(), "dev "+tc.wantDev) {
				t.Fatalf("err = %v, want ErrSubnetOverlap naming dev %s", err, tc.wantDev)
			}
		})
	}
}

func TestVethName(t *testing.T) {
	seen := map[string]string{}
	for i := range 2000 {
		id := fmt.Sprintf("kernel-%d-%s", i, strings.Repeat("z", i%50))
		n := VethName(id)
		if len(n) > unix.IFNAMSIZ-1 || !strings.HasPrefix(n, VethPrefix) || !isVethName(n) {
			t.Fatalf("VethName(%q) = %q", id, n)
		}
		if n != VethName(id) {
			t.Fatalf("VethName(%q) not stable", id)
		}
		if other, dup := seen[n]; dup {
			t.Fatalf("VethName(%q) = VethName(%q) = %q", id, other, n)
		}
		seen[n] = id
	}
	for _, n := range []string{"bai0", "baixyz12345", "eth0", "bai0123456789"} {
		if isVethName(n) {
			t.Errorf("isVethName(%q) = true", n)
		}
	}
}

// vethTestBridge creates a bridge with a test-unique name on a free /24 of
// 10.231.0.0/16 and removes it in t.Cleanup.
func vethTestBridge(t testing.TB) *Bridge {
	t.Helper()
	name := fmt.Sprintf("nsbt%x", rand.Uint32()&0xffffff)
	start := rand.IntN(200)
	for i := range 200 {
		cfg := BridgeConfig{Name: name, Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 231, byte(50 + (start+i)%200), 0}), 24)}
		b, err := EnsureBridge(cfg)
		if errors.Is(err, ErrSubnetOverlap) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Remove(); err != nil {
				t.Error(err)
			}
		})
		return b
	}
	t.Fatal("no free /24 in 10.231.50.0-10.231.249.0")
	return nil
}

func TestPrivilegedEnsureBridge(t *testing.T) {
	testenv.RequirePrivileged(t)
	forward := readIPForward(t)
	b := vethTestBridge(t)
	if b.Gateway() != b.Subnet().Addr().Next() || b.MTU() <= 0 {
		t.Fatalf("bridge %s: gateway %v subnet %v mtu %d", b.Name(), b.Gateway(), b.Subnet(), b.MTU())
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, err := h.LinkByName(b.Name())
	if err != nil {
		t.Fatal(err)
	}
	if link.Type() != "bridge" || link.Attrs().Flags&1 == 0 || link.Attrs().MTU != b.MTU() {
		t.Errorf("link %s: type %s flags %v mtu %d", b.Name(), link.Type(), link.Attrs().Flags, link.Attrs().MTU)
	}

	t.Run("adopt", func(t *testing.T) {
		again, err := EnsureBridge(BridgeConfig{Name: b.Name(), Subnet: b.Subnet(), MTU: b.MTU()})
		if err != nil {
			t.Fatal(err)
		}
		if again.Index() != b.Index() {
			t.Errorf("adopted index %d, want %d", again.Index(), b.Index())
		}
		addrs, _ := h.AddrList(link, netlink.FAMILY_V4)
		if len(addrs) != 1 {
			t.Errorf("addresses after adopt: %v", addrs)
		}
	})
	t.Run("other address", func(t *testing.T) {
		other := netip.PrefixFrom(b.Subnet().Addr(), 25)
		if _, err := EnsureBridge(BridgeConfig{Name: b.Name(), Subnet: other}); err == nil {
			t.Fatal("adopting a bridge with another address succeeded")
		}
	})
	t.Run("overlap", func(t *testing.T) {
		name := fmt.Sprintf("nsbo%x", rand.Uint32()&0xffffff)
		sub := netip.PrefixFrom(b.Subnet().Addr(), 25) // inside the first bridge's route
		nb, err := EnsureBridge(BridgeConfig{Name: name, Subnet: sub})
		if err == nil {
			nb.Remove()
			t.Fatal("overlapping subnet accepted")
		}
		if !errors.Is(err, ErrSubnetOverlap) || !strings.Contains(err.Error(), b.Name()) {
			t.Errorf("err = %v, want ErrSubnetOverlap naming %s", err, b.Name())
		}
		if _, err := h.LinkByName(name); err == nil {
			t.Error("refused bridge was created")
		}
	})
	if after := readIPForward(t); after != forward {
		t.Errorf("ip_forward changed from %s to %s", forward, after)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName(b.Name()); err == nil {
		t.Error("bridge still exists after Remove")
	}
}

// readIPForward returns the host's global net.ipv4.ip_forward, which this
// package must never change.
func readIPForward(t testing.TB) string {
	t.Helper()
	v, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(v))
}
