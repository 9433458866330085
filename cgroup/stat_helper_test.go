package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The parts that the cgroup stat tests share on v1 (privileged tier) and
// v2 (VM lane): a test cgroup that the test creates and removes, and a
// helper child (the test binary itself) that does known work in it.

const (
	// statHelperEnv makes the test binary a stat helper child (see
	// runStatHelper) instead of running tests.
	statHelperEnv = "AGENT_TEST_CGROUP_STAT_HELPER"
	// statHelperIOFileEnv names the file the helper writes 64 MiB to
	// with fsync; empty for no I/O.
	statHelperIOFileEnv = "AGENT_TEST_CGROUP_STAT_IOFILE"

	// The helper's work once told to go.
	helperCPUTime  = 250 * time.Millisecond
	helperMemory   = 32 << 20
	helperIOBytes  = 64 << 20
	helperReadyMsg = "helper: ready"
)

// runStatHelper is the child side: it waits for a line on stdin, then
// burns helperCPUTime of CPU, touches helperMemory of anonymous memory,
// writes helperIOBytes with fsync when asked, prints helperReadyMsg, and
// holds the memory until stdin closes. It exits.
func runStatHelper() {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "helper: "+format+"\n", args...)
		os.Exit(3)
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		fail("wait for go: %v", err)
	}
	start := cpuTime()
	x := uint64(1)
	for cpuTime()-start < helperCPUTime {
		for i := 0; i < 1_000_000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	mem := make([]byte, helperMemory)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = byte(x) | 1
	}
	if name := os.Getenv(statHelperIOFileEnv); name != "" {
		if err := writeSynced(name, helperIOBytes); err != nil {
			fail("%v", err)
		}
	}
	fmt.Println(helperReadyMsg)
	_, _ = io.Copy(io.Discard, in)
	runtime.KeepAlive(mem)
	os.Exit(0)
}

// cpuTime is the CPU time (user and system) of the whole process.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeSynced writes size bytes to name and fsyncs it.
func writeSynced(name string, size int) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte{0xa5}, 1<<20)
	for n := 0; n < size; n += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// statChild is a running helper child.
type statChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

// startStatChild starts the test binary as a helper; test is the test
// that dispatches to runStatHelper. The child is killed in t.Cleanup.
func startStatChild(t *testing.T, test, ioFile string) *statChild {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatalf("find test binary: %v", err)
	}
	cmd := exec.Command(self, "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), statHelperEnv+"=1", statHelperIOFileEnv+"="+ioFile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	c := &statChild{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// work tells the child to go and waits until it is ready.
func (c *statChild) work(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatalf("tell helper to go: %v", err)
	}
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("helper ended before it was ready: %v", c.cmd.Wait())
			}
			if line == helperReadyMsg {
				return
			}
			t.Logf("helper: %s", line)
		case <-timeout:
			t.Fatal("helper not ready after 2 minutes")
		}
	}
}

// stop ends the child (closing its stdin, then SIGKILL) and reaps it.
func (c *statChild) stop(t *testing.T) {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("helper: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// statTestCgroup is a cgroup that a test created, in every hierarchy it
// needs (v1) or in the unified one (v2).
type statTestCgroup struct {
	mode Mode
	path string   // absolute cgroup path
	dirs []string // its directories; the first has the tasks' list
}

// v1TestControllers are the v1 hierarchies the stat tests use.
func v1TestControllers() []string {
	return []string{"cpuacct", "cpu", "memory", "blkio", "pids"}
}

// newStatTestCgroup creates the cgroup path under Root in mode and removes
// it in t.Cleanup. On v2 it first enables the controllers in the root's
// cgroup.subtree_control (the parent of path must be the root).
func newStatTestCgroup(t testing.TB, mode Mode, path string) *statTestCgroup {
	t.Helper()
	cg := &statTestCgroup{mode: mode, path: path}
	switch mode {
	case ModeV1:
		seen := map[string]bool{}
		for _, c := range v1TestControllers() {
			// cpu and cpuacct are often one hierarchy, linked twice.
			h, err := filepath.EvalSymlinks(filepath.Join(Root, c))
			if err != nil {
				t.Fatalf("v1 hierarchy %s: %v", c, err)
			}
			if !seen[h] {
				seen[h] = true
				cg.dirs = append(cg.dirs, filepath.Join(h, path))
			}
		}
	case ModeV2:
		enableV2Controllers(t)
		cg.dirs = []string{filepath.Join(Root, path)}
	default:
		t.Fatalf("mode %v", mode)
	}
	t.Cleanup(func() { cg.remove(t) })
	for _, d := range cg.dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("create test cgroup: %v", err)
		}
	}
	return cg
}

// enableV2Controllers enables cpu, memory, io and pids for the root's
// children (what the root has of them).
func enableV2Controllers(t testing.TB) {
	t.Helper()
	have, err := os.ReadFile(filepath.Join(Root, "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	var enable []string
	for _, c := range strings.Fields(string(have)) {
		switch c {
		case "cpu", "memory", "io", "pids":
			enable = append(enable, "+"+c)
		}
	}
	if len(enable) < 4 {
		t.Errorf("root cgroup.controllers %q lacks some of cpu, memory, io, pids", have)
	}
	if err := os.WriteFile(filepath.Join(Root, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
		t.Fatalf("enable controllers %v: %v", enable, err)
	}
}

// file returns the path of a file of the cgroup: controller is the v1
// hierarchy that has it.
func (cg *statTestCgroup) file(controller, name string) string {
	if cg.mode == ModeV2 {
		return filepath.Join(Root, cg.path, name)
	}
	return filepath.Join(Root, controller, cg.path, name)
}

// write writes a value to a file of the cgroup.
func (cg *statTestCgroup) write(t testing.TB, controller, name, value string) {
	t.Helper()
	if err := os.WriteFile(cg.file(controller, name), []byte(value), 0o644); err != nil {
		t.Fatalf("write %q to %s: %v", value, name, err)
	}
}

// add moves pid into the cgroup (in every hierarchy on v1).
func (cg *statTestCgroup) add(t testing.TB, pid int) {
	t.Helper()
	for _, d := range cg.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatalf("move %d into %s: %v", pid, d, err)
		}
	}
}

// tasks counts the tasks (threads) in the cgroup.
func (cg *statTestCgroup) tasks(t testing.TB) int {
	t.Helper()
	name := "cgroup.threads"
	if cg.mode == ModeV1 {
		name = "tasks"
	}
	b, err := os.ReadFile(cg.file("pids", name))
	if err != nil {
		t.Fatal(err)
	}
	return len(strings.Fields(string(b)))
}

// remove kills what is left in the cgroup and removes its directories;
// it may run twice.
func (cg *statTestCgroup) remove(t testing.TB) {
	for _, d := range cg.dirs {
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if errors.Is(err, os.ErrNotExist) || (err == nil && len(bytes.TrimSpace(b)) == 0) {
				break
			}
			if err != nil {
				t.Errorf("list processes of %s: %v", d, err)
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s still has processes %q", d, b)
				break
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("remove test cgroup: %v", err)
		}
	}
}

// blockBacked reports the device number (MAJ:MIN of the whole disk) of
// the filesystem holding dir, and false when no block device backs it
// (tmpfs, overlay and other anonymous devices have major 0).
func blockBacked(t testing.TB, dir string) (string, bool) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Dev) == 0 {
		return "", false
	}
	dev := fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	sys, err := filepath.EvalSymlinks(filepath.Join("/sys/dev/block", dev))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sys, "partition")); err == nil {
		// Throttle rules (and so v1 accounting) take the whole disk.
		b, err := os.ReadFile(filepath.Join(filepath.Dir(sys), "dev"))
		if err != nil {
			t.Fatal(err)
		}
		dev = strings.TrimSpace(string(b))
	}
	return dev, true
}
