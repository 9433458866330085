package alloc

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const gib = int64(1) << 30

func cores(n int) []int {
	c := make([]int, n)
	for i := range c {
		c[i] = i
	}
	return c
}

func TestNewCapacity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       Options
		want    map[string]string
		wantErr string
	}{
		{"plain", Options{Cores: cores(4), MemoryBytes: 16 * gib},
			map[string]string{"cpu": "4", "mem": "17179869184"}, ""},
		{"reserved and aligned", Options{Cores: cores(4), MemoryBytes: 16*gib + 100, ReservedCPU: 1, ReservedMem: gib, MemAlign: 256 << 20},
			map[string]string{"cpu": "3", "mem": fmt.Sprint(15 * gib)}, ""},
		{"alignment rounds down", Options{Cores: cores(2), MemoryBytes: 1000, ReservedMem: 10, MemAlign: 100},
			map[string]string{"cpu": "2", "mem": "900"}, ""},
		{"cpu overcommit", Options{Cores: cores(3), MemoryBytes: gib, CPUOvercommit: 1.5, ReservedCPU: 1},
			map[string]string{"cpu": "3.5", "mem": fmt.Sprint(gib)}, ""},
		{"mem overcommit", Options{Cores: cores(1), MemoryBytes: gib, MemOvercommit: 2, ReservedMem: gib / 2},
			map[string]string{"cpu": "1", "mem": fmt.Sprint(3 * gib / 2)}, ""},
		{"cores unsorted", Options{Cores: []int{3, 1}, MemoryBytes: gib},
			map[string]string{"cpu": "2", "mem": fmt.Sprint(gib)}, ""},
		{"no cores", Options{MemoryBytes: gib}, nil, "no cpu cores"},
		{"duplicate core", Options{Cores: []int{0, 0}, MemoryBytes: gib}, nil, "duplicate core id 0"},
		{"negative core", Options{Cores: []int{-1}, MemoryBytes: gib}, nil, "invalid or duplicate core id -1"},
		{"reserved all cpu", Options{Cores: cores(2), MemoryBytes: gib, ReservedCPU: 2}, nil, "leaves no cpu"},
		{"reserved all mem", Options{Cores: cores(2), MemoryBytes: gib, ReservedMem: gib}, nil, "leave no memory"},
		{"negative reserve", Options{Cores: cores(2), MemoryBytes: gib, ReservedMem: -1}, nil, "must not be negative"},
		{"no memory", Options{Cores: cores(2)}, nil, "memory 0 is not positive"},
		{"nan overcommit", Options{Cores: cores(2), MemoryBytes: gib, CPUOvercommit: nanValue()}, nil, "cpu overcommit: invalid factor"},
		{"negative overcommit", Options{Cores: cores(2), MemoryBytes: gib, MemOvercommit: -1}, nil, "mem overcommit: invalid factor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := a.Capacity(); !maps.Equal(got, tc.want) {
				t.Errorf("Capacity = %v, want %v", got, tc.want)
			}
			if got, want := a.Usage(), map[string]string{"cpu": "0", "mem": "0"}; !maps.Equal(got, want) {
				t.Errorf("Usage = %v, want %v", got, want)
			}
		})
	}
}

func nanValue() float64 { z := 0.0; return z / z }

// step is one call in an allocation scenario. For "alloc", want is the
// allocation as text (cpus, shares, quota, mem, slots) or wantErr a
// sentinel and wantText a part of the message; for "release", want is
// "true" or "false".
type step struct {
	op, kid  string
	slots    map[string]string
	want     string
	wantErr  error
	wantText string
}

func alloc(kid, cpu, mem string) step {
	return step{op: "alloc", kid: kid, slots: map[string]string{"cpu": cpu, "mem": mem}}
}

func (s step) ok(want string) step { s.want = want; return s }
func (s step) fails(err error, text string) step {
	s.wantErr, s.wantText = err, text
	return s
}
func release(kid string, want bool) step {
	return step{op: "release", kid: kid, want: fmt.Sprint(want)}
}

func text(a Allocation) string {
	return fmt.Sprintf("cpus=%v shares=%v quota=%g mem=%d slots=%v", a.CPUs, a.CoreShares, a.CPUQuota, a.MemoryBytes, a.Slots)
}

func TestAllocate(t *testing.T) {
	four := Options{Cores: cores(4), MemoryBytes: 4 * gib}
	for _, tc := range []struct {
		name      string
		o         Options
		steps     []step
		wantUsage map[string]string
	}{
		{"evenly spread then exhaustion", four, []step{
			alloc("k1", "1", "1024").ok("cpus=[0] shares=map[0:1] quota=1 mem=1024 slots=map[cpu:1 mem:1024]"),
			alloc("k2", "1", "1024").ok("cpus=[1] shares=map[1:1] quota=1 mem=1024 slots=map[cpu:1 mem:1024]"),
			alloc("k3", "2", "1024").ok("cpus=[2 3] shares=map[2:1 3:1] quota=2 mem=1024 slots=map[cpu:2 mem:1024]"),
			alloc("k4", "1", "1024").fails(ErrInsufficient, "cpu: requested 1, free 0"),
			release("k2", true),
			release("k2", false),
			alloc("k4", "1", "1024").ok("cpus=[1] shares=map[1:1] quota=1 mem=1024 slots=map[cpu:1 mem:1024]"),
		}, map[string]string{"cpu": "4", "mem": "3072"}},
		{"fractional cpu", Options{Cores: cores(2), MemoryBytes: gib}, []step{
			alloc("k1", "0.5", "1").ok("cpus=[0] shares=map[0:0.5] quota=0.5 mem=1 slots=map[cpu:0.5 mem:1]"),
			alloc("k2", "0.50", "1").ok("cpus=[1] shares=map[1:0.5] quota=0.5 mem=1 slots=map[cpu:0.5 mem:1]"),
			alloc("k3", "1", "1").fails(ErrInsufficient, "cpu: requested 1, free 1, but no 1 cores have room for it"),
			alloc("k3", "0.25", "1").ok("cpus=[0] shares=map[0:0.25] quota=0.25 mem=1 slots=map[cpu:0.25 mem:1]"),
		}, map[string]string{"cpu": "1.25", "mem": "3"}},
		{"fraction takes one more core", four, []step{
			alloc("k1", "1.5", "1").ok("cpus=[0 1] shares=map[0:1 1:0.5] quota=1.5 mem=1 slots=map[cpu:1.5 mem:1]"),
			alloc("k2", "2.001", "1").ok("cpus=[1 2 3] shares=map[1:0.001 2:1 3:1] quota=2.001 mem=1 slots=map[cpu:2.001 mem:1]"),
		}, map[string]string{"cpu": "3.501", "mem": "2"}},
		{"overcommit puts two units on a core", Options{Cores: cores(2), MemoryBytes: gib, CPUOvercommit: 2}, []step{
			alloc("k1", "3", "1").ok("cpus=[0 1] shares=map[0:2 1:1] quota=3 mem=1 slots=map[cpu:3 mem:1]"),
			alloc("k2", "1", "1").ok("cpus=[1] shares=map[1:1] quota=1 mem=1 slots=map[cpu:1 mem:1]"),
			alloc("k3", "0.001", "1").fails(ErrInsufficient, "cpu: requested 0.001, free 0"),
		}, map[string]string{"cpu": "4", "mem": "2"}},
		{"reserved cpu limits the count, not the cores", Options{Cores: cores(4), MemoryBytes: gib, ReservedCPU: 1}, []step{
			alloc("k1", "4", "1").fails(ErrInsufficient, "cpu: requested 4, free 3"),
			alloc("k1", "3", "1").ok("cpus=[0 1 2] shares=map[0:1 1:1 2:1] quota=3 mem=1 slots=map[cpu:3 mem:1]"),
		}, map[string]string{"cpu": "3", "mem": "1"}},
		{"all or nothing", Options{Cores: cores(4), MemoryBytes: gib}, []step{
			alloc("k1", "2", fmt.Sprint(2*gib)).fails(ErrInsufficient, "mem: requested 2147483648, free 1073741824"),
			alloc("k1", "5", fmt.Sprint(2*gib)).fails(ErrInsufficient, "cpu: requested 5, free 4; mem: requested 2147483648, free 1073741824"),
			alloc("k2", "4", fmt.Sprint(gib)).ok("cpus=[0 1 2 3] shares=map[0:1 1:1 2:1 3:1] quota=4 mem=1073741824 slots=map[cpu:4 mem:1073741824]"),
			alloc("k3", "0.001", "1").fails(ErrInsufficient, "cpu: requested 0.001, free 0; mem: requested 1, free 0"),
		}, map[string]string{"cpu": "4", "mem": fmt.Sprint(gib)}},
		{"unknown slots", four, []step{
			{op: "alloc", kid: "k1", slots: map[string]string{"cpu": "1", "mem": "1", "cuda.device": "1"}, wantErr: ErrUnknownSlot, wantText: "slot cuda.device (requested 1)"},
			{op: "alloc", kid: "k1", slots: map[string]string{"cpu": "1", "mem": "1", "cuda.device": "0", "cuda.shares": "0.000"},
				want: "cpus=[0] shares=map[0:1] quota=1 mem=1 slots=map[cpu:1 cuda.device:0 cuda.shares:0 mem:1]"},
		}, map[string]string{"cpu": "1", "mem": "1"}},
		{"amounts", four, []step{
			alloc("k1", "1.000", "1073741824.0").ok("cpus=[0] shares=map[0:1] quota=1 mem=1073741824 slots=map[cpu:1 mem:1073741824]"),
			alloc("k2", "1E+0", "1e3").ok("cpus=[1] shares=map[1:1] quota=1 mem=1000 slots=map[cpu:1 mem:1000]"),
			alloc("k3", "-1", "1").fails(ErrInvalid, `slot cpu: amount "-1": negative amount`),
			alloc("k3", "1", "-5").fails(ErrInvalid, `slot mem: amount "-5": negative amount`),
			alloc("k3", "NaN", "1").fails(ErrInvalid, "not a finite decimal"),
			alloc("k3", "Infinity", "1").fails(ErrInvalid, "not a finite decimal"),
			alloc("k3", "1/2", "1").fails(ErrInvalid, "not a finite decimal"),
			alloc("k3", "0x10", "1").fails(ErrInvalid, "not a finite decimal"),
			alloc("k3", "1", "1g").fails(ErrInvalid, "not a finite decimal"),
			alloc("k3", "", "1").fails(ErrInvalid, "not a finite decimal"),
			alloc("k3", "0.0001", "1").fails(ErrInvalid, "more than 3 decimal places"),
			alloc("k3", "1", "1.5").fails(ErrInvalid, "fractional bytes"),
			alloc("k3", "1", "1e30").fails(ErrInvalid, "amount too large"),
			alloc("k3", "0", "1").fails(ErrInvalid, "slot cpu: missing or zero"),
			alloc("k3", "-0", "1").fails(ErrInvalid, "slot cpu: missing or zero"),
			alloc("k3", "1", "0").fails(ErrInvalid, "slot mem: missing or zero"),
			{op: "alloc", kid: "k3", slots: map[string]string{"mem": "1"}, wantErr: ErrInvalid, wantText: "slot cpu: missing or zero"},
			{op: "alloc", kid: "k3", slots: map[string]string{"cpu": "1", "mem": "1", "x": "y"}, wantErr: ErrInvalid, wantText: `slot x: amount "y"`},
			alloc("", "1", "1").fails(ErrInvalid, "empty kernel id"),
			alloc("k1", "1", "1").fails(ErrAllocated, "allocate for kernel k1"),
		}, map[string]string{"cpu": "2", "mem": "1073742824"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.o)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for i, s := range tc.steps {
				switch s.op {
				case "release":
					if got := fmt.Sprint(a.Release(s.kid)); got != s.want {
						t.Errorf("step %d: Release(%s) = %s, want %s", i, s.kid, got, s.want)
					}
				case "alloc":
					before := a.Usage()
					got, err := a.Allocate(s.kid, s.slots)
					if s.wantErr != nil {
						if !errors.Is(err, s.wantErr) || !strings.Contains(err.Error(), s.wantText) {
							t.Errorf("step %d: Allocate(%s, %v) error %v, want %v containing %q", i, s.kid, s.slots, err, s.wantErr, s.wantText)
						}
						if after := a.Usage(); !maps.Equal(before, after) {
							t.Errorf("step %d: failed Allocate changed usage %v -> %v", i, before, after)
						}
						continue
					}
					if err != nil {
						t.Fatalf("step %d: Allocate(%s, %v): %v", i, s.kid, s.slots, err)
					}
					if got.KernelID != s.kid || text(got) != s.want {
						t.Errorf("step %d: Allocate(%s) = %s %s\nwant %s %s", i, s.kid, got.KernelID, text(got), s.kid, s.want)
					}
				}
			}
			if got := a.Usage(); !maps.Equal(got, tc.wantUsage) {
				t.Errorf("Usage = %v, want %v", got, tc.wantUsage)
			}
		})
	}
}

func TestAllocationIsACopy(t *testing.T) {
	a, err := New(Options{Cores: cores(2), MemoryBytes: gib})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Allocate("k1", map[string]string{"cpu": "1", "mem": "1"})
	if err != nil {
		t.Fatal(err)
	}
	got.CPUs[0] = 7
	got.Slots["cpu"] = "9"
	got.CoreShares[0] = "9"
	if a.Release("k1") != true {
		t.Fatal("Release(k1) = false")
	}
	if u := a.Usage(); u["cpu"] != "0" {
		t.Errorf("Usage after release = %v, want cpu 0", u)
	}
}

func TestRestore(t *testing.T) {
	o := Options{Cores: cores(4), MemoryBytes: 4 * gib}
	recovered := []Allocation{
		{KernelID: "k1", CPUs: []int{1, 0}, CPUQuota: 2, MemoryBytes: gib,
			Slots: map[string]string{"cpu": "2", "mem": fmt.Sprint(gib), "cuda.device": "0"}},
		{KernelID: "k2", CPUs: []int{2}, CoreShares: map[int]string{2: "0.5"}, CPUQuota: 0.5, MemoryBytes: gib},
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate("k0", map[string]string{"cpu": "4", "mem": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(recovered); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got, want := a.Usage(), map[string]string{"cpu": "2.5", "mem": fmt.Sprint(2 * gib)}; !maps.Equal(got, want) {
		t.Errorf("Usage after Restore = %v, want %v (the state before is replaced)", got, want)
	}
	if a.Release("k0") {
		t.Error("Release(k0) = true: Restore kept an allocation it was not given")
	}
	for _, s := range []step{
		alloc("k1", "1", "1").fails(ErrAllocated, "k1"),
		alloc("k3", "1", "1").ok("cpus=[3] shares=map[3:1] quota=1 mem=1 slots=map[cpu:1 mem:1]"),
		alloc("k4", "0.5", "1").ok("cpus=[2] shares=map[2:0.5] quota=0.5 mem=1 slots=map[cpu:0.5 mem:1]"),
		alloc("k5", "0.001", "1").fails(ErrInsufficient, "cpu: requested 0.001, free 0"),
	} {
		got, err := a.Allocate(s.kid, s.slots)
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Errorf("Allocate(%s) error %v, want %v", s.kid, err, s.wantErr)
			}
			continue
		}
		if err != nil || text(got) != s.want {
			t.Errorf("Allocate(%s) = %s, %v; want %s", s.kid, text(got), err, s.want)
		}
	}
	if !a.Release("k1") {
		t.Error("Release(k1) = false after Restore")
	}
	if got, err := a.Allocate("k6", map[string]string{"cpu": "2", "mem": "1"}); err != nil || fmt.Sprint(got.CPUs) != "[0 1]" {
		t.Errorf("Allocate(k6) after releasing restored k1 = %v, %v; want cores [0 1]", got.CPUs, err)
	}
}

func TestRestoreRejects(t *testing.T) {
	ok := Allocation{KernelID: "ok", CPUs: []int{3}, CPUQuota: 1, MemoryBytes: 1}
	for _, tc := range []struct {
		name    string
		in      []Allocation
		wantErr error
		text    string
	}{
		{"duplicate kernel", []Allocation{ok, ok}, ErrInvalid, "duplicate kernel"},
		{"empty id", []Allocation{{CPUs: []int{0}, CPUQuota: 1, MemoryBytes: 1}}, ErrInvalid, "empty kernel id"},
		{"unknown core", []Allocation{{KernelID: "k", CPUs: []int{9}, CPUQuota: 1, MemoryBytes: 1}}, ErrInvalid, "core 9 is not available"},
		{"no cores", []Allocation{{KernelID: "k", CPUQuota: 1, MemoryBytes: 1}}, ErrInvalid, "empty or repeats"},
		{"repeated core", []Allocation{{KernelID: "k", CPUs: []int{1, 1}, CPUQuota: 1, MemoryBytes: 1}}, ErrInvalid, "empty or repeats"},
		{"zero quota", []Allocation{{KernelID: "k", CPUs: []int{0}, MemoryBytes: 1}}, ErrInvalid, "cpu quota 0"},
		{"zero memory", []Allocation{{KernelID: "k", CPUs: []int{0}, CPUQuota: 1}}, ErrInvalid, "memory 0"},
		{"shares off cpuset", []Allocation{{KernelID: "k", CPUs: []int{0}, CoreShares: map[int]string{1: "1"}, CPUQuota: 1, MemoryBytes: 1}}, ErrInvalid, "do not match cpuset"},
		{"shares off quota", []Allocation{{KernelID: "k", CPUs: []int{0}, CoreShares: map[int]string{0: "0.5"}, CPUQuota: 1, MemoryBytes: 1}}, ErrInvalid, "add up to 0.5, not the quota 1"},
		{"core overfull", []Allocation{ok, {KernelID: "k", CPUs: []int{3}, CPUQuota: 0.5, MemoryBytes: 1}}, ErrInsufficient, "core 3 holds 1.5 of 1"},
		{"quota beyond cores", []Allocation{{KernelID: "k", CPUs: []int{0}, CPUQuota: 2, MemoryBytes: 1}}, ErrInsufficient, "core 0 holds 2 of 1"},
		{"memory beyond capacity", []Allocation{{KernelID: "k", CPUs: []int{0}, CPUQuota: 1, MemoryBytes: 5 * gib}}, ErrInsufficient, "mem 5368709120 of 4294967296"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(Options{Cores: cores(4), MemoryBytes: 4 * gib})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Allocate("before", map[string]string{"cpu": "1", "mem": "7"}); err != nil {
				t.Fatal(err)
			}
			err = a.Restore(tc.in)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Restore error %v, want %v containing %q", err, tc.wantErr, tc.text)
			}
			if got, want := a.Usage(), map[string]string{"cpu": "1", "mem": "7"}; !maps.Equal(got, want) {
				t.Errorf("failed Restore changed usage to %v", got)
			}
		})
	}
}

// TestConcurrentAllocateRelease runs allocations and releases from several
// goroutines (meant for -race) and checks that the holders never exceed
// the capacity and that everything is free at the end.
func TestConcurrentAllocateRelease(t *testing.T) {
	a, err := New(Options{Cores: cores(4), MemoryBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		onCore = map[int]int{} // holders per core
		wg     sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				kid := fmt.Sprintf("g%d-%d", g, i)
				cpu := []string{"1", "2", "0.5"}[i%3]
				got, err := a.Allocate(kid, map[string]string{"cpu": cpu, "mem": "8"})
				if errors.Is(err, ErrInsufficient) {
					continue
				}
				if err != nil {
					t.Errorf("Allocate(%s): %v", kid, err)
					return
				}
				mu.Lock()
				for _, c := range got.CPUs {
					onCore[c]++
					if cpu != "0.5" && onCore[c] > 1 {
						t.Errorf("core %d given to a whole-core kernel while held by another", c)
					}
				}
				mu.Unlock()
				mu.Lock()
				for _, c := range got.CPUs {
					onCore[c]--
				}
				mu.Unlock()
				if !a.Release(kid) {
					t.Errorf("Release(%s) = false", kid)
				}
			}
		})
	}
	wg.Wait()
	if got, want := a.Usage(), map[string]string{"cpu": "0", "mem": "0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Usage at the end = %v, want %v", got, want)
	}
}
