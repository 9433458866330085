package cgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2"

	"github.com/baiagent/agent/test/testenv"
)

// The cgroup v2 VM test. It runs in the guest of the VM lane (make test-vm)
// on a pure cgroup2 hierarchy; outside it the gate skips.

const (
	// vmUnifiedMount is where vminit mounts cgroup2.
	vmUnifiedMount = "/sys/fs/cgroup"
	// vmTestCgroupParent is the test's own absolute cgroup.
	vmTestCgroupParent = "/backendai-test"
	// vmHelperEnv makes the test binary a helper child (see
	// runVMCgroupHelper) instead of running tests.
	vmHelperEnv = "AGENT_TEST_CGROUP_HELPER"
	// vmGuestBusybox is the static busybox that every VM-lane guest has.
	vmGuestBusybox = "/bin/busybox"
)

// TestVMCgroupV2Limits checks that the guest has the v2 controllers, that
// limits set through containerd's cgroup2 manager read back, and that the
// kernel enforces them: a process that touches 200 MiB in a 64 MiB cgroup
// is OOM-killed, and a shell in a cgroup with pids.max=16 cannot fork more.
func TestVMCgroupV2Limits(t *testing.T) {
	if mode := os.Getenv(vmHelperEnv); mode != "" {
		runVMCgroupHelper(mode) // exits
	}
	testenv.RequireVMGuest(t)

	controllers, err := os.ReadFile(filepath.Join(vmUnifiedMount, "cgroup.controllers"))
	if err != nil {
		t.Fatalf("read root cgroup.controllers: %v", err)
	}
	t.Logf("cgroup.controllers: %s", strings.TrimSpace(string(controllers)))
	have := strings.Fields(string(controllers))
	for _, want := range []string{"cpu", "memory", "pids", "io"} {
		if !slices.Contains(have, want) {
			t.Errorf("controller %q missing from cgroup.controllers %q", want, have)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		// Last cleanup to run: the children are gone by now. Another test
		// may still use the parent, so a busy parent is left alone.
		err := os.Remove(filepath.Join(vmUnifiedMount, vmTestCgroupParent))
		if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.EBUSY) {
			t.Errorf("remove %s: %v", vmTestCgroupParent, err)
		}
	})

	limits := newVMTestCgroup(t, fmt.Sprintf("limits-%d", os.Getpid()), &cgroup2.Resources{
		Memory: &cgroup2.Memory{Max: vmPtr(int64(64 << 20))},
		Pids:   &cgroup2.Pids{Max: 16},
	})
	t.Run("ReadBack", func(t *testing.T) {
		if got := vmReadCgroupFile(t, limits, "memory.max"); got != "67108864" {
			t.Errorf("memory.max = %q, want 67108864", got)
		}
		if got := vmReadCgroupFile(t, limits, "pids.max"); got != "16" {
			t.Errorf("pids.max = %q, want 16", got)
		}
	})
	t.Run("MemoryOOMKill", func(t *testing.T) {
		oom := newVMTestCgroup(t, fmt.Sprintf("oom-%d", os.Getpid()), &cgroup2.Resources{
			Memory: &cgroup2.Memory{Max: vmPtr(int64(64 << 20))},
		})
		vmTestOOMKill(t, oom)
	})
	t.Run("PidsMax", func(t *testing.T) {
		vmTestPidsMax(t, limits)
	})
}

// vmTestCgroup is a cgroup that a test created.
type vmTestCgroup struct {
	m   *cgroup2.Manager
	dir string // absolute path in the cgroup2 mount
}

// newVMTestCgroup creates vmTestCgroupParent/name with res, turns swap off for
// it when the kernel accounts swap, and deletes it in t.Cleanup.
func newVMTestCgroup(t *testing.T, name string, res *cgroup2.Resources) *vmTestCgroup {
	t.Helper()
	group := path.Join(vmTestCgroupParent, name)
	m, err := cgroup2.NewManager(vmUnifiedMount, group, res)
	if err != nil {
		t.Fatalf("create cgroup %s: %v", group, err)
	}
	cg := &vmTestCgroup{m: m, dir: filepath.Join(vmUnifiedMount, group)}
	t.Cleanup(func() { removeVMTestCgroup(t, cg) })
	if _, err := os.Stat(filepath.Join(cg.dir, "memory.swap.max")); err == nil {
		// The guest has no swap; set it anyway, so that only memory.max
		// decides.
		if err := m.Update(&cgroup2.Resources{Memory: &cgroup2.Memory{Swap: vmPtr(int64(0))}}); err != nil {
			t.Fatalf("set memory.swap.max of %s: %v", group, err)
		}
	}
	return cg
}

// removeVMTestCgroup kills what is left in the cgroup and deletes it.
func removeVMTestCgroup(t *testing.T, cg *vmTestCgroup) {
	if err := cg.m.Kill(); err != nil {
		t.Errorf("kill cgroup %s: %v", cg.dir, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, err := cg.m.Procs(true)
		if err != nil || len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("cgroup %s still has processes %v after kill", cg.dir, procs)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cg.m.Delete(); err != nil {
		t.Errorf("delete cgroup %s: %v", cg.dir, err)
	}
	if _, err := os.Stat(cg.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s still exists after delete (stat: %v)", cg.dir, err)
	}
}

// vmStartInCgroup starts cmd directly in cg (CLONE_INTO_CGROUP).
func vmStartInCgroup(t *testing.T, cg *vmTestCgroup, cmd *exec.Cmd) {
	t.Helper()
	dirFD, err := os.Open(cg.dir)
	if err != nil {
		t.Fatalf("open cgroup %s: %v", cg.dir, err)
	}
	defer dirFD.Close()
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dirFD.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", cmd.Args, cg.dir, err)
	}
}

// vmTestOOMKill runs a helper that touches 200 MiB in cg (memory.max 64 MiB)
// and expects the OOM killer to SIGKILL it.
func vmTestOOMKill(t *testing.T, cg *vmTestCgroup) {
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("find test binary: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, self, "-test.run=^TestVMCgroupV2Limits$")
	cmd.Env = append(os.Environ(), vmHelperEnv+"=oom")
	cmd.Stdout, cmd.Stderr = &out, &out
	vmStartInCgroup(t, cg, cmd)
	err = cmd.Wait()
	t.Logf("helper output:\n%s", out.String())
	if ctx.Err() != nil {
		t.Fatalf("helper did not finish in time: %v", ctx.Err())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper was not killed: wait = %v, want death by SIGKILL", err)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("helper ended with %v, want death by SIGKILL", err)
	}
	if !strings.Contains(out.String(), "helper: allocating") {
		t.Errorf("helper never started allocating")
	}
	if strings.Contains(out.String(), "helper: touched") {
		t.Errorf("helper touched 200 MiB inside a 64 MiB cgroup")
	}
	events := vmReadKeyedFile(t, cg, "memory.events")
	t.Logf("memory.events: %v", events)
	if events["oom_kill"] < 1 {
		t.Errorf("memory.events oom_kill = %d, want > 0", events["oom_kill"])
	}
}

// vmTestPidsMax starts a shell in cg (pids.max 16) that tries to start 40
// background sleeps, and expects the fork failures.
func vmTestPidsMax(t *testing.T, cg *vmTestCgroup) {
	if _, err := os.Stat(vmGuestBusybox); err != nil {
		t.Fatalf("the VM guest has no %s: %v", vmGuestBusybox, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The sleeps must not hold the output pipe, or Wait waits for them.
	const script = `i=0; while [ $i -lt 40 ]; do ` + vmGuestBusybox + ` sleep 60 </dev/null >/dev/null 2>&1 & i=$((i+1)); echo "started $i"; done; echo "all started"`
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, vmGuestBusybox, "sh", "-c", script)
	cmd.Stdout, cmd.Stderr = &out, &out
	vmStartInCgroup(t, cg, cmd)
	err := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("shell did not finish in time: %v", ctx.Err())
	}
	t.Logf("shell exit: %v; output:\n%s", err, out.String())

	started := 0
	for _, m := range regexp.MustCompile(`(?m)^started (\d+)$`).FindAllStringSubmatch(out.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		started = max(started, n)
	}
	if strings.Contains(out.String(), "all started") || started >= 16 {
		t.Errorf("the shell started %d processes in a cgroup with pids.max=16", started)
	}
	if !strings.Contains(out.String(), "can't fork") {
		t.Errorf("no fork failure in the shell's output")
	}
	procs, err := cg.m.Procs(true)
	if err != nil {
		t.Fatalf("list processes of %s: %v", cg.dir, err)
	}
	if len(procs) == 0 || len(procs) > 16 {
		t.Errorf("cgroup has %d processes, want 1..16 (the sleeps that did start)", len(procs))
	}
	events := vmReadKeyedFile(t, cg, "pids.events")
	t.Logf("pids.events: %v; processes left: %d", events, len(procs))
	if events["max"] < 1 {
		t.Errorf("pids.events max = %d, want > 0", events["max"])
	}
}

// runVMCgroupHelper is the child side of the enforcement checks; it exits.
func runVMCgroupHelper(mode string) {
	switch mode {
	case "oom":
		const size = 200 << 20
		fmt.Println("helper: allocating 200 MiB")
		b := make([]byte, size)
		sum := 0
		for i := 0; i < len(b); i += 4096 {
			b[i] = byte(i>>12) | 1
			sum += int(b[i])
		}
		fmt.Printf("helper: touched 200 MiB (sum %d)\n", sum)
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
		os.Exit(3)
	}
}

// vmReadCgroupFile returns the trimmed content of a cgroup's file.
func vmReadCgroupFile(t *testing.T, cg *vmTestCgroup, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cg.dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return strings.TrimSpace(string(b))
}

// vmReadKeyedFile parses a flat keyed cgroup file ("key value" lines).
func vmReadKeyedFile(t *testing.T, cg *vmTestCgroup, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, line := range strings.Split(vmReadCgroupFile(t, cg, name), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s: bad line %q: %v", name, line, err)
		}
		out[k] = n
	}
	return out
}

func vmPtr[T any](v T) *T { return &v }
