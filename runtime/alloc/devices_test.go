package alloc

import (
	"errors"
	"slices"
	"testing"
)

// gpuNode is 4 cores on two NUMA nodes and 4 GPUs, two per node, listed
// with node 1's first so that affinity, not order, decides.
func gpuNode(t *testing.T) *Allocator {
	t.Helper()
	a, err := New(Options{
		Cores: []int{0, 1, 2, 3}, MemoryBytes: 8 << 30,
		Devices:   []Device{{ID: "0", NUMANode: 1}, {ID: "1", NUMANode: 1}, {ID: "2", NUMANode: 0}, {ID: "3", NUMANode: 0}},
		CoreNodes: map[int]int{0: 0, 1: 0, 2: 1, 3: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestDevicesCapacityAndAffinity(t *testing.T) {
	a := gpuNode(t)
	if c := a.Capacity()[SlotCUDADevice]; c != "4" {
		t.Fatalf("cuda.device capacity %q", c)
	}
	// cores 0,1 (node 0) are picked first for a 2-cpu kernel: its GPUs
	// come from node 0.
	k1, err := a.Allocate("k1", map[string]string{"cpu": "2", "mem": "1073741824", "cuda.device": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(k1.CPUs, []int{0, 1}) || !slices.Equal(k1.Devices, []string{"2", "3"}) {
		t.Fatalf("k1 cpus %v devices %v, want [0 1] on GPUs [2 3]", k1.CPUs, k1.Devices)
	}
	if k1.Slots["cuda.device"] != "2" {
		t.Errorf("slots %v", k1.Slots)
	}
	k2, err := a.Allocate("k2", map[string]string{"cpu": "1", "mem": "1073741824", "cuda.device": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(k2.Devices) != 1 || slices.Contains(k1.Devices, k2.Devices[0]) {
		t.Fatalf("k2 devices %v overlap k1's %v", k2.Devices, k1.Devices)
	}
	if u := a.Usage()[SlotCUDADevice]; u != "3" {
		t.Errorf("usage %q", u)
	}
	// One GPU left: two is short, and nothing else is taken (all or nothing).
	_, err = a.Allocate("k3", map[string]string{"cpu": "1", "mem": "1073741824", "cuda.device": "2"})
	if !errors.Is(err, ErrInsufficient) {
		t.Fatalf("k3: %v, want ErrInsufficient", err)
	}
	if u := a.Usage(); u["cpu"] != "3" || u[SlotCUDADevice] != "3" {
		t.Errorf("a failed allocation changed usage: %v", u)
	}
	a.Release("k1")
	if u := a.Usage()[SlotCUDADevice]; u != "1" {
		t.Errorf("usage after release %q", u)
	}
}

func TestDevicesRefused(t *testing.T) {
	a := gpuNode(t)
	if _, err := a.Allocate("k", map[string]string{"cpu": "1", "mem": "1073741824", "cuda.device": "0.5"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("fractional GPU: %v", err)
	}
	noGPU, err := New(Options{Cores: []int{0}, MemoryBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noGPU.Allocate("k", map[string]string{"cpu": "1", "mem": "1048576", "cuda.device": "1"}); !errors.Is(err, ErrUnknownSlot) {
		t.Errorf("GPU on a node without: %v", err)
	}
	if _, ok := noGPU.Capacity()[SlotCUDADevice]; ok {
		t.Error("a node without GPUs offers cuda.device")
	}
	if _, err := noGPU.Allocate("k", map[string]string{"cpu": "1", "mem": "1048576", "cuda.device": "0"}); err != nil {
		t.Errorf("zero GPUs on a node without: %v", err)
	}
}

func TestDevicesRestore(t *testing.T) {
	a := gpuNode(t)
	k1, err := a.Allocate("k1", map[string]string{"cpu": "1", "mem": "1073741824", "cuda.device": "2"})
	if err != nil {
		t.Fatal(err)
	}
	b := gpuNode(t)
	if err := b.Restore([]Allocation{k1}); err != nil {
		t.Fatal(err)
	}
	if u := b.Usage()[SlotCUDADevice]; u != "2" {
		t.Fatalf("restored usage %q", u)
	}
	k2, err := b.Allocate("k2", map[string]string{"cpu": "1", "mem": "1073741824", "cuda.device": "2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range k2.Devices {
		if slices.Contains(k1.Devices, d) {
			t.Errorf("GPU %s given twice after restore", d)
		}
	}
	c := gpuNode(t)
	twice := k1
	twice.KernelID = "other"
	if err := c.Restore([]Allocation{k1, twice}); !errors.Is(err, ErrInsufficient) {
		t.Errorf("a GPU held twice: %v", err)
	}
	gone := k1
	gone.Devices = []string{"9"}
	if err := c.Restore([]Allocation{gone}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a GPU not on the node: %v", err)
	}
}
