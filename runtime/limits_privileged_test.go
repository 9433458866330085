package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/baiagent/agent/test/testenv"
)

// cgroupFile reads a file of a kernel's cgroup, on v2 or the v1 hierarchy
// of the controller.
func cgroupFile(t *testing.T, controller, cgPath, name string) string {
	t.Helper()
	for _, p := range []string{
		filepath.Join("/sys/fs/cgroup", cgPath, name),
		filepath.Join("/sys/fs/cgroup", controller, cgPath, name),
	} {
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	t.Fatalf("cgroup file %s of %s not found", name, cgPath)
	return ""
}

// TestPrivilegedKernelLimitsEnforced proves the limits are applied and
// enforced by the kernel: a memory hog is OOM-killed and reported so, a
// fork bomb stops at the pids limit, a CPU burner is throttled to its
// quota, and the cpuset is honoured. It runs on the host (cgroup v1 here)
// and, as TestVMKernelLimitsEnforced, in the cgroup v2 VM lane.
func TestPrivilegedKernelLimitsEnforced(t *testing.T) {
	testenv.RequirePrivileged(t)
	kernelLimits(t, newEnv(t))
}

// TestVMKernelLimitsEnforced is the same test on cgroup v2, in the VM lane.
func TestVMKernelLimitsEnforced(t *testing.T) {
	testenv.RequireVMGuest(t)
	kernelLimits(t, newEnv(t))
}

func kernelLimits(t *testing.T, e *env) {
	e.opts.PidsLimit = 24
	m := e.manager(t)
	cleanup := func(id string) {
		t.Helper()
		if _, err := m.Destroy(t.Context(), id, time.Second); err != nil {
			t.Errorf("destroy %s: %v", id, err)
		}
	}

	t.Run("memory", func(t *testing.T) {
		if _, err := m.Create(t.Context(), CreateRequest{ID: "k-oom", Image: e.image, Slots: slots("1", "33554432"),
			Args: []string{"/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=100M count=1; echo survived"}}); err != nil {
			t.Fatal(err)
		}
		defer cleanup("k-oom")
		if got := strings.TrimSpace(cgroupFile(t, "memory", m.cgroupPath("k-oom"), firstExisting(m.cgroupPath("k-oom"), "memory", "memory.max", "memory.limit_in_bytes"))); got != "33554432" {
			t.Errorf("memory limit = %s", got)
		}
		ex, err := m.Wait(t.Context(), "k-oom")
		if err != nil {
			t.Fatal(err)
		}
		if !ex.OOMKilled {
			t.Fatalf("memory hog not reported as OOM-killed: %+v\n%s", ex, logsOf(t, m, "k-oom"))
		}
	})

	t.Run("pids", func(t *testing.T) {
		if _, err := m.Create(t.Context(), CreateRequest{ID: "k-fork", Image: e.image, Slots: slots("1", "67108864"),
			Args: []string{"/bin/sh", "-c", "n=0; while [ $n -lt 100 ]; do sleep 3 & n=$((n+1)); done; echo spawned; wait"}}); err != nil {
			t.Fatal(err)
		}
		defer cleanup("k-fork")
		if got := strings.TrimSpace(cgroupFile(t, "pids", m.cgroupPath("k-fork"), "pids.max")); got != "24" {
			t.Errorf("pids.max = %s", got)
		}
		if _, err := m.Wait(t.Context(), "k-fork"); err != nil {
			t.Fatal(err)
		}
		if l := logsOf(t, m, "k-fork"); !strings.Contains(l, "can't fork") && !strings.Contains(l, "Resource temporarily unavailable") {
			t.Fatalf("100 forks under pids.max=24 all succeeded:\n%s", l)
		}
	})

	t.Run("cpu", func(t *testing.T) {
		st, err := m.Create(t.Context(), CreateRequest{ID: "k-cpu", Image: e.image, Slots: slots("0.2", "67108864"),
			Args: []string{"/bin/sh", "-c", "grep Cpus_allowed_list /proc/self/status; timeout 1 sh -c 'while :; do :; done'; exit 0"}})
		if err != nil {
			t.Fatal(err)
		}
		defer cleanup("k-cpu")
		if _, err := m.Wait(t.Context(), "k-cpu"); err != nil {
			t.Fatal(err)
		}
		stat := cgroupFile(t, "cpu", m.cgroupPath("k-cpu"), "cpu.stat")
		if n := statValue(stat, "nr_throttled"); n == 0 {
			t.Fatalf("CPU burner at 0.2 cores never throttled:\n%s", stat)
		}
		want := fmt.Sprintf("Cpus_allowed_list:\t%d\n", st.Allocation.CPUs[0])
		if l := logsOf(t, m, "k-cpu"); len(st.Allocation.CPUs) != 1 || !strings.Contains(l, want) {
			t.Fatalf("cpuset %v not honoured:\n%s", st.Allocation.CPUs, l)
		}
	})
}

func firstExisting(cgPath, controller string, names ...string) string {
	for _, n := range names {
		for _, p := range []string{filepath.Join("/sys/fs/cgroup", cgPath, n), filepath.Join("/sys/fs/cgroup", controller, cgPath, n)} {
			if _, err := os.Stat(p); err == nil {
				return n
			}
		}
	}
	return names[0]
}

func statValue(stat, key string) int {
	for _, line := range strings.Split(stat, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
