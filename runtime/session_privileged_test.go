package runtime

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/baiagent/agent/test/testenv"
)

// TestPrivilegedSessionNetwork: two kernels of one session network reach
// each other by hostname; a kernel on the agent's bridge cannot reach
// them; the network goes only when its last member has.
func TestPrivilegedSessionNetwork(t *testing.T) {
	testenv.RequirePrivileged(t)
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
	for _, k := range []struct{ id, host, net string }{{"k-main", "main1", "sess1"}, {"k-sub", "sub1", "sess1"}, {"k-other", "other1", ""}} {
		if _, err := m.Create(t.Context(), CreateRequest{ID: k.id, Image: e.image, Slots: slots("1", "67108864"), Args: sleep,
			Network: NetBridge, NetworkName: k.net, Hostname: k.host}); err != nil {
			t.Fatal(err)
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
	mainSt, _ := m.Get("k-main")
	if code, out := run("k-other", "ping -c 1 -W 1 "+mainSt.Net.IP); code == 0 {
		t.Fatalf("a kernel on another network reached main1:\n%s", out)
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
	links, _ := netlink.LinkList()
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, "bais") {
			t.Errorf("session bridge %s left", l.Attrs().Name)
		}
	}
}
