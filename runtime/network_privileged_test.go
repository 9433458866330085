package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/baiagent/agent/netns"
	"github.com/baiagent/agent/test/testenv"
)

// withNetworking gives the test runtime its own bridge, nftables table and
// port range, all removed in t.Cleanup.
func withNetworking(t *testing.T, e *env) {
	t.Helper()
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	var subnet netip.Prefix
	for i := 0; ; i++ {
		subnet = netip.MustParsePrefix(fmt.Sprintf("10.233.%d.0/24", (int(b[0])+i)%250))
		if netns.CheckSubnet(subnet, hostRoutes(t)) == nil {
			break
		}
		if i > 250 {
			t.Fatal("no free 10.233.x.0/24 subnet")
		}
	}
	br, err := netns.EnsureBridge(netns.BridgeConfig{Name: "rtb" + tag, Subnet: subnet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = br.Remove() })
	mgr, err := netns.NewManager(br, netns.Options{PinDir: filepath.Join(e.opts.StateDir, "netns"), StateDir: filepath.Join(e.opts.StateDir, "leases")})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := netns.NewPublisher(netns.PublisherOptions{Table: "rtest" + tag, Bridge: br.Name(), Subnet: subnet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Delete() })
	pool, err := netns.NewPortPool(41000+int(b[1])*8, 41000+int(b[1])*8+7, time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e.opts.Networking = &Networking{Bridge: mgr, Publisher: pub, Ports: pool, BindHost: netip.IPv4Unspecified()}
}

func hostRoutes(t *testing.T) []netns.HostRoute {
	t.Helper()
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []netns.HostRoute
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if p, err := netip.ParsePrefix(r.Dst.String()); err == nil {
			out = append(out, netns.HostRoute{Dst: p})
		}
	}
	return out
}

// TestPrivilegedBridgePublishedPort: a server in a bridged kernel answers
// on its published host port, from the host; destroy leaves no link,
// namespace, lease or rule.
func TestPrivilegedBridgePublishedPort(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	withNetworking(t, e)
	m := e.manager(t)
	st, err := m.Create(t.Context(), CreateRequest{ID: "k-net", Image: e.image, Slots: slots("1", "67108864"), Network: NetBridge,
		Publish: []Publish{{ContainerPort: 8080}, {ContainerPort: 2000, Loopback: true}},
		Args:    []string{"/bin/sh", "-c", "mkdir -p /www && echo hello-from-kernel > /www/index.html && httpd -p 2000 -h /www && exec httpd -f -p 8080 -h /www"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Net.Bindings) != 2 || st.Net.IP == "" {
		t.Fatalf("network state: %+v", st.Net)
	}
	for _, b := range st.Net.Bindings {
		url := fmt.Sprintf("http://127.0.0.1:%d/", b.HostPort)
		var body string
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := http.Get(url)
			if err == nil {
				bb, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(bb)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s (container port %d): %v\n%s", url, b.ContainerPort, err, logsOf(t, m, "k-net"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if body != "hello-from-kernel\n" {
			t.Fatalf("GET %s = %q", url, body)
		}
	}
	if rx, tx, err := m.NetCounters("k-net"); err != nil || rx == 0 || tx == 0 {
		t.Fatalf("counters rx=%d tx=%d err=%v", rx, tx, err)
	}
	if _, err := m.Destroy(t.Context(), "k-net", time.Second); err != nil {
		t.Fatal(err)
	}
	m.Close()
	n := e.opts.Networking
	if ms, err := n.Publisher.Mappings(); err != nil || len(ms) != 0 {
		t.Errorf("rules left: %v %v", ms, err)
	}
	if l := n.Bridge.IPAM().Leases(); len(l) != 0 {
		t.Errorf("leases left: %v", l)
	}
	if _, err := os.Stat(n.Bridge.PinPath("k-net")); err == nil {
		t.Error("namespace pin left")
	}
	if _, err := netlink.LinkByName(netns.VethName("k-net")); err == nil {
		t.Error("veth left")
	}
	if free := n.Ports.Free(); free != 6 { // 2 of 8 are cooling down
		t.Errorf("%d ports free after destroy, want 6 (2 in cooldown)", free)
	}
}

// TestPrivilegedHostAndNoneNetwork: host mode shares the host's namespace
// and writes intrinsic-ports.json; none mode has loopback only.
func TestPrivilegedHostAndNoneNetwork(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	withNetworking(t, e)
	m := e.manager(t)
	bridge := e.opts.Networking.Bridge
	_ = bridge
	for _, tc := range []struct {
		mode NetworkMode
		id   string
	}{{NetHost, "k-host"}, {NetNone, "k-none"}} {
		if _, err := m.Create(t.Context(), CreateRequest{ID: tc.id, Image: e.image, Slots: slots("1", "67108864"), Network: tc.mode,
			Args: []string{"/bin/sh", "-c", "cat /proc/net/dev | cut -d: -f1 | tr -d ' ' | tail -n +3 | sort | tr '\\n' ' '; echo; cat /home/config/intrinsic-ports.json 2>/dev/null; true"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Wait(t.Context(), tc.id); err != nil {
			t.Fatal(err)
		}
		out := logsOf(t, m, tc.id)
		ifaces := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		switch tc.mode {
		case NetNone:
			if strings.Join(ifaces, " ") != "lo" {
				t.Errorf("none mode interfaces: %v", ifaces)
			}
		case NetHost:
			hostIfaces, _ := net.Interfaces()
			if len(ifaces) != len(hostIfaces) {
				t.Errorf("host mode sees %v, the host has %d interfaces", ifaces, len(hostIfaces))
			}
			var ports map[string]int
			if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[1]), &ports); err != nil || len(ports) != 4 || ports["replin"] == 0 {
				t.Errorf("intrinsic-ports.json: %q %v", out, err)
			}
		}
		if _, err := m.Destroy(context.Background(), tc.id, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-pub-none", Image: e.image, Slots: slots("1", "67108864"), Network: NetNone, Publish: []Publish{{ContainerPort: 80}}}); err == nil {
		t.Error("publishing in none mode accepted")
	}
}
