package netns

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestIPAMLeaseReleaseExhaust(t *testing.T) {
	subnet := netip.MustParsePrefix("10.231.7.0/29") // .0 net, .1 gw, .7 bcast: .2-.6
	p, err := NewIPAM(t.TempDir(), subnet)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range []string{"k1", "k2", "k3", "k4", "k5"} {
		a, err := p.Lease(id)
		if err != nil {
			t.Fatalf("lease %s: %v", id, err)
		}
		got = append(got, a.String())
	}
	if want := "10.231.7.2 10.231.7.3 10.231.7.4 10.231.7.5 10.231.7.6"; strings.Join(got, " ") != want {
		t.Errorf("leases = %v, want %s", got, want)
	}
	if _, err := p.Lease("k6"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("lease on a full pool: err = %v, want ErrExhausted", err)
	}
	if err := p.Release("k3"); err != nil {
		t.Fatal(err)
	}
	if err := p.Release("k3"); err != nil {
		t.Fatalf("second release: %v", err)
	}
	a, err := p.Lease("k6")
	if err != nil || a.String() != "10.231.7.4" {
		t.Fatalf("lease after release = %v, %v; want 10.231.7.4", a, err)
	}
}

func TestIPAMIdempotentAndRoundRobin(t *testing.T) {
	p, err := NewIPAM(t.TempDir(), netip.MustParsePrefix("10.231.8.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := p.Lease("a")
	a2, err := p.Lease("a")
	if err != nil || a1 != a2 {
		t.Fatalf("second lease of a = %v, %v; want %v", a2, err, a1)
	}
	if err := p.Release("a"); err != nil {
		t.Fatal(err)
	}
	b, _ := p.Lease("b")
	if b == a1 {
		t.Errorf("released address %v reused at once; want round-robin", b)
	}
}

func TestIPAMPersistAndReload(t *testing.T) {
	dir := t.TempDir()
	subnet := netip.MustParsePrefix("10.231.9.0/24")
	p, err := NewIPAM(dir, subnet)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]netip.Addr{}
	for _, id := range []string{"x", "y", "z"} {
		a, err := p.Lease(id)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = a
	}
	if err := p.Release("y"); err != nil {
		t.Fatal(err)
	}
	delete(want, "y")
	// A crash mid-write leaves a temporary file; reload must ignore it.
	if err := os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte("10.231.9.9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := NewIPAM(dir, subnet)
	if err != nil {
		t.Fatal(err)
	}
	got := q.Leases()
	if len(got) != len(want) || got["x"] != want["x"] || got["z"] != want["z"] {
		t.Fatalf("reloaded leases = %v, want %v", got, want)
	}
	a, _ := q.Lease("w")
	if a == want["x"] || a == want["z"] {
		t.Errorf("new lease %v collides with a reloaded one", a)
	}
	names, _ := os.ReadDir(dir)
	var files []string
	for _, n := range names {
		files = append(files, n.Name())
	}
	sort.Strings(files)
	if got := strings.Join(files, " "); got != "w.lease x.lease z.lease" {
		t.Errorf("lease dir = %q", got)
	}
}

func TestIPAMNeverGatewayNetworkBroadcast(t *testing.T) {
	subnet := netip.MustParsePrefix("10.231.10.0/28")
	p, err := NewIPAM(t.TempDir(), subnet)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		a, err := p.Lease("k" + string(rune('a'+i)))
		if errors.Is(err, ErrExhausted) {
			if i != 13 {
				t.Errorf("%d leases in a /28, want 13", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch a.String() {
		case "10.231.10.0", "10.231.10.1", "10.231.10.15":
			t.Fatalf("leased reserved address %v", a)
		}
	}
}

func TestIPAMBadInput(t *testing.T) {
	for _, tc := range []struct{ name, subnet string }{
		{"unmasked", "10.231.0.5/24"},
		{"slash31", "10.231.0.0/31"},
		{"slash32", "10.231.0.0/32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewIPAM(t.TempDir(), netip.MustParsePrefix(tc.subnet)); err == nil {
				t.Errorf("NewIPAM(%s) succeeded", tc.subnet)
			}
		})
	}
	t.Run("lease outside subnet", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "k.lease"), []byte("10.9.9.9\n"), 0o600)
		if _, err := NewIPAM(dir, netip.MustParsePrefix("10.231.0.0/24")); err == nil || !strings.Contains(err.Error(), "k.lease") {
			t.Errorf("err = %v, want one naming k.lease", err)
		}
	})
	t.Run("bad kernel ids", func(t *testing.T) {
		p, _ := NewIPAM(t.TempDir(), netip.MustParsePrefix("10.231.0.0/24"))
		for _, id := range []string{"", ".hidden", "a/b", strings.Repeat("x", 201)} {
			if _, err := p.Lease(id); err == nil {
				t.Errorf("Lease(%q) succeeded", id)
			}
		}
	})
}
