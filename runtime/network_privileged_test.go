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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/baiagent/agent/netns"
	"github.com/baiagent/agent/test/testenv"
)

// netSpec names a test runtime's network, so that a child agent process
// can open the same bridge, table and port range.
type netSpec struct {
	Bridge, Table  string
	Subnet         netip.Prefix
	PortLo, PortHi int
}

// withNetworking gives the test runtime its own bridge, nftables table and
// a range of 8 ports, all removed in t.Cleanup.
func withNetworking(t *testing.T, e *env) netSpec {
	t.Helper()
	return withNetworkingPorts(t, e, 8)
}

// withNetworkingPorts is withNetworking with a range of that many ports: 8-port
// ranges from 21000, larger ones from 24000. Both stay below the kernel's
// ephemeral ports (32768 and up): a loopback DNAT rule on a port that
// another test's listener got from the kernel would send that test's
// connections into a kernel (packages' tests run in parallel).
func withNetworkingPorts(t *testing.T, e *env, ports int) netSpec {
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
	lo := 21000 + int(b[1])*8
	if ports > 8 {
		lo = 24000 + int(b[1])%8*ports
	}
	ns := netSpec{Bridge: "rtb" + tag, Table: "rtest" + tag, Subnet: subnet, PortLo: lo, PortHi: lo + ports - 1}
	n, err := openNetworking(e.opts.StateDir, ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.Publisher.Delete()
		if br, err := netns.EnsureBridge(netns.BridgeConfig{Name: ns.Bridge, Subnet: ns.Subnet}); err == nil {
			_ = br.Remove()
		}
	})
	e.opts.Networking = n
	return ns
}

// openNetworking sets up (or adopts) the network a netSpec names.
func openNetworking(stateDir string, ns netSpec) (*Networking, error) {
	br, err := netns.EnsureBridge(netns.BridgeConfig{Name: ns.Bridge, Subnet: ns.Subnet})
	if err != nil {
		return nil, err
	}
	mgr, err := netns.NewManager(br, netns.Options{PinDir: filepath.Join(stateDir, "netns"), StateDir: filepath.Join(stateDir, "leases")})
	if err != nil {
		return nil, err
	}
	pub, err := netns.NewPublisher(netns.PublisherOptions{Table: ns.Table, Bridge: br.Name(), Subnet: ns.Subnet})
	if err != nil {
		return nil, err
	}
	pool, err := netns.NewPortPool(ns.PortLo, ns.PortHi, time.Minute, time.Now)
	if err != nil {
		return nil, err
	}
	return &Networking{Bridge: mgr, Publisher: pub, Ports: pool, BindHost: netip.IPv4Unspecified()}, nil
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

// httpGet fetches url, retrying for a few seconds while the server starts.
func httpGet(t *testing.T, url string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPrivilegedRecoverNetworkAfterAgentKill: an agent publishes a port
// of a kernel and is killed with SIGKILL; a new agent reattaches the
// kernel, the published port still answers and no rule is duplicated.
func TestPrivilegedRecoverNetworkAfterAgentKill(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	ns := withNetworking(t, e)
	cmd := startAgentChild(t, e, &ns)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	m := e.manager(t)
	defer func() {
		for _, st := range m.List() {
			_, _ = m.Destroy(context.Background(), st.ID, time.Second)
		}
		m.Close()
	}()
	st, err := m.Get("k-netrec")
	if err != nil || st.Status != StatusRunning || len(st.Net.Bindings) != 1 {
		t.Fatalf("k-netrec after the restart: %+v, %v", st, err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", st.Net.Bindings[0].HostPort)
	if got := httpGet(t, url); got != "hello-after-restart\n" {
		t.Fatalf("GET %s = %q", url, got)
	}
	ms, err := e.opts.Networking.Publisher.Mappings()
	if err != nil || len(ms) != 1 {
		t.Fatalf("rules after the restart: %v, %v (want exactly one mapping)", ms, err)
	}
	// The restored pool does not hand the port out again.
	if taken := e.opts.Networking.Ports.Held("k-netrec"); len(taken) != 1 || taken[0] != st.Net.Bindings[0].HostPort {
		t.Fatalf("pool holds %v for k-netrec", taken)
	}
}

// TestPrivilegedNetworking200 creates 200 bridged kernels, each with a
// published port, destroys them all, and checks that nothing of their
// networking is left: no link on the bridge, no pinned namespace, no
// lease, no address but the gateway's, no DNAT rule.
func TestPrivilegedNetworking200(t *testing.T) {
	testenv.RequirePrivileged(t)
	const kernels = 200
	e := newEnv(t)
	e.opts.CreateConcurrency = 8
	ns := withNetworkingPorts(t, e, kernels)
	m := e.manager(t)
	n := e.opts.Networking
	brLink, err := netlink.LinkByName(ns.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(chan string, kernels)
	for i := range kernels {
		ids <- fmt.Sprintf("k-n200-%03d", i)
	}
	close(ids)
	errs := make(chan error, kernels)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for id := range ids {
				_, err := m.Create(t.Context(), CreateRequest{ID: id, Image: e.image, Slots: slots("1", "16777216"), Network: NetBridge,
					Publish: []Publish{{ContainerPort: 8080}}, Args: []string{"sleep", "600"}})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := countLinksOn(t, brLink.Attrs().Index); got != kernels {
		t.Fatalf("%d veths on the bridge with %d kernels running", got, kernels)
	}
	if ms, err := n.Publisher.Mappings(); err != nil || len(ms) != kernels {
		t.Fatalf("%d mappings with %d kernels running (%v)", len(ms), kernels, err)
	}
	for _, st := range m.List() {
		wg.Go(func() {
			if _, err := m.Destroy(context.Background(), st.ID, time.Millisecond); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	m.Close() // waits for the teardown behind the destroys

	if got := countLinksOn(t, brLink.Attrs().Index); got != 0 {
		t.Errorf("%d links left on the bridge", got)
	}
	pins, _ := os.ReadDir(filepath.Dir(n.Bridge.PinPath("x")))
	if len(pins) != 0 {
		t.Errorf("%d pinned namespaces left", len(pins))
	}
	if l := n.Bridge.IPAM().Leases(); len(l) != 0 {
		t.Errorf("%d leases left", len(l))
	}
	addrs, err := netlink.AddrList(brLink, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 {
		t.Errorf("bridge addresses %v (%v), want the gateway's alone", addrs, err)
	}
	if ms, err := n.Publisher.Mappings(); err != nil || len(ms) != 0 {
		t.Errorf("%d mappings left (%v)", len(ms), err)
	}
}

// countLinksOn counts the links whose master is the bridge with index br.
func countLinksOn(t *testing.T, br int) int {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	c := 0
	for _, l := range links {
		if l.Attrs().MasterIndex == br {
			c++
		}
	}
	return c
}
