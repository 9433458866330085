package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/runtime/spec"
)

const (
	kernelA  = "6f1c3a34-2a6b-4e54-9a43-0c9bb3f1a001"
	sessionA = "0d6b6a9e-7cf2-4b8f-9a43-0c9bb3f1a0ff"
)

type fixture struct {
	svc     *Service
	kernels *fakeKernels
	rec     *recorder
	scratch string
}

func newFixture(t testing.TB, networking bool) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{kernels: newFakeKernels(dir), rec: &recorder{}, scratch: dir}
	svc, err := New(Options{
		AgentID: "i-test", Addr: "tcp://127.0.0.1:6001", Host: "127.0.0.1", ScalingGroup: "default",
		Kernels: f.kernels, Images: fakeImages{present: map[string]bool{"busybox:latest": true}},
		Publisher: f.rec, Networking: networking, Version: "test", Arch: "x86_64",
		Capacity: func() map[string]string { return map[string]string{"cpu": "2", "mem": "1073741824"} },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	t.Cleanup(svc.Wait)
	return f
}

// call encodes a call as the manager does and runs it.
func (f *fixture) call(t *testing.T, method string, args []any, kwargs map[string]any) (any, error) {
	t.Helper()
	if kwargs == nil {
		kwargs = map[string]any{}
	}
	if _, ok := kwargs["agent_id"]; !ok {
		kwargs["agent_id"] = nil
	}
	body, err := codec.Encode(map[string]any{"args": args, "kwargs": kwargs})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.svc.Handle(context.Background(), method, body)
	if err != nil {
		return nil, err
	}
	v, derr := codec.Decode(out)
	if derr != nil {
		t.Fatalf("%s: result does not decode: %v", method, derr)
	}
	return v, nil
}

func exceptionName(err error) string {
	var n callosum.ExceptionNamer
	if errors.As(err, &n) {
		return n.ExceptionName()
	}
	return ""
}

// creationConfig is a KernelCreationConfig as the manager builds one.
func creationConfig(kernelID string) map[string]any {
	return map[string]any{
		"image": map[string]any{
			"canonical": "busybox:latest", "project": nil, "architecture": "x86_64", "digest": "",
			"repo_digest": nil, "registry": map[string]any{"name": "local", "url": "", "username": nil, "password": nil},
			"labels":    map[string]any{"ai.backend.service-ports": "web:http:8080,multi:tcp:[9000,9001]"},
			"is_local":  true,
			"auto_pull": codec.Enum{Module: "ai.backend.common.types", Class: "AutoPullBehavior", Value: "digest"},
		},
		"kernel_id": kernelID, "session_id": sessionA, "network_id": sessionA,
		"session_type": codec.Enum{Module: "ai.backend.common.types", Class: "SessionTypes", Value: "interactive"},
		"cluster_role": "main", "cluster_idx": int64(1), "cluster_hostname": "main1", "local_rank": int64(0),
		"resource_slots":   map[string]any{"cpu": "1", "mem": codec.Decimal("268435456")},
		"resource_opts":    map[string]any{"shmem": int64(67108864)},
		"environ":          map[string]any{"B": "2", "A": "1"},
		"mounts":           []any{map[string]any{"name": "vf", "host_path": "/srv/vf", "kernel_path": "/home/work/vf", "mount_perm": "rw"}},
		"preopen_ports":    []any{int64(7000)},
		"startup_command":  "sleep 100",
		"scaling_group":    "default",
		"internal_data":    nil,
		"owner_user_id":    "u1",
		"owner_project_id": nil,
	}
}

func (f *fixture) create(t *testing.T, kernelID string, cluster map[string]any) (any, error) {
	t.Helper()
	if cluster == nil {
		cluster = map[string]any{"mode": "single-node", "size": int64(1), "network_config": map[string]any{}}
	}
	kid, _ := codec.ParseUUID(kernelID)
	refs := map[any]any{kid: codec.ImageRef{Name: "busybox", Tag: "latest", Architecture: "x86_64", IsLocal: true}}
	return f.call(t, "create_kernels", []any{sessionA, []any{kernelID}, []any{creationConfig(kernelID)}, cluster, refs}, nil)
}

func TestCreateKernels(t *testing.T) {
	f := newFixture(t, true)
	res, err := f.create(t, kernelA, nil)
	if err != nil {
		t.Fatal(err)
	}
	list, ok := res.([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("result %#v, want one creation info", res)
	}
	info := list[0].(map[string]any)
	for _, k := range []string{"id", "kernel_host", "repl_in_port", "repl_out_port", "stdin_port", "stdout_port",
		"service_ports", "container_id", "resource_spec", "attached_devices", "agent_addr", "scaling_group"} {
		if _, ok := info[k]; !ok {
			t.Errorf("creation info lacks %q", k)
		}
	}
	if info["id"] != kernelA || info["agent_addr"] != "tcp://127.0.0.1:6001" {
		t.Errorf("creation info %v", info)
	}
	// Service ports are named by the image's label; the rest are preopen.
	wantPorts := []any{
		map[string]any{"name": "web", "protocol": "http", "container_ports": []any{int64(8080)}, "host_ports": []any{int64(30000)}, "is_inference": false},
		map[string]any{"name": "multi", "protocol": "tcp", "container_ports": []any{int64(9000), int64(9001)}, "host_ports": []any{int64(30001), int64(30002)}, "is_inference": false},
		map[string]any{"name": "7000", "protocol": "preopen", "container_ports": []any{int64(7000)}, "host_ports": []any{int64(30003)}, "is_inference": false},
	}
	if d := cmp.Diff(wantPorts, info["service_ports"]); d != "" {
		t.Errorf("service_ports (-want +got):\n%s", d)
	}
	req := f.kernels.created[0]
	want := runtime.CreateRequest{
		ID: kernelA, Image: "busybox:latest", Args: []string{"/bin/sh", "-c", "sleep 100"},
		Env:      []string{"A=1", "B=2"},
		Slots:    map[string]string{"cpu": "1", "mem": "268435456"},
		Mounts:   []spec.Mount{{Source: "/srv/vf", Target: "/home/work/vf"}},
		ShmSize:  67108864,
		Hostname: "main1",
		Labels: map[string]string{
			"ai.backend.kernel-id": kernelA, "ai.backend.session-id": sessionA,
			"ai.backend.owner-user-id": "u1", "ai.backend.cluster-role": "main", "ai.backend.scaling-group": "default",
			"ai.backend.service-ports": "web:http:8080,multi:tcp:[9000,9001]",
		},
		Network: runtime.NetBridge,
		Publish: []runtime.Publish{{ContainerPort: 8080}, {ContainerPort: 9000}, {ContainerPort: 9001}, {ContainerPort: 7000}},
	}
	if d := cmp.Diff(want, req); d != "" {
		t.Errorf("create request (-want +got):\n%s", d)
	}
	if got, want := f.rec.names(), []string{"kernel_preparing", "kernel_creating", "kernel_started"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	ev, _ := f.rec.find("kernel_started")
	if ev.Args[0] != kernelA || ev.Args[1] != sessionA {
		t.Errorf("kernel_started args %v", ev.Args[:2])
	}

	// The same kernel again is refused by the runtime.
	if _, err := f.create(t, kernelA, nil); exceptionName(err) != "KernelAlreadyExists" {
		t.Errorf("second create: %v (%s)", err, exceptionName(err))
	}
}

func TestCreateNetworkModes(t *testing.T) {
	for name, tc := range map[string]struct {
		networking bool
		nc         map[string]any
		mode       runtime.NetworkMode
		netName    string
		exception  string
	}{
		"bridge":          {true, map[string]any{}, runtime.NetBridge, "", ""},
		"session network": {true, map[string]any{"mode": "bridge", "network_name": "bai-singlenode-x"}, runtime.NetBridge, "bai-singlenode-x", ""},
		"host":            {true, map[string]any{"mode": "host"}, runtime.NetHost, "", ""},
		"none":            {true, map[string]any{"mode": "none"}, runtime.NetNone, "", ""},
		"no networking":   {false, map[string]any{}, runtime.NetNone, "", ""},
		"host without":    {false, map[string]any{"mode": "host"}, "", "", "InvalidArgument"},
		"overlay":         {true, map[string]any{"mode": "overlay"}, "", "", "InvalidArgument"},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.networking)
			_, err := f.create(t, kernelA, map[string]any{"network_config": tc.nc})
			if tc.exception != "" {
				if exceptionName(err) != tc.exception {
					t.Fatalf("err %v (%s), want %s", err, exceptionName(err), tc.exception)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req := f.kernels.created[0]
			if req.Network != tc.mode || req.NetworkName != tc.netName {
				t.Errorf("network %q %q, want %q %q", req.Network, req.NetworkName, tc.mode, tc.netName)
			}
			if tc.mode != runtime.NetBridge && len(req.Publish) > 0 {
				t.Errorf("publish %v outside bridge mode", req.Publish)
			}
		})
	}
}

func TestCreateFailure(t *testing.T) {
	f := newFixture(t, true)
	f.kernels.createErr = errors.Join(errors.New("cpu: want 64, have 2"), alloc.ErrInsufficient)
	_, err := f.create(t, kernelA, nil)
	if exceptionName(err) != "InsufficientResource" {
		t.Fatalf("err %v (%s), want InsufficientResource", err, exceptionName(err))
	}
	ev, ok := f.rec.find("kernel_terminated")
	if !ok {
		t.Fatalf("no kernel_terminated in %v", f.rec.names())
	}
	if r, _ := events.KernelReasonOf(ev.Args[2]); r != events.ReasonFailedToStart {
		t.Errorf("reason %v", ev.Args[2])
	}
	f.svc.Wait() // agent_error goes out in the background
	for _, name := range []string{"do_agent_resource_check", "agent_error"} {
		if _, ok := f.rec.find(name); !ok {
			t.Errorf("no %s in %v", name, f.rec.names())
		}
	}
	if f.svc.isCreating(kernelA) {
		t.Error("kernel still marked creating")
	}
}

func TestCreateBadArguments(t *testing.T) {
	f := newFixture(t, true)
	cfg := creationConfig(kernelA)
	cfg["resource_slots"] = []any{"cpu"}
	for name, args := range map[string][]any{
		"missing":       {sessionA},
		"not a uuid":    {"nope", []any{kernelA}, []any{creationConfig(kernelA)}, map[string]any{}, map[string]any{}},
		"count differs": {sessionA, []any{kernelA, kernelA}, []any{creationConfig(kernelA)}, map[string]any{}, map[string]any{}},
		"bad slots":     {sessionA, []any{kernelA}, []any{cfg}, map[string]any{}, map[string]any{}},
		"config a list": {sessionA, []any{kernelA}, []any{[]any{}}, map[string]any{}, map[string]any{}},
	} {
		if _, err := f.call(t, "create_kernels", args, nil); exceptionName(err) != "TypeError" {
			t.Errorf("%s: %v (%s), want TypeError", name, err, exceptionName(err))
		}
	}
	if len(f.kernels.created) != 0 {
		t.Errorf("created %d kernels from bad calls", len(f.kernels.created))
	}
}

func TestDestroyKernel(t *testing.T) {
	f := newFixture(t, true)
	if _, err := f.create(t, kernelA, nil); err != nil {
		t.Fatal(err)
	}
	reason := codec.Enum{Module: "ai.backend.common.events.kernel", Class: "KernelLifecycleEventReason", Value: "user-requested"}
	if _, err := f.call(t, "destroy_kernel", []any{kernelA, sessionA, reason}, map[string]any{"suppress_events": false}); err != nil {
		t.Fatal(err)
	}
	ev, ok := f.rec.find("kernel_terminated")
	if !ok {
		t.Fatalf("no kernel_terminated in %v", f.rec.names())
	}
	if r, _ := events.KernelReasonOf(ev.Args[2]); r != events.ReasonUserRequested || ev.Args[3] != 130 {
		t.Errorf("kernel_terminated args %v", ev.Args)
	}
	if got := f.rec.logs[kernelA]; got != "hello from "+kernelA+"\n" {
		t.Errorf("pushed log %q", got)
	}
	if _, ok := f.rec.find("do_sync_kernel_logs"); !ok {
		t.Errorf("no do_sync_kernel_logs in %v", f.rec.names())
	}

	// A kernel the agent does not have: already-terminated, no failure.
	f.rec.events = nil
	if _, err := f.call(t, "destroy_kernel", []any{kernelA, sessionA, "user-requested"}, nil); err != nil {
		t.Fatal(err)
	}
	ev, _ = f.rec.find("kernel_terminated")
	if r, _ := events.KernelReasonOf(ev.Args[2]); r != events.ReasonAlreadyTerminated {
		t.Errorf("reason %v, want already-terminated", ev.Args[2])
	}
	// Suppressed events.
	f.rec.events = nil
	if _, err := f.call(t, "destroy_kernel", []any{kernelA, sessionA, nil}, map[string]any{"suppress_events": true}); err != nil {
		t.Fatal(err)
	}
	if n := f.rec.names(); len(n) != 0 {
		t.Errorf("events %v despite suppress_events", n)
	}
	// A bad reason is a TypeError.
	if _, err := f.call(t, "destroy_kernel", []any{kernelA, sessionA, "because"}, nil); exceptionName(err) != "TypeError" {
		t.Errorf("bad reason: %v", err)
	}
}

func TestSelfTerminated(t *testing.T) {
	f := newFixture(t, true)
	if _, err := f.create(t, kernelA, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- f.svc.Run(ctx) }()
	// Run subscribes first; wait for it.
	waitFor(t, func() bool { f.kernels.mu.Lock(); defer f.kernels.mu.Unlock(); return len(f.kernels.subs) > 0 })
	f.kernels.exit(kernelA, 3)
	waitFor(t, func() bool { _, ok := f.rec.find("kernel_terminated"); return ok })
	ev, _ := f.rec.find("kernel_terminated")
	if r, _ := events.KernelReasonOf(ev.Args[2]); r != events.ReasonSelfTerminated || ev.Args[3] != 3 {
		t.Errorf("kernel_terminated args %v", ev.Args)
	}
	if len(f.kernels.destroyed) != 1 {
		t.Errorf("destroyed %v", f.kernels.destroyed)
	}
	if len(f.rec.beats) == 0 {
		t.Error("no heartbeat at start")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHeartbeatInfo(t *testing.T) {
	f := newFixture(t, true)
	info := f.svc.Info(context.Background())
	want := codec.ResourceSlot{{Slot: "cpu", Quantity: "2"}, {Slot: "mem", Quantity: "1073741824"}}
	if d := cmp.Diff(want, info.AvailableSlots); d != "" {
		t.Errorf("slots (-want +got):\n%s", d)
	}
	if len(info.SlotUnits) != 2 || info.SlotUnits[1].Type != events.SlotBytes {
		t.Errorf("slot units %v", info.SlotUnits)
	}
	if len(info.Images) != 1 || info.Images[0].Canonical != "busybox:latest" || info.Images[0].Architecture != "x86_64" {
		t.Errorf("images %v", info.Images)
	}
	if _, err := events.AgentHeartbeat(info); err != nil {
		t.Errorf("heartbeat does not encode: %v", err)
	}
}

func TestMethodsWithoutRunner(t *testing.T) {
	f := newFixture(t, true)
	for _, m := range []string{"execute", "start_service", "commit", "push_image"} {
		_, err := f.call(t, m, []any{kernelA}, nil)
		if exceptionName(err) != "NotImplementedError" {
			t.Errorf("%s: %v (%s)", m, err, exceptionName(err))
		}
	}
	if _, err := f.call(t, "no_such_method", nil, nil); !errors.Is(err, callosum.ErrUnknownMethod) {
		t.Errorf("unknown method: %v", err)
	}
	out, err := f.call(t, "ping", []any{"hello"}, nil)
	if err != nil || out != "hello" {
		t.Errorf("ping: %v %v", out, err)
	}
	if _, err := f.svc.Handle(context.Background(), "ping", []byte{0xc1}); exceptionName(err) != "TypeError" {
		t.Errorf("malformed body: %v", err)
	}
}

func TestFiles(t *testing.T) {
	f := newFixture(t, true)
	if _, err := f.create(t, kernelA, nil); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(f.scratch, kernelA, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := f.call(t, "upload_file", []any{kernelA, "sub/a.txt", []byte("data")}, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(work, "sub/a.txt")); err != nil || string(b) != "data" {
		t.Fatalf("uploaded file: %q %v", b, err)
	}
	got, err := f.call(t, "download_single", []any{kernelA, "/home/work/sub/a.txt"}, nil)
	if err != nil || !bytes.Equal(got.([]byte), []byte("data")) {
		t.Fatalf("download_single: %v %v", got, err)
	}
	got, err = f.call(t, "download_file", []any{kernelA, "sub"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(got.([]byte)))
	var names []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"sub/", "sub/a.txt"}) {
		t.Errorf("tar entries %v", names)
	}

	// Escapes: by dot-dot, by absolute path, by a symlink the user made.
	if err := os.Symlink("/etc", filepath.Join(work, "out")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../x", "/etc/passwd", "/home/workx/a", "sub/../../x", "out/passwd"} {
		if _, err := f.call(t, "upload_file", []any{kernelA, p, []byte("x")}, nil); exceptionName(err) != "PermissionError" {
			t.Errorf("upload %q: %v (%s)", p, err, exceptionName(err))
		}
		if _, err := f.call(t, "download_single", []any{kernelA, p}, nil); exceptionName(err) != "PermissionError" {
			t.Errorf("download %q: %v (%s)", p, err, exceptionName(err))
		}
	}
	if _, err := os.Stat(filepath.Join(f.scratch, kernelA, "x")); err == nil {
		t.Error("a file was written outside the work dir")
	}
	if _, err := f.call(t, "download_single", []any{"00000000-0000-0000-0000-000000000000", "a"}, nil); exceptionName(err) != "KernelNotFound" {
		t.Errorf("unknown kernel: %v (%s)", err, exceptionName(err))
	}
}

func TestCheckAndPull(t *testing.T) {
	f := newFixture(t, true)
	imgs := map[string]any{
		"busybox:latest": map[string]any{"canonical": "busybox:latest", "digest": "", "is_local": true, "labels": map[string]any{}},
		"missing:1":      map[string]any{"canonical": "missing:1", "digest": "", "is_local": false, "labels": map[string]any{}},
	}
	out, err := f.call(t, "check_and_pull", []any{imgs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m := out.(map[string]any); len(m) != 2 || len(m["busybox:latest"].(string)) != 32 {
		t.Errorf("result %v", out)
	}
	f.svc.Wait()
	for _, name := range []string{"image_pull_finished", "bgtask_done", "image_pull_started", "image_pull_failed", "bgtask_failed"} {
		if _, ok := f.rec.find(name); !ok {
			t.Errorf("no %s in %v", name, f.rec.names())
		}
	}
}

func TestParseServicePorts(t *testing.T) {
	got := parseServicePorts("jupyter:http:8080,multi:tcp:[9000,9001],bad,ttyd:http:7681")
	want := []servicePort{{"jupyter", "http", []int{8080}}, {"multi", "tcp", []int{9000, 9001}}, {"ttyd", "http", []int{7681}}}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(servicePort{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

type fakeGPUs struct{}

func (fakeGPUs) HWInfo() map[string]gpu.HWDevice {
	return map[string]gpu.HWDevice{"0": {Status: "healthy", Metadata: map[string]string{"uuid": "GPU-1"}}}
}
func (fakeGPUs) PluginInfo() map[string]any { return map[string]any{"cuda_support": true} }
func (fakeGPUs) Attached(ids []string) []any {
	var out []any
	for _, id := range ids {
		out = append(out, map[string]any{"device_id": id})
	}
	return out
}

func TestHWInfoAndGPUAllocMap(t *testing.T) {
	f := newFixture(t, true)
	f.svc.o.GPUs = fakeGPUs{}
	hw, err := f.call(t, "gather_hwinfo", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := hw.(map[string]any)["cuda:0"].(map[string]any)
	if !ok || d["status"] != "healthy" || d["metadata"].(map[string]any)["uuid"] != "GPU-1" {
		t.Errorf("gather_hwinfo %v", hw)
	}
	hw2, err := f.call(t, "gather_hwinfo_v2", nil, nil)
	if err != nil || len(hw2.(map[string]any)["devices"].([]any)) != 1 {
		t.Errorf("gather_hwinfo_v2 %v %v", hw2, err)
	}
	if info := f.svc.Info(context.Background()); info.ComputePlugins["cuda"]["cuda_support"] != true {
		t.Errorf("compute plugins %v", info.ComputePlugins)
	}
	cfg := creationConfig(kernelA)
	cfg["resource_slots"].(map[string]any)["cuda.device"] = "1"
	kid, _ := codec.ParseUUID(kernelA)
	f.kernels.gpus = []string{"0"}
	res, err := f.call(t, "create_kernels", []any{sessionA, []any{kernelA}, []any{cfg}, map[string]any{}, map[any]any{kid: codec.ImageRef{Name: "busybox"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	att := res.([]any)[0].(map[string]any)["attached_devices"].(map[string]any)
	if len(att["cuda"].([]any)) != 1 {
		t.Errorf("attached_devices %v", att)
	}
	m, err := f.call(t, "scan_gpu_alloc_map", nil, nil)
	if err != nil || m.(map[string]any)["0"] != "1" {
		t.Errorf("scan_gpu_alloc_map %v %v", m, err)
	}
}

// TestUploadOwnedByWorkUser: what an upload makes (file and missing
// directories) belongs to the work dir's owner, the kernel's work user; a
// directory that was there (a vfolder's mount point) keeps its owner.
func TestUploadOwnedByWorkUser(t *testing.T) {
	f := newFixture(t, true)
	if _, err := f.create(t, kernelA, nil); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(f.scratch, kernelA, "work")
	if err := os.MkdirAll(filepath.Join(work, "vf"), 0o755); err != nil {
		t.Fatal(err)
	}
	// As root the work dir is given to another user; otherwise it is ours
	// already and the check is on our own ids.
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 1234, 1235
		if err := os.Chown(work, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.call(t, "upload_file", []any{kernelA, "vf/new/dir/a.txt", []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	owner := func(rel string) (int, int) {
		st, err := os.Lstat(filepath.Join(work, rel))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		return int(sys.Uid), int(sys.Gid)
	}
	for _, rel := range []string{"vf/new", "vf/new/dir", "vf/new/dir/a.txt"} {
		if u, g := owner(rel); u != uid || g != gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", rel, u, g, uid, gid)
		}
	}
	if u, _ := owner("vf"); u != os.Getuid() {
		t.Errorf("the existing vf changed owner to %d", u)
	}
}
