package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/baiagent/agent/test/testenv"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// attachFixture is a test bridge, a Manager on it and a host netlink handle.
type attachFixture struct {
	br      *Bridge
	m       *Manager
	h       *netlink.Handle
	pinDir  string
	leases  string
	kernels []string   // ids attached during the test, detached in cleanup
	all     []*Manager // every Manager opened, closed in cleanup
}

func newAttachFixture(t testing.TB) *attachFixture {
	t.Helper()
	f := &attachFixture{br: vethTestBridge(t)}
	dir := t.TempDir()
	f.pinDir, f.leases = filepath.Join(dir, "pins"), filepath.Join(dir, "leases")
	f.m = f.manager(t)
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	t.Cleanup(func() {
		for _, id := range f.kernels {
			if err := f.m.Detach(context.Background(), id); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		for _, m := range f.all {
			m.Close()
		}
		h.Close()
	})
	return f
}

// manager opens a Manager on the fixture's dirs, as a restarted agent would.
func (f *attachFixture) manager(t testing.TB) *Manager {
	t.Helper()
	m, err := NewManager(f.br, Options{PinDir: f.pinDir, StateDir: f.leases})
	if err != nil {
		t.Fatal(err)
	}
	f.all = append(f.all, m)
	return m
}

func (f *attachFixture) attach(t testing.TB, id string) *Attachment {
	t.Helper()
	f.kernels = append(f.kernels, id)
	a, err := f.m.Attach(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// leftovers lists our veths on the test bridge, pins, pin mounts and leases.
func (f *attachFixture) leftovers(t testing.TB) []string {
	t.Helper()
	var out []string
	links, err := f.h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == f.br.Index() {
			out = append(out, "link "+l.Attrs().Name)
		}
	}
	pins, _ := os.ReadDir(f.pinDir)
	for _, p := range pins {
		out = append(out, "pin "+p.Name())
	}
	if mounted(t, f.pinDir+"/") {
		out = append(out, "mount under "+f.pinDir)
	}
	leases, _ := os.ReadDir(f.leases)
	for _, l := range leases {
		out = append(out, "lease file "+l.Name())
	}
	for id := range f.m.IPAM().Leases() {
		out = append(out, "lease "+id)
	}
	return out
}

// echoServer listens on addr inside the namespace nsPath (empty: the host)
// and echoes every connection until the test ends.
func echoServer(t *testing.T, nsPath string, addr netip.Addr) string {
	t.Helper()
	var ln net.Listener
	listen := func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}
	var err error
	if nsPath == "" {
		err = listen()
	} else {
		err = Do(nsPath, listen)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip dials addr from inside nsPath and checks that n bytes echo back.
func roundTrip(nsPath, addr string, n int) error {
	return Do(nsPath, func() error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := bytes.Repeat([]byte("x"), n)
		go c.Write(msg)
		got := make([]byte, n)
		if _, err := io.ReadFull(c, got); err != nil {
			return fmt.Errorf("read echo from %s: %w", addr, err)
		}
		return nil
	})
}

func TestPrivilegedAttachConnectivity(t *testing.T) {
	testenv.RequirePrivileged(t)
	f := newAttachFixture(t)
	a1, a2 := f.attach(t, "kernel-one"), f.attach(t, "kernel-two")
	if a1.Addr.Addr() == a2.Addr.Addr() || !f.br.Subnet().Contains(a1.Addr.Addr()) || a1.Gateway != f.br.Gateway() {
		t.Fatalf("attachments %+v %+v", a1, a2)
	}
	if _, err := f.m.Attach(t.Context(), "kernel-one"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second attach: err = %v, want ErrExist", err)
	}

	err := Do(a1.NSPath, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		eth, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		if eth.Attrs().MTU != f.br.MTU() || eth.Attrs().OperState != netlink.OperUp {
			return fmt.Errorf("eth0: mtu %d state %s", eth.Attrs().MTU, eth.Attrs().OperState)
		}
		addrs, err := h.AddrList(eth, netlink.FAMILY_V4)
		if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != a1.Addr.String() {
			return fmt.Errorf("eth0 addresses %v (%v), want %s", addrs, err, a1.Addr)
		}
		routes, err := h.RouteList(nil, netlink.FAMILY_V4)
		for _, r := range routes {
			if (r.Dst == nil || isZeroNet(r.Dst)) && r.Gw.String() == a1.Gateway.String() {
				return nil
			}
		}
		return fmt.Errorf("no default route via %s in %v (%v)", a1.Gateway, routes, err)
	})
	if err != nil {
		t.Fatal(err)
	}

	rx0, tx0, err := f.m.Counters("kernel-one")
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20
	if err := roundTrip(a1.NSPath, echoServer(t, a2.NSPath, a2.Addr.Addr()), size); err != nil {
		t.Fatalf("kernel-one -> kernel-two: %v", err)
	}
	if err := roundTrip(a2.NSPath, echoServer(t, "", f.br.Gateway()), 1000); err != nil {
		t.Fatalf("kernel-two -> gateway: %v", err)
	}
	err = Do(a1.NSPath, func() error {
		out, err := exec.Command("/usr/bin/busybox", "ping", "-c", "1", "-W", "2", a2.Addr.Addr().String()).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ping: %w: %s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rx1, tx1, err := f.m.Counters("kernel-one")
	if err != nil {
		t.Fatal(err)
	}
	if tx1-tx0 < size || rx1-rx0 < size {
		t.Errorf("counters of kernel-one grew by rx %d tx %d, want >= %d each", rx1-rx0, tx1-tx0, size)
	}

	for _, id := range []string{"kernel-one", "kernel-two"} {
		if err := f.m.Detach(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Detach(t.Context(), id); err != nil {
			t.Errorf("second detach: %v", err)
		}
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Errorf("after detach: %v", left)
	}
}

func TestPrivilegedAttachRollback(t *testing.T) {
	testenv.RequirePrivileged(t)
	f := newAttachFixture(t)
	const id = "kernel-collides"
	// A foreign link holding the kernel's veth name makes Attach fail
	// after the namespace and the lease exist.
	dummy := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: VethName(id)}}
	if err := f.h.LinkAdd(dummy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.h.LinkDel(dummy) })
	f.kernels = append(f.kernels, id)
	if _, err := f.m.Attach(t.Context(), id); err == nil {
		t.Fatal("attach with a colliding veth name succeeded")
	} else {
		t.Logf("attach failed as expected: %v", err)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Errorf("after failed attach: %v", left)
	}
	if _, err := f.h.LinkByName(VethName(id)); err != nil {
		t.Errorf("rollback removed the foreign link: %v", err)
	}
	if err := f.m.Detach(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.LinkByName(VethName(id)); err != nil {
		t.Errorf("detach removed the foreign link: %v", err)
	}
}

func TestPrivilegedReconcile(t *testing.T) {
	testenv.RequirePrivileged(t)
	f := newAttachFixture(t)
	keep, gone := f.attach(t, "kernel-keep"), f.attach(t, "kernel-gone")
	// An orphan veth of ours on the bridge, with no pin and no lease.
	orphan := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: VethName("kernel-ghost"), MasterIndex: f.br.Index()},
		PeerName:  "nsbtpeer0",
	}
	if err := f.h.LinkAdd(orphan); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.h.LinkDel(orphan) })

	m := f.manager(t) // as after an agent restart
	f.m = m
	removed, err := m.Reconcile(t.Context(), map[string]bool{"kernel-keep": true})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(removed)
	if want := []string{VethName("kernel-ghost"), "kernel-gone"}; !slices.Equal(removed, want) {
		t.Errorf("removed = %v, want %v", removed, want)
	}
	got, err := m.Lookup("kernel-keep")
	if err != nil {
		t.Fatal(err)
	}
	if *got != *keep {
		t.Errorf("Lookup = %+v, want %+v", got, keep)
	}
	if _, err := m.Lookup("kernel-gone"); !errors.Is(err, ErrNotAttached) {
		t.Errorf("Lookup(kernel-gone): err = %v, want ErrNotAttached", err)
	}
	if _, err := os.Stat(gone.NSPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin of kernel-gone: %v", err)
	}
	if _, err := f.h.LinkByName(gone.HostVeth); err == nil {
		t.Error("veth of kernel-gone still exists")
	}
	if err := roundTrip(keep.NSPath, echoServer(t, "", f.br.Gateway()), 100); err != nil {
		t.Errorf("kept kernel lost its network: %v", err)
	}
	if err := m.Detach(t.Context(), "kernel-keep"); err != nil {
		t.Fatal(err)
	}
	if left := f.leftovers(t); len(left) > 0 {
		t.Errorf("after reconcile and detach: %v", left)
	}
}

// TestPrivilegedAttachCycles runs 200 attach+detach cycles and checks that
// nothing leaks (the 200-kernel leak check).
func TestPrivilegedAttachCycles(t *testing.T) {
	testenv.RequirePrivileged(t)
	f := newAttachFixture(t)
	start := time.Now()
	for i := range 200 {
		id := fmt.Sprintf("cycle-%d", i)
		f.kernels = append(f.kernels, id)
		if _, err := f.m.Attach(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		if err := f.m.Detach(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("200 attach+detach cycles in %v", time.Since(start))
	if left := f.leftovers(t); len(left) > 0 {
		t.Errorf("after 200 cycles: %v", left)
	}
}

// BenchmarkPrivilegedAttach measures Attach alone (Detach runs with the
// timer stopped) and reports its p50 and p99 in milliseconds.
func BenchmarkPrivilegedAttach(b *testing.B) {
	testenv.RequirePrivileged(b)
	f := newAttachFixture(b)
	var attach, detach []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprintf("bench-%d", i)
		t0 := time.Now()
		if _, err := f.m.Attach(b.Context(), id); err != nil {
			b.Fatal(err)
		}
		attach = append(attach, time.Since(t0))
		b.StopTimer()
		t1 := time.Now()
		if err := f.m.Detach(b.Context(), id); err != nil {
			b.Fatal(err)
		}
		detach = append(detach, time.Since(t1))
		b.StartTimer()
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		slices.Sort(d)
		return float64(d[int(float64(len(d)-1)*p)]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(attach, 0.50), "p50-ms")
	b.ReportMetric(pct(attach, 0.99), "p99-ms")
	b.ReportMetric(pct(detach, 0.50), "detach-p50-ms")
	if left := f.leftovers(b); len(left) > 0 {
		b.Errorf("after benchmark: %v", left)
	}
}
