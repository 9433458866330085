package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/runtime/image"
	"github.com/baiagent/agent/runtime/scratch"
)

// Options configure a Manager. cmd fills them from agent.toml.
type Options struct {
	// StateDir holds the runtime's volatile state (kernel state files,
	// libcontainer's state, per-kernel status and /etc files), e.g.
	// /run/backend.ai/runtime. It must not be below the agent binary's
	// directory.
	StateDir string
	// LogDir holds one log file per kernel (stdout and stderr).
	LogDir string
	// CgroupRoot is the absolute cgroup under which every kernel's cgroup
	// is made (default /backendai).
	CgroupRoot string
	// InitBinary is the host path of the static backendai-kernel-init.
	InitBinary string
	// RunnerBinary is the host path of the static backendai-krunner, bound
	// into kernels that ask for the runner; "" offers none.
	RunnerBinary string
	// ContainerInit, when set, is a sealed memfd of
	// backendai-container-init, passed to libcontainer's re-exec of the
	// calling binary, whose start-up trampoline (cmd/backendai-agent) execs
	// it so that the agent's own runtime never starts there. The re-exec'd
	// binary must have that trampoline: without it the descriptor would
	// reach the kernel.
	ContainerInit *os.File
	Images        *image.Store
	Alloc         *alloc.Allocator
	// Scratch gives the default scratch root, type, size and owner.
	Scratch scratch.Options
	// CreateConcurrency bounds parallel creates (kernel-creation-concurrency).
	CreateConcurrency int
	// StopTimeout is how long destroy waits after SIGINT before SIGKILL.
	StopTimeout time.Duration
	// PidsLimit caps the processes of each kernel (0: 16384).
	PidsLimit int64
	// LogMaxBytes rotates a kernel's log file past this size (0: 10 MiB).
	LogMaxBytes int64
	// GPUs, when set, binds the GPUs a kernel holds (cuda.device) into it;
	// on a node with GPUs a kernel without any is kept from the driver's
	// state too.
	GPUs GPUBinder
	// Networking, when set, offers the bridge and host network modes.
	Networking *Networking
	Logger     *slog.Logger

	// failAt, when set, is called at every step of a create; an error it
	// returns fails the create there. Tests use it to prove rollback.
	failAt func(step string) error
}

// Manager runs kernels. Its methods are safe for concurrent use.
type Manager struct {
	o       Options
	log     *slog.Logger
	states  stateStore
	lcRoot  string
	creates chan struct{}

	mu          sync.Mutex
	kernels     map[string]*kernel
	sessions    map[string]*sessionNet
	unaccounted []string

	events *broadcaster
	bg     sync.WaitGroup // background teardown
}

// kernel is a kernel known to this process.
type kernel struct {
	mu    sync.Mutex
	state *State
	c     *libcontainer.Container
	proc  *libcontainer.Process // nil for kernels reattached after a restart
	done  chan struct{}         // closed when the main process has exited and been recorded
	// stopping is set by destroy and restart so the exit is expected.
	stopping bool
}

// New makes a Manager and recovers the kernels that a previous agent
// process left running (see Recover).
func New(ctx context.Context, o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = "/backendai"
	}
	if o.CreateConcurrency <= 0 {
		o.CreateConcurrency = 4
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.PidsLimit <= 0 {
		o.PidsLimit = 16384
	}
	if o.LogMaxBytes <= 0 {
		o.LogMaxBytes = 10 << 20
	}
	for name, p := range map[string]string{"state dir": o.StateDir, "log dir": o.LogDir, "cgroup root": o.CgroupRoot, "init binary": o.InitBinary} {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("runtime %s %q is not an absolute path: %w", name, p, ErrInvalidArgument)
		}
	}
	if o.Images == nil || o.Alloc == nil {
		return nil, fmt.Errorf("runtime needs an image store and an allocator: %w", ErrInvalidArgument)
	}
	if _, err := os.Stat(o.InitBinary); err != nil {
		return nil, fmt.Errorf("kernel init binary: %w", err)
	}
	m := &Manager{
		o: o, log: o.Logger,
		states:   stateStore{dir: filepath.Join(o.StateDir, "kernels")},
		lcRoot:   filepath.Join(o.StateDir, "libcontainer"),
		creates:  make(chan struct{}, o.CreateConcurrency),
		kernels:  map[string]*kernel{},
		sessions: map[string]*sessionNet{},
		events:   newBroadcaster(),
	}
	for _, d := range []string{m.states.dir, m.lcRoot, filepath.Join(o.StateDir, "kdata"), o.LogDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("make runtime directory: %w", err)
		}
	}
	if err := m.recover(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// kdataDir holds a kernel's status dir and generated /etc files.
// Capacity is the node's slots: the alloc maps minus reservations.
func (m *Manager) Capacity() map[string]string { return m.o.Alloc.Capacity() }

// Networking is what the manager networks kernels with; nil when only
// loopback is offered.
func (m *Manager) Networking() *Networking { return m.o.Networking }

// HasRunner says whether kernels can run the in-container kernel runner.
func (m *Manager) HasRunner() bool { return m.o.RunnerBinary != "" }

func (m *Manager) kdataDir(id string) string { return filepath.Join(m.o.StateDir, "kdata", id) }

func (m *Manager) logPath(id string) string { return filepath.Join(m.o.LogDir, id+".log") }

func (m *Manager) cgroupPath(id string) string { return filepath.Join(m.o.CgroupRoot, id) }

// Subscribe returns a channel of lifecycle events and a function that
// ends the subscription. Slow subscribers miss events rather than block
// the runtime; each event also updates the kernel's state.
func (m *Manager) Subscribe() (<-chan Event, func()) { return m.events.subscribe() }

// Get returns a copy of a kernel's state.
func (m *Manager) Get(id string) (State, error) {
	k, err := m.lookup(id)
	if err != nil {
		return State{}, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return *k.state, nil
}

// List returns the states of every kernel, sorted by id.
func (m *Manager) List() []State {
	m.mu.Lock()
	ks := make([]*kernel, 0, len(m.kernels))
	for _, k := range m.kernels {
		ks = append(ks, k)
	}
	m.mu.Unlock()
	out := make([]State, 0, len(ks))
	for _, k := range ks {
		k.mu.Lock()
		if k.state != nil { // nil: its id is reserved by a Create under way
			out = append(out, *k.state)
		}
		k.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b State) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func (m *Manager) lookup(id string) (*kernel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.kernels[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	// A Create under way holds the id with no state yet: nothing to act
	// on until it returns.
	k.mu.Lock()
	creating := k.state == nil
	k.mu.Unlock()
	if creating {
		return nil, fmt.Errorf("%w: %s (still being created)", ErrNotFound, id)
	}
	return k, nil
}

// Wait blocks until the kernel's main process has exited (or ctx ends)
// and returns how it ended.
func (m *Manager) Wait(ctx context.Context, id string) (Exit, error) {
	k, err := m.lookup(id)
	if err != nil {
		return Exit{}, err
	}
	k.mu.Lock()
	done := k.done
	k.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return Exit{}, ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.state.Exit == nil {
		return Exit{}, errors.New("kernel exited without an exit record")
	}
	return *k.state.Exit, nil
}
