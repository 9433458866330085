package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/cgroup"
	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/runtime/image"
	"github.com/baiagent/agent/runtime/reexec"
	"github.com/baiagent/agent/runtime/scratch"
)

// envKernelInit overrides where the kernel init binary is found.
const envKernelInit = "BACKENDAI_KERNEL_INIT"

// envKernelRunner overrides where backendai-krunner is found.
const envKernelRunner = "BACKENDAI_KRUNNER"

// kernelRunnerPath finds the static backendai-krunner: $BACKENDAI_KRUNNER,
// else next to this executable; "" when there is none (kernels then run
// their command without the runner, and the runner methods say so).
func kernelRunnerPath() string {
	p := os.Getenv(envKernelRunner)
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return ""
		}
		p = filepath.Join(filepath.Dir(exe), "backendai-krunner")
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// envContainerInit overrides where backendai-container-init is found.
const envContainerInit = "BACKENDAI_CONTAINER_INIT"

// runtimeStateDir is the runtime's volatile state, beside ipc-base-path
// (default /run/backend.ai/runtime).
func runtimeStateDir(cfg *configs.Config) string {
	return filepath.Join(filepath.Dir(cfg.Agent.IPCBasePath), "runtime")
}

// kernelInitPath finds backendai-kernel-init: $BACKENDAI_KERNEL_INIT, else
// next to this executable.
func kernelInitPath() (string, error) {
	if p := os.Getenv(envKernelInit); p != "" {
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find kernel init: %w", err)
	}
	return filepath.Join(filepath.Dir(exe), "backendai-kernel-init"), nil
}

// stateLock is the exclusive hold of a runtime state dir by one process
// (the server, or one `run`).
type stateLock struct{ f *os.File }

var errStateBusy = errors.New("runtime state in use")

func lockState(dir string) (*stateLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make runtime state dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "agent.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open runtime lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another backendai-agent (a running server?) holds %s", errStateBusy, dir)
		}
		return nil, fmt.Errorf("lock runtime state: %w", err)
	}
	return &stateLock{f: f}, nil
}

func (l *stateLock) release() { _ = l.f.Close() }

// newRuntime builds the image store, allocator and kernel manager from the
// configuration; gpus (nil: none) adds the cuda.device slot and binding.
// The caller must hold the state lock.
func newRuntime(ctx context.Context, cfg *configs.Config, log *slog.Logger, withNet bool, gpus *gpuSupport) (*runtime.Manager, *image.Store, error) {
	store, err := image.Open(ctx, image.Options{Root: imageStoreRoot(cfg.Agent.VarBasePath), Logger: log.With("component", "image")})
	if err != nil {
		return nil, nil, err
	}
	cores, err := alloc.HostCores()
	if err != nil {
		return nil, nil, err
	}
	mem, err := alloc.HostMemory()
	if err != nil {
		return nil, nil, err
	}
	al, err := alloc.New(alloc.Options{
		Cores: cores, MemoryBytes: mem, ReservedCPU: cfg.Resource.ReservedCPU,
		ReservedMem: int64(cfg.Resource.ReservedMem), MemAlign: int64(cfg.Resource.MemoryAlignSize),
		Devices: gpus.allocDevices(), CoreNodes: alloc.HostCoreNodes("/sys", cores),
	})
	if err != nil {
		return nil, nil, err
	}
	initBin, err := kernelInitPath()
	if err != nil {
		return nil, nil, err
	}
	cinit := sealedContainerInit(log)
	var networking *runtime.Networking
	if withNet {
		networking, err = newNetworking(ctx, cfg, log, runtimeStateDir(cfg))
		if err != nil {
			return nil, nil, err
		}
	}
	var binder runtime.GPUBinder
	if gpus != nil { // a nil *gpuSupport must not become a non-nil interface
		binder = gpus
	}
	m, err := runtime.New(ctx, runtime.Options{
		GPUs:          binder,
		Networking:    networking,
		StateDir:      runtimeStateDir(cfg),
		LogDir:        filepath.Join(cfg.Agent.VarBasePath, "logs", "kernels"),
		InitBinary:    initBin,
		RunnerBinary:  kernelRunnerPath(),
		ContainerInit: cinit,
		Images:        store,
		Alloc:         al,
		Scratch: scratch.Options{
			Root: cfg.Container.ScratchRoot, Type: scratch.Type(cfg.Container.ScratchType),
			Size: int64(cfg.Container.ScratchSize), UID: cfg.Container.KernelUID, GID: cfg.Container.KernelGID,
		},
		CreateConcurrency: cfg.Agent.KernelCreationConcurrency,
		Logger:            log.With("component", "runtime"),
	})
	if err != nil {
		return nil, nil, err
	}
	// On cgroup v1 (kernel 6.10+) block I/O is accounted only on disks
	// with a throttle rule: the agent's own root gets one that never bites.
	if devs, err := cgroup.EnableV1IOAccounting("", m.CgroupPath("")); err != nil {
		log.Warn("cgroup v1 block I/O accounting not enabled: io_read/io_write may stay 0", "err", err)
	} else if len(devs) > 0 {
		log.Debug("cgroup v1 block I/O accounting enabled", "devices", devs)
	}
	return m, store, nil
}

// sealedContainerInit seals backendai-container-init ($BACKENDAI_CONTAINER_INIT,
// else next to this executable) for the runtime (see
// runtime.Options.ContainerInit). Without it kernels still start, through
// the agent binary itself, only slower: that is logged, not an error.
func sealedContainerInit(log *slog.Logger) *os.File {
	path := os.Getenv(envContainerInit)
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil
		}
		path = filepath.Join(filepath.Dir(exe), "backendai-container-init")
	}
	sealed, err := reexec.Seal(path)
	if err != nil {
		log.Info("no container init: kernels start through the agent binary (slower)", "err", err)
		return nil
	}
	return sealed
}

// imageStoreRoot is where the image store lives for a config.
func imageStoreRoot(varBase string) string { return filepath.Join(varBase, "images") }

// kernelIDs are container.kernel-uid and kernel-gid, -1 meaning the
// agent's own, as upstream resolves them.
func kernelIDs(cfg *configs.Config) (uid, gid int) {
	uid, gid = cfg.Container.KernelUID, cfg.Container.KernelGID
	if uid < 0 {
		uid = os.Getuid()
	}
	if gid < 0 {
		gid = os.Getgid()
	}
	return uid, gid
}
