package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/image"
	"github.com/baiagent/agent/runtime/scratch"
	"github.com/baiagent/agent/stats"
)

// The fakes stand in for the runtime, the store and Redis, which the
// privileged end-to-end test of cmd/backendai-agent drives for real; here
// they record what the service asked for.

type fakeKernels struct {
	mu        sync.Mutex
	kernels   map[string]runtime.State
	logs      map[string]string
	created   []runtime.CreateRequest
	destroyed []string
	createErr error
	scratch   string
	gpus      []string // devices given to every created kernel
	subs      []chan runtime.Event
}

func newFakeKernels(scratchRoot string) *fakeKernels {
	return &fakeKernels{kernels: map[string]runtime.State{}, logs: map[string]string{}, scratch: scratchRoot}
}

func (f *fakeKernels) Create(_ context.Context, req runtime.CreateRequest) (runtime.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, req)
	if f.createErr != nil {
		return runtime.State{}, f.createErr
	}
	if _, ok := f.kernels[req.ID]; ok {
		return runtime.State{}, runtime.ErrAlreadyExists
	}
	st := runtime.State{
		ID: req.ID, Image: "sha256:abc", ImageRef: req.Image, Status: runtime.StatusRunning,
		Labels: req.Labels, Created: time.Unix(1700000000, 0),
		Scratch: scratch.Options{Root: f.scratch},
		Net:     runtime.NetState{Mode: req.Network, IP: "10.0.0.2"},
	}
	st.Allocation.Slots = req.Slots
	st.Allocation.Devices = f.gpus
	for i, p := range req.Publish {
		st.Net.Bindings = append(st.Net.Bindings, runtime.PortBinding{ContainerPort: p.ContainerPort, HostIP: "0.0.0.0", HostPort: 30000 + i})
	}
	f.kernels[req.ID] = st
	f.logs[req.ID] = "hello from " + req.ID + "\n"
	return st, nil
}

func (f *fakeKernels) Destroy(_ context.Context, id string, _ time.Duration) (runtime.Exit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.kernels[id]
	if !ok {
		return runtime.Exit{}, fmt.Errorf("destroy %s: %w", id, runtime.ErrNotFound)
	}
	delete(f.kernels, id)
	f.destroyed = append(f.destroyed, id)
	if st.Exit != nil {
		return *st.Exit, nil
	}
	return runtime.Exit{Code: 130}, nil
}

func (f *fakeKernels) Restart(_ context.Context, id string, _ time.Duration) error {
	_, err := f.Get(id)
	return err
}

func (f *fakeKernels) Get(id string) (runtime.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.kernels[id]
	if !ok {
		return runtime.State{}, fmt.Errorf("kernel %s: %w", id, runtime.ErrNotFound)
	}
	return st, nil
}

func (f *fakeKernels) List() []runtime.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.State
	for _, st := range f.kernels {
		out = append(out, st)
	}
	return out
}

func (f *fakeKernels) Logs(id string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.logs[id]
	if !ok {
		return nil, runtime.ErrNotFound
	}
	return io.NopCloser(strings.NewReader(l)), nil
}

func (f *fakeKernels) Subscribe() (<-chan runtime.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan runtime.Event, 16)
	f.subs = append(f.subs, ch)
	return ch, func() {}
}

// exit marks a kernel exited and sends the event, as the runtime does.
func (f *fakeKernels) exit(id string, code int) {
	f.mu.Lock()
	st := f.kernels[id]
	st.Status = runtime.StatusExited
	st.Exit = &runtime.Exit{Code: code}
	f.kernels[id] = st
	subs := f.subs
	f.mu.Unlock()
	for _, ch := range subs {
		ch <- runtime.Event{KernelID: id, Type: runtime.EventExited, Exit: st.Exit}
	}
}

func (f *fakeKernels) CreateNetwork(context.Context, string) error  { return nil }
func (f *fakeKernels) DestroyNetwork(context.Context, string) error { return nil }

type fakeImages struct{ present map[string]bool }

func (f fakeImages) Get(_ context.Context, ref string) (*image.Image, error) {
	if !f.present[ref] {
		return nil, image.ErrNotFound
	}
	return &image.Image{ID: "sha256:abc", RepoTags: []string{ref}, Architecture: "amd64"}, nil
}

func (f fakeImages) List(context.Context) ([]*image.Image, error) {
	var out []*image.Image
	for ref := range f.present {
		out = append(out, &image.Image{ID: "sha256:abc", RepoTags: []string{ref}, Architecture: "amd64"})
	}
	return out, nil
}

func (f fakeImages) NeedsPull(_ context.Context, ref, _ string, _ image.AutoPull, isLocal bool) (bool, error) {
	if f.present[ref] {
		return false, nil
	}
	if isLocal {
		return false, fmt.Errorf("%s: %w", ref, image.ErrNotAvailable)
	}
	return true, nil
}

func (f fakeImages) Pull(_ context.Context, ref string, _ image.PullOptions) (*image.Image, error) {
	return nil, fmt.Errorf("pull %s: %w", ref, image.ErrNotAvailable)
}

type recorder struct {
	mu     sync.Mutex
	events []events.Event
	logs   map[string]string
	beats  []events.AgentInfo
	count  int
}

func (r *recorder) Publish(_ context.Context, ev events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) Heartbeat(_ context.Context, info events.AgentInfo) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beats = append(r.beats, info)
	return nil
}

func (r *recorder) WriteNodeStats(context.Context, stats.NodeStats, time.Duration) error { return nil }
func (r *recorder) WriteKernelStats(context.Context, map[string]map[string]stats.MetricValue) error {
	return nil
}
func (r *recorder) WriteKernelPresence(context.Context, []string) error { return nil }
func (r *recorder) WriteContainerCount(_ context.Context, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count = n
	return nil
}
func (r *recorder) WriteInstalledImages(context.Context, []events.InstalledImage) error { return nil }
func (r *recorder) PushContainerLog(_ context.Context, id string, rd io.Reader, _ int) (int64, error) {
	b, err := io.ReadAll(rd)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logs == nil {
		r.logs = map[string]string{}
	}
	r.logs[id] = string(b)
	return int64(len(b)), err
}

// names lists the events' names in order.
func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Name)
	}
	return out
}

// find returns the last event of that name.
func (r *recorder) find(name string) (events.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Name == name {
			return r.events[i], true
		}
	}
	return events.Event{}, false
}

func (f *fakeKernels) RunnerAddr(id string) (string, int, int, error) {
	return "", 0, 0, fmt.Errorf("kernel %s: %w: no runner", id, runtime.ErrFailedPrecondition)
}
