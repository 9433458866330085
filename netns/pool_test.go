package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"slices"
)

// fakeClock is a settable clock for the pool's cooldown.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestPool(t *testing.T, start, end int, cooldown time.Duration) (*PortPool, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	p, err := NewPortPool(start, end, cooldown, clk.now)
	if err != nil {
		t.Fatalf("NewPortPool: %v", err)
	}
	return p, clk
}

func mustTake(t *testing.T, p *PortPool, owner string, n int) []int {
	t.Helper()
	ports, err := p.Take(owner, n)
	if err != nil {
		t.Fatalf("Take(%s, %d): %v", owner, n, err)
	}
	return ports
}

func TestNewPortPoolBadInput(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start, end int
		cooldown   time.Duration
	}{
		{"reversed", 30010, 30000, 0},
		{"zero start", 0, 10, 0},
		{"beyond 65535", 65530, 65536, 0},
		{"negative cooldown", 30000, 30010, -time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewPortPool(tc.start, tc.end, tc.cooldown, nil); err == nil {
				t.Fatal("NewPortPool: want an error")
			}
		})
	}
}

func TestPortPoolFIFO(t *testing.T) {
	p, _ := newTestPool(t, 30000, 30005, 0)
	if got := mustTake(t, p, "a", 2); !slices.Equal(got, []int{30000, 30001}) {
		t.Fatalf("first take = %v", got)
	}
	mustTake(t, p, "b", 2) // 30002, 30003
	if got := p.Release("a"); !slices.Equal(got, []int{30000, 30001}) {
		t.Fatalf("Release(a) = %v", got)
	}
	p.Release("b")
	// Never-used ports come first, then a's ports (released before b's), then b's.
	want := []int{30004, 30005, 30000, 30001, 30002, 30003}
	if got := mustTake(t, p, "c", 6); !slices.Equal(got, want) {
		t.Fatalf("take after release = %v, want %v", got, want)
	}
	if p.Free() != 0 {
		t.Fatalf("Free = %d, want 0", p.Free())
	}
	if got := p.Held("c"); !slices.Equal(got, []int{30000, 30001, 30002, 30003, 30004, 30005}) {
		t.Fatalf("Held(c) = %v", got)
	}
}

func TestPortPoolCooldown(t *testing.T) {
	p, clk := newTestPool(t, 30000, 30003, time.Minute)
	mustTake(t, p, "a", 4)
	p.Release("a")
	if n := p.Free(); n != 0 {
		t.Fatalf("Free right after release = %d, want 0", n)
	}
	if _, err := p.Take("b", 1); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("Take during cooldown: %v, want ErrPortsExhausted", err)
	}
	clk.advance(59 * time.Second)
	if _, err := p.Take("b", 1); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("Take at 59s: %v, want ErrPortsExhausted", err)
	}
	clk.advance(time.Second)
	if n := p.Free(); n != 4 {
		t.Fatalf("Free after cooldown = %d, want 4", n)
	}
	got := mustTake(t, p, "b", 1)
	// Released later: only those ports still cool down.
	p.Release("b")
	clk.advance(30 * time.Second)
	if n := p.Free(); n != 3 {
		t.Fatalf("Free with one port cooling = %d, want 3", n)
	}
	ports := mustTake(t, p, "c", 3)
	for _, port := range ports {
		if port == got[0] {
			t.Fatalf("Take handed out port %d during its cooldown", port)
		}
	}
	// TakeSpecific ignores the cooldown (assign_port).
	if err := p.TakeSpecific("d", got[0]); err != nil {
		t.Fatalf("TakeSpecific during cooldown: %v", err)
	}
}

func TestPortPoolExhaustion(t *testing.T) {
	p, _ := newTestPool(t, 30000, 30003, 0)
	mustTake(t, p, "a", 3)
	_, err := p.Take("b", 2)
	if !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("Take(2) with 1 free: %v, want ErrPortsExhausted", err)
	}
	if !strings.Contains(err.Error(), "1 free") {
		t.Fatalf("error %q does not say how many were free", err)
	}
	// All-or-nothing: the one free port is still there.
	if n := p.Free(); n != 1 {
		t.Fatalf("Free after failed take = %d, want 1", n)
	}
	if got := p.Held("b"); len(got) != 0 {
		t.Fatalf("failed take left ports with b: %v", got)
	}
	if got := mustTake(t, p, "b", 1); !slices.Equal(got, []int{30003}) {
		t.Fatalf("Take(1) = %v", got)
	}
	if _, err := p.Take("c", 1); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("Take on a full pool: %v", err)
	}
	if got, err := p.Take("c", 0); err != nil || len(got) != 0 {
		t.Fatalf("Take(0) = %v, %v", got, err)
	}
}

func TestPortPoolTakeSpecific(t *testing.T) {
	p, _ := newTestPool(t, 30000, 30003, 0)
	if err := p.TakeSpecific("a", 30002); err != nil {
		t.Fatalf("TakeSpecific: %v", err)
	}
	if err := p.TakeSpecific("a", 30002); err != nil {
		t.Fatalf("TakeSpecific again by the same owner: %v", err)
	}
	if err := p.TakeSpecific("b", 30002); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("TakeSpecific of a held port: %v, want ErrPortInUse", err)
	}
	if err := p.TakeSpecific("b", 29999); !errors.Is(err, ErrPortOutOfRange) {
		t.Fatalf("TakeSpecific out of range: %v, want ErrPortOutOfRange", err)
	}
	if got := mustTake(t, p, "b", 3); !slices.Equal(got, []int{30000, 30001, 30003}) {
		t.Fatalf("Take skips the specific port: got %v", got)
	}
}

func TestPortPoolRestore(t *testing.T) {
	p, _ := newTestPool(t, 30000, 30005, time.Minute)
	err := p.Restore(map[string][]int{
		"k1": {30001, 30004},
		"k2": {30002, 40000}, // 40000 is outside the range: ignored
	})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := p.Held("k1"); !slices.Equal(got, []int{30001, 30004}) {
		t.Fatalf("Held(k1) = %v", got)
	}
	if got := p.Held("k2"); !slices.Equal(got, []int{30002}) {
		t.Fatalf("Held(k2) = %v", got)
	}
	if got := mustTake(t, p, "k3", 3); !slices.Equal(got, []int{30000, 30003, 30005}) {
		t.Fatalf("Take after restore = %v", got)
	}

	t.Run("conflict changes nothing", func(t *testing.T) {
		err := p.Restore(map[string][]int{"k4": {30001}})
		if !errors.Is(err, ErrPortInUse) {
			t.Fatalf("Restore of a held port: %v, want ErrPortInUse", err)
		}
		q, _ := newTestPool(t, 30000, 30003, 0)
		err = q.Restore(map[string][]int{"x": {30000}, "y": {30000, 30001}})
		if !errors.Is(err, ErrPortInUse) {
			t.Fatalf("Restore with a doubly claimed port: %v, want ErrPortInUse", err)
		}
		if n := q.Free(); n != 4 {
			t.Fatalf("Free after failed restore = %d, want 4", n)
		}
	})
}

func TestCheckPreopenPorts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ports []int
		want  error
		names []string
	}{
		{"ok", []int{8080, 1, 65535, 2004, 7680}, nil, nil},
		{"empty", nil, nil, nil},
		{"repl", []int{8080, 2000}, ErrReservedPort, []string{"2000"}},
		{"all reserved", []int{2000, 2001, 2002, 2003, 2200, 7681}, ErrReservedPort,
			[]string{"2000", "2001", "2002", "2003", "2200", "7681"}},
		{"zero", []int{0}, ErrInvalidPort, []string{"port 0"}},
		{"too big", []int{65536}, ErrInvalidPort, []string{"65536"}},
		{"negative", []int{-1}, ErrInvalidPort, []string{"-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPreopenPorts(tc.ports)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("CheckPreopenPorts(%v) = %v, want nil", tc.ports, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckPreopenPorts(%v) = %v, want %v", tc.ports, err, tc.want)
			}
			for _, s := range tc.names {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
		})
	}
}

func TestPortPoolConcurrent(t *testing.T) {
	const owners, rounds = 16, 200
	p, clk := newTestPool(t, 30000, 30063, time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	holder := make(map[int]string)
	errs := make(chan error, owners)
	for w := range owners {
		wg.Go(func() {
			owner := fmt.Sprintf("k%d", w)
			for range rounds {
				ports, err := p.Take(owner, 3)
				if errors.Is(err, ErrPortsExhausted) {
					clk.advance(time.Second)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, port := range ports {
					if h, ok := holder[port]; ok {
						mu.Unlock()
						errs <- fmt.Errorf("port %d handed to %s while held by %s", port, owner, h)
						return
					}
					holder[port] = owner
				}
				mu.Unlock()
				_ = p.Free()
				mu.Lock()
				for _, port := range ports {
					delete(holder, port)
				}
				mu.Unlock()
				if got := p.Release(owner); len(got) != 3 {
					errs <- fmt.Errorf("Release(%s) = %v, want 3 ports", owner, got)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	clk.advance(time.Minute)
	if n := p.Free(); n != 64 {
		t.Fatalf("Free at the end = %d, want 64", n)
	}
}

// TestMappingRuleRoundTrip checks that the DNAT rule of a mapping parses
// back to the mapping (the privileged tests do so through the kernel).
func TestMappingRuleRoundTrip(t *testing.T) {
	kip := netip.MustParseAddr("10.232.0.2")
	for _, m := range []Mapping{
		{KernelID: "k1", HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 30000, KernelIP: kip, KernelPort: 2000, Proto: "tcp"},
		{KernelID: "k2", HostIP: netip.IPv4Unspecified(), HostPort: 30001, KernelIP: kip, KernelPort: 8080, Proto: "udp"},
		{KernelID: "k3", HostIP: netip.MustParseAddr("192.0.2.7"), HostPort: 65535, KernelIP: kip, KernelPort: 1, Proto: "tcp"},
	} {
		t.Run(m.KernelID, func(t *testing.T) {
			id, ok := taggedKernel(kernelTag(m.KernelID))
			if !ok || id != m.KernelID {
				t.Fatalf("tag round trip = %q, %v", id, ok)
			}
			got, err := parseDNAT(id, dnatExprs(m))
			if err != nil || got != m {
				t.Fatalf("parseDNAT = %+v, %v; want %+v", got, err, m)
			}
		})
	}
	if _, err := parseDNAT("k", masqExprs(netip.MustParsePrefix("10.0.0.0/8"), "br0", true)); err == nil {
		t.Fatal("parseDNAT of a masquerade rule: want an error")
	}
	for _, bad := range []Mapping{
		{HostIP: kip, HostPort: 1, KernelIP: kip, KernelPort: 1},
		{KernelID: "k", HostIP: kip, HostPort: 0, KernelIP: kip, KernelPort: 1},
		{KernelID: "k", HostIP: kip, HostPort: 1, KernelIP: netip.IPv4Unspecified(), KernelPort: 1},
		{KernelID: "k", HostIP: netip.MustParseAddr("::1"), HostPort: 1, KernelIP: kip, KernelPort: 1},
		{KernelID: "k", HostIP: kip, HostPort: 1, KernelIP: kip, KernelPort: 1, Proto: "sctp"},
	} {
		if _, err := bad.normalize(); !errors.Is(err, ErrInvalidMapping) {
			t.Errorf("normalize(%+v) = %v, want ErrInvalidMapping", bad, err)
		}
	}
}
