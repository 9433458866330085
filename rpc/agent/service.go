package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/rpc/kernelrunner"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/image"
	"github.com/baiagent/agent/stats"
)

// Kernels is what the service needs of the kernel runtime.
type Kernels interface {
	Create(ctx context.Context, req runtime.CreateRequest) (runtime.State, error)
	Destroy(ctx context.Context, id string, grace time.Duration) (runtime.Exit, error)
	Restart(ctx context.Context, id string, grace time.Duration) error
	Get(id string) (runtime.State, error)
	List() []runtime.State
	Logs(id string) (io.ReadCloser, error)
	Subscribe() (<-chan runtime.Event, func())
	CreateNetwork(ctx context.Context, name string) error
	DestroyNetwork(ctx context.Context, name string) error
	RunnerAddr(id string) (host string, replIn, replOut int, err error)
}

// Images is what the service needs of the image store.
type Images interface {
	Get(ctx context.Context, ref string) (*image.Image, error)
	List(ctx context.Context) ([]*image.Image, error)
	NeedsPull(ctx context.Context, ref, digest string, policy image.AutoPull, isLocal bool) (bool, error)
	Pull(ctx context.Context, ref string, o image.PullOptions) (*image.Image, error)
}

// Publisher is what the service needs of the event bus and Redis state
// (an *events.Producer).
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) error
	Heartbeat(ctx context.Context, info events.AgentInfo) error
	WriteNodeStats(ctx context.Context, ns stats.NodeStats, interval time.Duration) error
	WriteKernelStats(ctx context.Context, kernels map[string]map[string]stats.MetricValue) error
	WriteKernelPresence(ctx context.Context, kernelIDs []string) error
	WriteContainerCount(ctx context.Context, n int) error
	WriteInstalledImages(ctx context.Context, images []events.InstalledImage) error
	PushContainerLog(ctx context.Context, containerID string, r io.Reader, chunkSize int) (int64, error)
}

// Stats is what the service needs of the stats collector.
type Stats interface {
	Kernel(id string) (map[string]stats.MetricValue, bool)
	KernelIDs() []string
	Node() stats.NodeStats
}

// GPUs is the node's GPU support, for gather_hwinfo, the heartbeat and
// the creation info.
type GPUs interface {
	HWInfo() map[string]gpu.HWDevice
	PluginInfo() map[string]any
	Attached(ids []string) []any
}

// Ports is the host port pool, for assign_port and release_port.
type Ports interface {
	Take(owner string, n int) ([]int, error)
	Release(owner string) []int
}

// Options configure a Service. Kernels, Images and Publisher are required.
type Options struct {
	AgentID string
	// Addr is the RPC address as the manager reaches it ("tcp://host:port");
	// Host is its host (the heartbeat's ip and the kernels' kernel_host).
	Addr, Host   string
	ScalingGroup string
	Region       string
	PublicHost   string
	// PublicKey is the agent's CURVE public key (Z85), nil without CURVE.
	PublicKey []byte
	Version   string
	Arch      string

	Kernels   Kernels
	Images    Images
	Publisher Publisher
	Stats     Stats // optional
	Ports     Ports // optional: assign_port fails without it
	GPUs      GPUs  // optional: nil on a node without GPU support
	// Capacity returns the slots the node offers (alloc maps minus
	// reservations), e.g. {"cpu": "4", "mem": "8589934592"}.
	Capacity func() map[string]string
	// Bridge says whether kernels may use the bridge and host network
	// modes; without it every kernel gets loopback only.
	Networking bool
	// Runner says the agent has the in-container kernel runner: kernels
	// with networking run it, and the runner methods use it.
	Runner bool
	// KernelUID and KernelGID are container.kernel-uid/gid (resolved:
	// never -1): the work user of images with the uid-match feature when
	// the manager gives no uid of its own. 0 runs their code as root.
	KernelUID, KernelGID int
	// StopTimeout is the destroy grace period (SIGINT to SIGKILL).
	StopTimeout time.Duration
	// Heartbeat is the heartbeat interval (debug.heartbeat-interval).
	Heartbeat time.Duration
	// NodeStatsInterval and KernelStatsInterval pace the stats writes.
	NodeStatsInterval, KernelStatsInterval time.Duration
	// LogChunkSize is container-logs.chunk-size.
	LogChunkSize int
	// LocalConfig is what get_local_config returns.
	LocalConfig map[string]any
	// Registries give credentials for image pulls by registry name.
	Registries map[string]image.PullOptions
	Log        *slog.Logger
	// now is the clock; tests set it.
	now func() time.Time
}

// Service answers the manager's calls and reports the node. It is safe
// for concurrent use.
type Service struct {
	o       Options
	log     *slog.Logger
	methods map[string]method

	mu         sync.Mutex
	creating   map[string]bool           // kernel ids being created
	destroying map[string]bool           // kernel ids being destroyed by a call
	sessions   map[string]codec.UUID     // kernel id → session id
	pulls      map[string]codec.UUID     // canonical → bgtask id of an active pull
	assigned   map[int]string            // assign_port's ports → pool owner
	started    map[string]time.Time      // kernel id → when it was reported started
	results    map[string]map[string]any // kernel id → creation info
	runners    map[string]*kernelrunner.Client
	seq        int

	bg sync.WaitGroup
}

// method is one RPC method: it takes the decoded call and returns the
// result value (encoded by codec.EncodeResult).
type method func(ctx context.Context, c codec.Call) (any, error)

// New makes a Service.
func New(o Options) (*Service, error) {
	if o.Kernels == nil || o.Images == nil || o.Publisher == nil {
		return nil, errors.New("new agent service: Kernels, Images and Publisher are required")
	}
	if o.AgentID == "" {
		return nil, errors.New("new agent service: AgentID is required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 20 * time.Second
	}
	if o.NodeStatsInterval <= 0 {
		o.NodeStatsInterval = 30 * time.Second
	}
	if o.KernelStatsInterval <= 0 {
		o.KernelStatsInterval = o.NodeStatsInterval
	}
	if o.LogChunkSize <= 0 {
		o.LogChunkSize = 64 << 10
	}
	if o.Capacity == nil {
		o.Capacity = func() map[string]string { return nil }
	}
	if o.now == nil {
		o.now = time.Now
	}
	s := &Service{
		o: o, log: o.Log,
		creating: map[string]bool{}, destroying: map[string]bool{},
		sessions: map[string]codec.UUID{}, pulls: map[string]codec.UUID{},
		assigned: map[int]string{}, started: map[string]time.Time{},
		results: map[string]map[string]any{},
		runners: map[string]*kernelrunner.Client{},
	}
	s.methods = s.table()
	return s, nil
}

// Handle runs one call (callosum.Handler).
func (s *Service) Handle(ctx context.Context, name string, body []byte) ([]byte, error) {
	m, ok := s.methods[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", callosum.ErrUnknownMethod, name)
	}
	call, err := codec.DecodeCall(body)
	if err != nil {
		return nil, s.failed(ctx, name, typeError(err))
	}
	v, err := m(ctx, call)
	if err != nil {
		return nil, s.failed(ctx, name, err)
	}
	out, err := codec.EncodeResult(v)
	if err != nil {
		return nil, s.failed(ctx, name, fmt.Errorf("encode result: %w", err))
	}
	return out, nil
}

// failed logs a failed call and emits agent_error, as upstream's
// collect_error does for every handler exception; it returns err as the
// FAILURE to send.
func (s *Service) failed(ctx context.Context, name string, err error) error {
	e := asCallError(err)
	s.log.Warn("RPC call failed", "method", name, "exception", e.name, "err", err)
	// In the background: a call may run inline on the RPC loop, which a
	// slow Redis must not stall.
	ev := events.AgentError(fmt.Sprintf("%s: %s", e.name, err.Error()), "")
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if perr := s.o.Publisher.Publish(context.WithoutCancel(ctx), ev); perr != nil {
			s.log.Debug("agent_error not published", "err", perr)
		}
	}()
	return e
}

// table maps upstream's method names to their handlers.
func (s *Service) table() map[string]method {
	t := map[string]method{
		"ping":                  s.ping,
		"health":                s.health,
		"health_v2":             s.health,
		"gather_hwinfo":         s.gatherHWInfo,
		"gather_hwinfo_v2":      s.gatherHWInfoV2,
		"get_local_config":      s.getLocalConfig,
		"check_and_pull":        s.checkAndPull,
		"check_pulling":         s.checkPulling,
		"check_creating":        s.checkCreating,
		"check_running":         s.checkRunning,
		"create_kernels":        s.createKernels,
		"destroy_kernel":        s.destroyKernel,
		"restart_kernel":        s.restartKernel,
		"sync_kernel_registry":  s.syncKernelRegistry,
		"reset_agent":           s.resetAgent,
		"get_logs":              s.getLogs,
		"upload_file":           s.uploadFile,
		"download_file":         s.downloadFile,
		"download_single":       s.downloadSingle,
		"create_local_network":  s.createLocalNetwork,
		"destroy_local_network": s.destroyLocalNetwork,
		"assign_port":           s.assignPort,
		"release_port":          s.releasePort,
		"scan_gpu_alloc_map":    s.scanGPUAllocMap,
		"shutdown_agent":        func(context.Context, codec.Call) (any, error) { return nil, nil },
		"get_commit_status":     s.getCommitStatus,
		// Ours: what ctl list shows.
		"list_kernels": s.listKernels,
		"list_files":   s.listFiles,
	}
	runner := map[string]method{
		"execute": s.execute, "trigger_batch_execution": s.triggerBatchExecution, "interrupt_kernel": s.interruptKernel,
		"get_completions": s.getCompletions, "start_service": s.startService, "shutdown_service": s.shutdownService,
		"ping_kernel": s.pingKernel,
	}
	for name, m := range runner {
		if s.o.Runner {
			t[name] = m
		} else {
			t[name] = needsRunner(name)
		}
	}
	for m, what := range unsupported {
		t[m] = refuse(m, what)
	}
	return t
}

// unsupported are methods this agent refuses by design.
var unsupported = map[string]string{
	"commit":       "committing a kernel to an image",
	"push_image":   "pushing images",
	"purge_images": "purging images through the manager",
}

func needsRunner(name string) method {
	return func(context.Context, codec.Call) (any, error) {
		return nil, &callError{name: "NotImplementedError",
			err: fmt.Errorf("%s needs the in-container kernel runner (backendai-krunner), which this agent was started without", name)}
	}
}

func refuse(name, what string) method {
	return func(context.Context, codec.Call) (any, error) {
		return nil, &callError{name: "NotImplementedError",
			err: fmt.Errorf("%s: this agent does not support %s", name, what)}
	}
}

// inline are the methods that answer from memory at once: the transport
// may run them on its socket-owning goroutine (callosum.Options.Inline).
var inline = map[string]bool{
	"ping": true, "health": true, "health_v2": true, "gather_hwinfo": true, "gather_hwinfo_v2": true,
	"get_local_config": true, "check_pulling": true, "check_creating": true, "check_running": true,
	"scan_gpu_alloc_map": true, "get_commit_status": true, "list_kernels": true,
}

// Inline reports whether a method answers from memory at once, for
// callosum.Options.Inline. A call with bad arguments stays cheap too: its
// agent_error event is sent in the background.
func (s *Service) Inline(method string) bool { return inline[method] }

// Wait waits for the service's background work (pulls, clean-ups) to end.
func (s *Service) Wait() { s.bg.Wait() }
