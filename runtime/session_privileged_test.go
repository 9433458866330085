package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/baiagent/agent/test/testenv"
)

// TestPrivilegedSessionNetwork: two kernels of one session network reach
// each other by hostname; a kernel on the agent's bridge cannot reach
// them, with the host forwarding IPv4 (as kernel egress needs), because
// of the agent's forward rules: without them it can; the network goes
// only when its last member has, and its rules with it.
func TestPrivilegedSessionNetwork(t *testing.T) {
	testenv.RequirePrivileged(t)
	const ipForward = "/proc/sys/net/ipv4/ip_forward"
	prev, err := os.ReadFile(ipForward)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.WriteFile(ipForward, prev, 0o644) })
	if err := os.WriteFile(ipForward, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	withNetworking(t, e)
	e.opts.Networking.SessionPool = netip.MustParsePrefix("10.234.0.0/20")
	m := e.manager(t)
	defer func() {
		for _, st := range m.List() {
			_, _ = m.Destroy(context.Background(), st.ID, time.Millisecond)
		}
		m.Close()
		_ = m.DestroyNetwork(context.Background(), "sess1")
	}()
	if err := m.CreateNetwork(t.Context(), "sess1"); err != nil {
		t.Fatal(err)
	}
	sleep := []string{"sleep", "60"}
	// main1 serves a published port and a REPL-like port on 127.0.0.1.
	serve := []string{"/bin/sh", "-c", "mkdir -p /www && echo hello-main1 > /www/index.html && httpd -p 2000 -h /www && exec httpd -f -p 8080 -h /www"}
	var mainSt State
	for _, k := range []struct {
		id, host, net string
		args          []string
		pub           []Publish
	}{
		{"k-main", "main1", "sess1", serve, []Publish{{ContainerPort: 8080}, {ContainerPort: 2000, Loopback: true}}},
		{"k-sub", "sub1", "sess1", sleep, nil},
		{"k-other", "other1", "", sleep, nil},
	} {
		st, err := m.Create(t.Context(), CreateRequest{ID: k.id, Image: e.image, Slots: slots("1", "67108864"), Args: k.args,
			Network: NetBridge, NetworkName: k.net, Hostname: k.host, Publish: k.pub})
		if err != nil {
			t.Fatal(err)
		}
		if k.id == "k-main" {
			mainSt = st
		}
	}
	// Ports published from a session network answer from the host, the
	// loopback one too.
	for _, b := range mainSt.Net.Bindings {
		if body := httpGetWithin(t, fmt.Sprintf("http://127.0.0.1:%d/", b.HostPort), 5*time.Second); body != "hello-main1\n" {
			t.Fatalf("published port %d (container %d) answered %q", b.HostPort, b.ContainerPort, body)
		}
	}
	run := func(id string, cmd string) (int, string) {
		var out bytes.Buffer
		code, err := m.Exec(t.Context(), id, ExecRequest{Args: []string{"/bin/sh", "-c", cmd}, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		return code, out.String()
	}
	// main1 was created first: its /etc/hosts learnt sub1 when sub1 joined.
	if code, out := run("k-main", "grep -w sub1 /etc/hosts && ping -c 1 -W 2 sub1"); code != 0 {
		t.Fatalf("main1 -> sub1: %d\n%s", code, out)
	}
	if code, out := run("k-sub", "ping -c 1 -W 2 main1"); code != 0 {
		t.Fatalf("sub1 -> main1: %d\n%s", code, out)
	}
	if code, out := run("k-other", "ping -c 1 -W 1 "+mainSt.Net.IP); code == 0 {
		t.Fatalf("a kernel on another network reached main1:\n%s", out)
	}
	// The control: the same ping passes once the session bridge's rules
	// are gone, so the rules (not a missing route) are what isolates.
	pub := e.opts.Networking.Publisher
	bridge := m.sessions["sess1"].Bridge
	if err := pub.RemoveSegment(bridge); err != nil {
		t.Fatal(err)
	}
	if code, out := run("k-other", "ping -c 1 -W 2 "+mainSt.Net.IP); code != 0 {
		t.Fatalf("without the isolation rules the ping still fails (%d), so the test proves nothing:\n%s", code, out)
	}
	if err := pub.AddSegment(bridge, m.sessions["sess1"].Subnet); err != nil {
		t.Fatal(err)
	}
	if code, out := run("k-other", "ping -c 1 -W 1 "+mainSt.Net.IP); code == 0 {
		t.Fatalf("isolation restored, but the kernel on another network reached main1:\n%s", out)
	}
	if err := m.DestroyNetwork(t.Context(), "sess1"); !errors.Is(err, ErrFailedPrecondition) {
		t.Fatalf("destroy of a network in use: %v", err)
	}
	if _, err := m.Destroy(t.Context(), "k-sub", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, out := run("k-main", "cat /etc/hosts"); strings.Contains(out, "sub1") {
		t.Fatalf("sub1 still in main1's /etc/hosts after it left:\n%s", out)
	}
	if _, err := m.Destroy(t.Context(), "k-main", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := m.DestroyNetwork(t.Context(), "sess1"); err != nil {
		t.Fatal(err)
	}
	if segs, err := pub.Segments(); err != nil || slices.Contains(segs, bridge) {
		t.Errorf("segment rules after the network went: %v %v", segs, err)
	}
	// This network's bridge, by name: other packages' tests, running
	// meanwhile, make bridges of their own.
	if _, err := netlink.LinkByName(bridge); err == nil {
		t.Errorf("session bridge %s left", bridge)
	}
}

// httpGetWithin GETs url until it answers or d has passed, and returns
// the body.
func httpGetWithin(t *testing.T, url string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
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
