package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	// The device-rule appliers of the cgroup managers register themselves
	// on import; without them libcontainer refuses device rules.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/specconv"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/runtime/scratch"
	"github.com/baiagent/agent/runtime/spec"
)

// CreateRequest describes a kernel to create.
type CreateRequest struct {
	// ID is the kernel id (the manager's kernel_id).
	ID string
	// Image is a reference or config digest of an image in the store.
	Image string
	// Args is the command; empty means the image's entrypoint and cmd.
	Args []string
	// Env adds to and overrides the image's environment (K=V).
	Env []string
	// Slots are the requested resources ("cpu", "mem" required).
	Slots map[string]string
	// Mounts are extra bind mounts (vfolders).
	Mounts []spec.Mount
	// ShmSize sizes /dev/shm (0: 64 MiB).
	ShmSize int64
	// Scratch overrides the manager's default scratch type and size.
	ScratchType scratch.Type
	ScratchSize int64
	Hostname    string
	Labels      map[string]string
	// Network is the network mode (default: none).
	Network NetworkMode
	// Publish lists container ports to publish (bridge mode).
	Publish []Publish
	// NetworkName joins a session network (see CreateNetwork) instead of
	// the agent's bridge; members resolve each other by Hostname.
	NetworkName string
	// Runner, when set, runs the in-container kernel runner as the
	// kernel's command (Args are then ignored); it needs bridge or host
	// networking.
	Runner *Runner
	// ConfigFiles are more files for the kernel's config dir
	// (/home/config, read-only inside), by plain file name, e.g. the
	// runner's dotfiles.json.
	ConfigFiles map[string][]byte
}

// validID is what every layer accepts as a kernel id (scratch forbids dots,
// the spec builder allows 64 characters); upstream ids are UUIDs.
func validID(s string) bool { return validName(s, 64, "_-") }

// validName reports whether s is 1 to max bytes of ASCII letters and
// digits, with the bytes in extra allowed after the first. (A loop, not a
// regexp: compiling `{0,127}` costs every process a millisecond at start.)
func validName(s string, max int, extra string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || i > 0 && strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// undo is a stack of rollback steps, run in reverse order.
type undo []func(context.Context) error

func (u *undo) push(f func(context.Context) error) { *u = append(*u, f) }

func (u undo) run(ctx context.Context) error {
	var errs []error
	for i := len(u) - 1; i >= 0; i-- {
		errs = append(errs, u[i](ctx))
	}
	return errors.Join(errs...)
}

// step marks the start of a create's step: for fault injection in tests and
// for the per-step durations logged with "kernel started".
func (m *Manager) step(clock *stepClock, name string) error {
	clock.mark(name)
	if m.o.failAt != nil {
		if err := m.o.failAt(name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// Create makes and starts a kernel and returns when its user process runs.
// Any failure undoes every step taken: allocation, scratch, rootfs mount,
// cgroup, container and state files.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (st State, err error) {
	if !validID(req.ID) {
		return State{}, fmt.Errorf("kernel id %q: %w", req.ID, ErrInvalidArgument)
	}
	select {
	case m.creates <- struct{}{}:
		defer func() { <-m.creates }()
	case <-ctx.Done():
		return State{}, ctx.Err()
	}

	k := &kernel{done: make(chan struct{})}
	m.mu.Lock()
	if _, dup := m.kernels[req.ID]; dup || m.states.exists(req.ID) {
		m.mu.Unlock()
		return State{}, fmt.Errorf("kernel %s: %w", req.ID, ErrAlreadyExists)
	}
	m.kernels[req.ID] = k // reserve the id; removed again on failure
	m.mu.Unlock()

	var rollback undo
	rollback.push(func(context.Context) error {
		m.mu.Lock()
		delete(m.kernels, req.ID)
		m.mu.Unlock()
		return nil
	})
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if rerr := rollback.run(cctx); rerr != nil {
				m.log.Error("rollback of a failed create left something behind", "kernel_id", req.ID, "err", rerr)
				err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
			}
			err = fmt.Errorf("create kernel %s: %w", req.ID, err)
		}
	}()
	log := m.log.With("kernel_id", req.ID)
	clock := newStepClock("prepare")
	if err := m.prepareRunner(&req); err != nil {
		return State{}, err
	}

	if err := m.step(clock, "image"); err != nil {
		return State{}, err
	}
	img, err := m.o.Images.Get(ctx, req.Image)
	if err != nil {
		return State{}, err
	}

	if err := m.step(clock, "allocate"); err != nil {
		return State{}, err
	}
	allocation, err := m.o.Alloc.Allocate(req.ID, req.Slots)
	if err != nil {
		return State{}, err
	}
	rollback.push(func(context.Context) error { m.o.Alloc.Release(req.ID); return nil })

	for _, mt := range req.Mounts {
		if _, err := os.Stat(mt.Source); err != nil {
			return State{}, fmt.Errorf("mount %s: host path: %w", mt.Target, err)
		}
	}

	if err := m.step(clock, "scratch"); err != nil {
		return State{}, err
	}
	so := m.o.Scratch
	if req.ScratchType != "" {
		so.Type = req.ScratchType
	}
	if req.ScratchSize > 0 {
		so.Size = req.ScratchSize
	}
	scr, err := scratch.Create(ctx, so, req.ID)
	if err != nil {
		return State{}, err
	}
	rollback.push(func(ctx context.Context) error { return scr.Remove(ctx) })

	if err := m.step(clock, "config"); err != nil {
		return State{}, err
	}
	env := mergeEnv(img.Config.Env, req.Env)
	if err := scratch.WriteEnviron(filepath.Join(scr.ConfigDir, "environ.txt"), env); err != nil {
		return State{}, err
	}
	if err := scratch.WriteResourceSpec(filepath.Join(scr.ConfigDir, "resource.txt"), resourceSpec(allocation, so.Size, req.Mounts, req.ID)); err != nil {
		return State{}, err
	}
	for _, name := range slices.Sorted(maps.Keys(req.ConfigFiles)) {
		if !validName(name, 64, "._-") || name == "environ.txt" || name == "resource.txt" {
			return State{}, fmt.Errorf("config file %q: %w: want a plain file name", name, ErrInvalidArgument)
		}
		// 0600: only the kernel's root reads them (the runner, before it
		// drops to the work user); they may hold keys.
		if err := os.WriteFile(filepath.Join(scr.ConfigDir, name), req.ConfigFiles[name], 0o600); err != nil {
			return State{}, fmt.Errorf("config file %s: %w", name, err)
		}
	}
	if err := m.step(clock, "network"); err != nil {
		return State{}, err
	}
	netState, netnsPath, err := m.setupNetwork(ctx, req, scr.ConfigDir, &rollback)
	if err != nil {
		return State{}, err
	}
	kdata := m.kdataDir(req.ID)
	hostname := req.Hostname
	if hostname == "" {
		hostname = shortHost(req.ID)
	}
	netState.Hostname = hostname
	var peers map[string]string
	if netState.Network != "" {
		m.mu.Lock()
		peers = m.membersLocked(netState.Network, req.ID)
		m.mu.Unlock()
	}
	if err := writeKernelData(kdata, hostname, netState.IP, peers); err != nil {
		return State{}, err
	}
	rollback.push(func(context.Context) error { return os.RemoveAll(kdata) })

	if err := m.step(clock, "rootfs"); err != nil {
		return State{}, err
	}
	rootfs, err := m.o.Images.MountImage(ctx, req.ID, img, scr.Dir)
	if err != nil {
		return State{}, err
	}
	rollback.push(func(ctx context.Context) error { return m.o.Images.Unmount(ctx, req.ID) })

	var gpuEdits *gpu.Edits
	if m.o.GPUs != nil {
		if err := m.step(clock, "gpu"); err != nil {
			return State{}, err
		}
		e, err := m.o.GPUs.Edits(allocation.Devices, driverCapabilities(env))
		if err != nil {
			return State{}, fmt.Errorf("bind GPUs %v: %w", allocation.Devices, err)
		}
		if len(e.NoLibraries) > 0 {
			m.log.Warn("GPU driver libraries missing on the host", "kernel_id", req.ID, "capabilities", e.NoLibraries)
		}
		if err := gpuRootfs(rootfs.Target, e); err != nil {
			return State{}, err
		}
		gpuEdits = &e
	}

	if err := m.step(clock, "spec"); err != nil {
		return State{}, err
	}
	in := spec.Input{
		KernelID: req.ID, Hostname: hostname, Rootfs: rootfs.Target, Image: img.Config,
		Args: req.Args, Env: req.Env, WorkDir: scr.WorkDir, ConfigDir: scr.ConfigDir, Mounts: req.Mounts,
		ShmSize: req.ShmSize, EtcHosts: filepath.Join(kdata, "hosts"), EtcHostname: filepath.Join(kdata, "hostname"),
		EtcResolv: filepath.Join(kdata, "resolv.conf"), Localtime: localtime(),
		InitPath: m.o.InitBinary, RunnerPath: runnerPath(req.Runner, m.o.RunnerBinary), StatusDir: filepath.Join(kdata, "status"), CgroupsPath: m.cgroupPath(req.ID),
		CPUs: allocation.CPUs, CPUQuota: allocation.CPUQuota, MemoryBytes: allocation.MemoryBytes, PidsLimit: m.o.PidsLimit,
		NetNSPath: netnsPath, HostNetwork: netState.Mode == NetHost,
	}
	if gpuEdits != nil {
		in.Env = slices.Clone(in.Env)
		gpuSpec(&in, *gpuEdits)
	}
	s, err := spec.Build(in)
	if err != nil {
		return State{}, err
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: req.ID, Spec: s})
	if err != nil {
		return State{}, fmt.Errorf("convert spec: %w", err)
	}

	st = State{
		ID: req.ID, Image: img.ID, ImageRef: req.Image, Status: StatusCreating, Args: s.Process.Args,
		Env: s.Process.Env, Allocation: allocation, Scratch: so, Created: time.Now().UTC(), Labels: req.Labels,
		Net: netState,
	}
	if err := m.step(clock, "state"); err != nil {
		return State{}, err
	}
	// The state is on disk before the container exists, so a crash from
	// here on leaves something recovery can account for.
	if err := m.states.save(&st); err != nil {
		return State{}, err
	}
	rollback.push(func(context.Context) error { return m.states.remove(req.ID) })

	if err := m.step(clock, "container"); err != nil {
		return State{}, err
	}
	c, err := libcontainer.Create(m.lcRoot, req.ID, cfg)
	if err != nil {
		return State{}, fmt.Errorf("create container: %w", err)
	}
	rollback.push(func(context.Context) error { return destroyContainer(c) })

	logf, err := os.OpenFile(m.logPath(req.ID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return State{}, fmt.Errorf("open kernel log: %w", err)
	}
	defer logf.Close() // the container keeps its own descriptor
	rollback.push(func(context.Context) error { return removeIfExists(m.logPath(req.ID)) })

	if err := m.step(clock, "start"); err != nil {
		return State{}, err
	}
	sp, err := newStartPipe()
	if err != nil {
		return State{}, err
	}
	defer sp.close()
	proc := &libcontainer.Process{
		Args: s.Process.Args, Env: s.Process.Env, Cwd: s.Process.Cwd,
		UID: int(s.Process.User.UID), GID: int(s.Process.User.GID),
		Stdout: logf, Stderr: logf, Init: true, ExtraFiles: m.extraFiles(sp.w),
	}
	if err := c.Run(proc); err != nil {
		return State{}, fmt.Errorf("start container: %w", err)
	}

	if err := m.step(clock, "running"); err != nil {
		return State{}, err
	}
	pid, err := sp.wait(ctx, filepath.Join(kdata, "status"))
	if err != nil {
		return State{}, err
	}
	ls, err := c.State()
	if err != nil {
		return State{}, fmt.Errorf("read container state: %w", err)
	}
	st.Status, st.Started, st.InitPID = StatusRunning, time.Now().UTC(), ls.InitProcessPid
	if err := m.states.save(&st); err != nil {
		return State{}, err
	}
	k.mu.Lock()
	k.state, k.c, k.proc = &st, c, proc
	k.mu.Unlock()
	if netState.Network != "" {
		m.updatePeerHosts(netState.Network, req.ID, map[string]string{hostname: netState.IP})
	}
	go m.watch(k)
	clock.mark("")
	log.Info("kernel started", "image", img.ID, "pid", ls.InitProcessPid, "user_pid", pid, "cpus", allocation.CPUs)
	log.Debug("kernel create steps", "steps", clock)
	m.events.send(Event{KernelID: req.ID, Type: EventStarted})
	return st, nil
}

// extraFiles are the descriptors a container process gets after stdio:
// fs, then the container init for the re-exec's trampoline (see
// Options.ContainerInit), which closes it before anything runs.
func (m *Manager) extraFiles(fs ...*os.File) []*os.File {
	if m.o.ContainerInit != nil {
		fs = append(fs, m.o.ContainerInit)
	}
	return fs
}

// startPipe is the pipe on which the kernel init says "ok" once the
// user command runs (spec.NotifyFD inside the kernel).
type startPipe struct{ r, w *os.File }

func newStartPipe() (*startPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start pipe: %w", err)
	}
	return &startPipe{r: r, w: w}, nil
}

// started is called once the container process has been started (or
// failed to): the container holds its own copy of the write end.
func (p *startPipe) started() { _ = p.w.Close() }

func (p *startPipe) close() {
	_ = p.w.Close()
	_ = p.r.Close()
}

// wait waits until the kernel init reports the user process as started
// and returns its pid (in the kernel's pid namespace). The init says "ok"
// on the pipe, or closes it without a word when the command could not
// start (exit.json then says why) or when it died itself. No polling: a
// kernel that is slow to start costs nothing while it starts.
func (p *startPipe) wait(ctx context.Context, statusDir string) (int, error) {
	p.started()
	stop := context.AfterFunc(ctx, func() { _ = p.r.SetReadDeadline(time.Now()) })
	defer stop()
	if err := p.r.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, fmt.Errorf("start pipe: %w", err)
	}
	buf := make([]byte, 8)
	n, err := io.ReadFull(p.r, buf[:3])
	switch {
	case err == nil && string(buf[:n]) == "ok\n":
		b, err := os.ReadFile(filepath.Join(statusDir, "started.json"))
		if err != nil {
			return 0, fmt.Errorf("kernel init said started: %w", err)
		}
		var s struct {
			PID int `json:"pid"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, fmt.Errorf("kernel init said started: started.json: %w", err)
		}
		return s.PID, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, errors.New("kernel command did not start within 30 s")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if ex, err := readExitFile(statusDir); err == nil {
			msg := ex.Error
			if msg == "" {
				msg = "exited at once with code " + strconv.Itoa(ex.Code)
			}
			return 0, fmt.Errorf("kernel command: %s: %w", msg, ErrInvalidArgument)
		}
		return 0, errors.New("kernel init died before starting the command")
	case err != nil:
		return 0, fmt.Errorf("start pipe: %w", err)
	default:
		return 0, fmt.Errorf("kernel init said %q on its start pipe", buf[:n])
	}
}

// destroyContainer kills whatever runs in c and removes it with its cgroup.
func destroyContainer(c *libcontainer.Container) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status()
		if err != nil || st == libcontainer.Stopped {
			break
		}
		_ = c.Signal(killSignal)
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s still running after SIGKILL", c.ID())
		}
		time.Sleep(2 * time.Millisecond)
	}
	return c.Destroy()
}

func removeIfExists(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
