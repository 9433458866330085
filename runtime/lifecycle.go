package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/cgroup"
	"github.com/baiagent/agent/netns"
	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/runtime/scratch"
	"github.com/baiagent/agent/runtime/spec"
)

const killSignal = unix.SIGKILL

// exitFile is what backendai-kernel-init writes when the user process ends.
type exitFile struct {
	ExitCode   int    `json:"exit_code"`
	Signal     string `json:"signal"`
	CoreDumped bool   `json:"core_dumped"`
	FinishedAt string `json:"finished_at"`
	Error      string `json:"error"`
}

func readExitFile(statusDir string) (Exit, error) {
	b, err := os.ReadFile(filepath.Join(statusDir, "exit.json"))
	if err != nil {
		return Exit{}, err
	}
	var f exitFile
	if err := json.Unmarshal(b, &f); err != nil {
		return Exit{}, fmt.Errorf("parse exit status: %w", err)
	}
	ex := Exit{Code: f.ExitCode, Signal: f.Signal, Error: f.Error, At: time.Now().UTC()}
	if t, err := time.Parse(time.RFC3339Nano, f.FinishedAt); err == nil {
		ex.At = t
	}
	return ex, nil
}

func alive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// watch waits for a kernel's init to exit, records how the user process
// ended, and announces it.
func (m *Manager) watch(k *kernel) {
	k.mu.Lock()
	id, proc, pid := k.state.ID, k.proc, k.state.InitPID
	k.mu.Unlock()
	var waitStatus *os.ProcessState
	if proc != nil {
		waitStatus, _ = proc.Wait()
	} else if err := waitPidfd(pid); err != nil {
		m.log.Warn("cannot watch kernel init; polling", "kernel_id", id, "pid", pid, "err", err)
		for alive(pid) {
			time.Sleep(500 * time.Millisecond)
		}
	}
	m.recordExit(k, waitStatus)
}

// waitPidfd blocks until the process exits, without being its parent.
func waitPidfd(pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, -1)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll pidfd: %w", err)
		}
	}
}

// exitFromSources decides how a kernel ended: the init's exit file first,
// then the wait status when we were the parent; and whether the OOM killer
// was involved.
func (m *Manager) exitFromSources(id string, ws *os.ProcessState) Exit {
	ex, err := readExitFile(filepath.Join(m.kdataDir(id), "status"))
	if err != nil {
		ex = Exit{At: time.Now().UTC(), Unknown: true, Code: -1}
		if ws != nil {
			ex.Unknown = false
			if st, ok := ws.Sys().(syscall.WaitStatus); ok && st.Signaled() {
				ex.Code, ex.Signal = 128+int(st.Signal()), unix.SignalName(st.Signal())
			} else {
				ex.Code = ws.ExitCode()
			}
		}
	}
	if n, err := cgroup.OOMKills("", m.cgroupPath(id)); err == nil && n > 0 {
		ex.OOMKilled = true
	}
	return ex
}

func (m *Manager) recordExit(k *kernel, ws *os.ProcessState) {
	k.mu.Lock()
	id := k.state.ID
	ex := m.exitFromSources(id, ws)
	k.state.Status, k.state.Exit = StatusExited, &ex
	st := *k.state
	expected := k.stopping
	k.mu.Unlock()
	if err := m.states.save(&st); err != nil {
		m.log.Error("exit not persisted", "kernel_id", id, "err", err)
	}
	m.log.Info("kernel exited", "kernel_id", id, "code", ex.Code, "signal", ex.Signal, "oom_killed", ex.OOMKilled, "expected", expected)
	if ex.OOMKilled {
		m.events.send(Event{KernelID: id, Type: EventOOM, Exit: &ex})
	}
	m.events.send(Event{KernelID: id, Type: EventExited, Exit: &ex})
	close(k.done)
}

// Signal sends sig to the kernel's init, which forwards it to the user
// process.
func (m *Manager) Signal(id string, sig unix.Signal) error {
	k, err := m.lookup(id)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c == nil || k.state.Status != StatusRunning {
		return fmt.Errorf("signal kernel %s: %w: not running", id, ErrFailedPrecondition)
	}
	if err := k.c.Signal(sig); err != nil {
		return fmt.Errorf("signal kernel %s: %w", id, err)
	}
	return nil
}

// stop ends the kernel's processes: SIGINT, then SIGKILL after the grace
// period, and waits for the exit to be recorded.
func (m *Manager) stop(ctx context.Context, k *kernel, grace time.Duration) {
	k.mu.Lock()
	k.stopping = true
	c, done, running := k.c, k.done, k.state.Status == StatusRunning
	k.mu.Unlock()
	if !running || c == nil {
		return
	}
	_ = c.Signal(unix.SIGINT)
	select {
	case <-done:
		return
	case <-time.After(grace):
	case <-ctx.Done():
	}
	_ = c.Signal(killSignal)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.log.Error("kernel did not exit after SIGKILL", "kernel_id", c.ID())
	}
}

// Destroy stops a kernel (SIGINT, grace period, SIGKILL) and releases
// everything it held: container and cgroup, rootfs mount, scratch,
// allocation, log and state. grace <= 0 uses the configured StopTimeout.
func (m *Manager) Destroy(ctx context.Context, id string, grace time.Duration) (Exit, error) {
	k, err := m.lookup(id)
	if err != nil {
		return Exit{}, err
	}
	if grace <= 0 {
		grace = m.o.StopTimeout
	}
	clock := newStepClock("stop")
	m.stop(ctx, k, grace)
	k.mu.Lock()
	st := *k.state
	c := k.c
	k.mu.Unlock()
	var errs []error
	if c != nil {
		clock.mark("container")
		errs = append(errs, destroyContainer(c))
	}
	clock.mark("rootfs")
	errs = append(errs, m.o.Images.Unmount(ctx, id))
	clock.mark("network")
	errs = append(errs, m.teardownNetwork(ctx, id, st.Net))
	clock.mark("scratch")
	if scr, err := scratch.Open(st.Scratch, id); err == nil {
		errs = append(errs, scr.Remove(ctx))
	} else {
		errs = append(errs, err)
	}
	clock.mark("files")
	m.o.Alloc.Release(id)
	errs = append(errs, os.RemoveAll(m.kdataDir(id)), removeIfExists(m.logPath(id)))
	if err := errors.Join(errs...); err != nil {
		// Keep the state file: a later destroy can finish the job.
		return Exit{}, fmt.Errorf("destroy kernel %s: %w", id, err)
	}
	clock.mark("state")
	if err := m.states.remove(id); err != nil {
		return Exit{}, err
	}
	m.mu.Lock()
	delete(m.kernels, id)
	m.mu.Unlock()
	clock.mark("")
	m.log.Info("kernel destroyed", "kernel_id", id)
	m.log.Debug("kernel destroy steps", "kernel_id", id, "steps", clock)
	if st.Exit != nil {
		return *st.Exit, nil
	}
	return Exit{Unknown: true, Code: -1}, nil
}

// mergeEnv overlays K=V pairs of extra on base by key.
func mergeEnv(base, extra []string) []string {
	out := append([]string(nil), base...)
	idx := map[string]int{}
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
		} else {
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// resourceSpec is the kernel's resource.txt.
func resourceSpec(a alloc.Allocation, scratchSize int64, mounts []spec.Mount, id string) scratch.ResourceSpec {
	r := scratch.ResourceSpec{ScratchSize: scratchSize, Slots: a.Slots, ContainerID: id,
		Shares: map[string]map[string]string{"cpu": {}, "mem": {"root": scratch.FormatBinarySize(a.MemoryBytes)}}}
	for c, share := range a.CoreShares {
		r.Shares["cpu"][fmt.Sprint(c)] = share
	}
	// GPUs as upstream's CUDA plugin writes them: whole devices, and the
	// container-local to global id map (local ids follow bus order).
	if len(a.Devices) > 0 {
		r.Shares[alloc.SlotCUDADevice] = map[string]string{}
		ids := make([]string, len(a.Devices))
		for i, d := range a.Devices {
			r.Shares[alloc.SlotCUDADevice][d] = "1"
			ids[i] = fmt.Sprintf("%d:%s", i, d)
		}
		r.Extra = append(r.Extra, "CUDA_GLOBAL_DEVICE_IDS="+strings.Join(ids, ","), "CUDA_RESOURCE_VIRTUALIZED=0")
	}
	for _, mt := range mounts {
		perm := "rw"
		if mt.ReadOnly {
			perm = "ro"
		}
		r.Mounts = append(r.Mounts, mt.Source+":"+mt.Target+":"+perm)
	}
	return r
}

// shortHost makes a hostname from a kernel id (at most 63 characters).
func shortHost(id string) string {
	h := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(id))
	if len(h) > 63 {
		h = h[:63]
	}
	return h
}

// writeKernelData makes the kernel's status dir and /etc files; ip is the
// kernel's bridge address, if any.
func writeKernelData(dir, hostname, ip string, peers map[string]string) error {
	if err := os.MkdirAll(filepath.Join(dir, "status"), 0o755); err != nil {
		return fmt.Errorf("make kernel data: %w", err)
	}
	files := map[string]string{
		"hostname":    hostname + "\n",
		"hosts":       hostsFile(hostname, ip, peers),
		"resolv.conf": resolvConf(),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("write kernel %s: %w", name, err)
		}
	}
	return nil
}

// hostsFile is a kernel's /etc/hosts: localhost, its own name, and the
// other members of its session network (hostname -> address).
func hostsFile(hostname, ip string, peers map[string]string) string {
	own := "127.0.1.1"
	if ip != "" {
		own = ip
	}
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + own + "\t" + hostname + "\n")
	for _, h := range sortedKeys(peers) {
		if h != hostname {
			b.WriteString(peers[h] + "\t" + h + "\n")
		}
	}
	return b.String()
}

// resolvConf is the host's resolver config without loopback nameservers,
// which would not answer inside the kernel's network namespace.
func resolvConf() string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return ""
	}
	return string(netns.ResolvConf(b))
}

func localtime() string {
	if _, err := os.Stat("/etc/localtime"); err == nil {
		return "/etc/localtime"
	}
	return ""
}
