package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/test/testenv"
)

// fakeBinder binds "GPU 0" as the host's null device, one file standing
// for a driver library, with its SONAME link: what gpu.Binder gives for a
// real GPU, on a host without one.
type fakeBinder struct{ lib string }

func (f fakeBinder) Edits(ids []string, caps []string) (gpu.Edits, error) {
	if slices.Contains(caps, "fail") { // a driver that cannot be bound
		return gpu.Edits{}, fmt.Errorf("bind: %w: /dev/nvidiactl missing", gpu.ErrHostSetup)
	}
	if len(ids) == 0 {
		return gpu.Edits{Env: []string{"NVIDIA_VISIBLE_DEVICES=void", "CUDA_VISIBLE_DEVICES="}}, nil
	}
	return gpu.Edits{
		DeviceNodes: []gpu.DeviceNode{{Path: "/dev/nvidia0", Major: 1, Minor: 3, FileMode: 0o666}},
		Mounts: []gpu.Mount{{Source: f.lib, Target: "/usr/lib/x86_64-linux-gnu/libfake.so.550.1",
			Options: []string{"ro", "nosuid", "nodev", "bind"}}},
		Symlinks:   []gpu.Symlink{{Target: "libfake.so.550.1", LinkPath: "/usr/lib/x86_64-linux-gnu/libfake.so.1"}},
		Env:        []string{"NVIDIA_VISIBLE_DEVICES=void", "CUDA_VISIBLE_DEVICES=0"},
		LDConfig:   true,
		LibDirs:    []string{"/usr/lib/x86_64-linux-gnu"},
		ProcDriver: &gpu.ProcDriver{GPUs: []string{"0000:07:00.0"}, HiddenGPUs: []string{"0000:0f:00.0"}},
	}, nil
}

// TestPrivilegedGPUBinding runs kernels with and without a (fake) GPU
// through libcontainer: the device node is made and allowed by the device
// cgroup, the driver file bound read-only with its link, the env set over
// the image's, ldconfig asked of the init (busybox has none: the link is
// what resolves), and the allocation released with the kernel.
func TestPrivilegedGPUBinding(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	lib := filepath.Join(e.dir, "libfake.so.550.1")
	if err := os.WriteFile(lib, []byte("fake driver library\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cores, err := alloc.HostCores()
	if err != nil {
		t.Fatal(err)
	}
	e.opts.Alloc, err = alloc.New(alloc.Options{Cores: cores, MemoryBytes: 64 << 30, CPUOvercommit: 256, Devices: []alloc.Device{{ID: "0", NUMANode: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	e.opts.GPUs = fakeBinder{lib: lib}
	m := e.manager(t)

	script := `head -c 4 /dev/nvidia0 | wc -c; cat /usr/lib/x86_64-linux-gnu/libfake.so.1; ` +
		`echo x > /usr/lib/x86_64-linux-gnu/libfake.so.550.1 || echo read-only; echo CUDA=$CUDA_VISIBLE_DEVICES; ` +
		`cat /etc/ld.so.conf.d/000-backendai-nvidia.conf; ls /dev | grep -c nvidia`
	withGPU := map[string]string{"cpu": "1", "mem": "67108864", "cuda.device": "1"}
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-gpu", Image: e.image, Slots: withGPU, Args: []string{"/bin/sh", "-c", script}}); err != nil {
		t.Fatal(err)
	}
	ex, err := m.Wait(t.Context(), "k-gpu")
	if err != nil {
		t.Fatal(err)
	}
	out := logsOf(t, m, "k-gpu")
	for _, want := range []string{"0\n", "fake driver library\n", "read-only\n", "CUDA=0\n", "/usr/lib/x86_64-linux-gnu\n", "\n1\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("kernel with a GPU: output lacks %q:\n%s", want, out)
		}
	}
	if ex.Code != 0 {
		t.Errorf("kernel with a GPU exited %d:\n%s", ex.Code, out)
	}
	st, _ := m.Get("k-gpu")
	if len(st.Allocation.Devices) != 1 {
		t.Errorf("allocation %+v", st.Allocation)
	}
	// The one GPU is held: a second kernel asking for one is refused.
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-gpu2", Image: e.image, Slots: withGPU, Args: []string{"true"}}); err == nil {
		t.Error("a second kernel got the only GPU")
	}
	if _, err := m.Destroy(t.Context(), "k-gpu", time.Second); err != nil {
		t.Fatal(err)
	}

	// Without a GPU: no node, and the image's NVIDIA_VISIBLE_DEVICES is
	// overridden.
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-nogpu", Image: e.image, Slots: slots("1", "67108864"),
		Env:  []string{"NVIDIA_VISIBLE_DEVICES=all"},
		Args: []string{"/bin/sh", "-c", "ls /dev | grep -c nvidia; echo NVD=$NVIDIA_VISIBLE_DEVICES"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wait(t.Context(), "k-nogpu"); err != nil {
		t.Fatal(err)
	}
	if out := logsOf(t, m, "k-nogpu"); !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "NVD=void\n") {
		t.Errorf("kernel without a GPU:\n%s", out)
	}
	if _, err := m.Destroy(t.Context(), "k-nogpu", time.Second); err != nil {
		t.Fatal(err)
	}
	// A binding that fails fails the create and leaves nothing held.
	_, err = m.Create(t.Context(), CreateRequest{ID: "k-gpufail", Image: e.image, Slots: withGPU,
		Env: []string{"NVIDIA_DRIVER_CAPABILITIES=fail"}, Args: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "nvidiactl") {
		t.Errorf("a failed binding: %v", err)
	}
	if _, err := m.Get("k-gpufail"); err == nil {
		t.Error("a kernel whose binding failed is known")
	}

	// Released with the first kernel (and not held by the failed one):
	// the GPU can be taken again.
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-gpu3", Image: e.image, Slots: withGPU, Args: []string{"true"}}); err != nil {
		t.Errorf("GPU not released: %v", err)
	} else {
		_, _ = m.Wait(t.Context(), "k-gpu3")
		_, _ = m.Destroy(t.Context(), "k-gpu3", time.Second)
	}
}

// BenchmarkPrivilegedGPUBindingCost creates kernels with and without a
// (fake) GPU, interleaved, and reports both p50s and their difference:
// what binding costs the runtime per kernel (device node and cgroup rule,
// driver file bind, link in the rootfs), on top of gpu.Binder.Edits
// (gpu's BenchmarkEdits). Target: at most 5 ms in all.
func BenchmarkPrivilegedGPUBindingCost(b *testing.B) {
	testenv.RequirePrivileged(b)
	e := newEnv(b)
	lib := filepath.Join(e.dir, "libfake.so.550.1")
	if err := os.WriteFile(lib, []byte("fake\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cores, err := alloc.HostCores()
	if err != nil {
		b.Fatal(err)
	}
	e.opts.Alloc, err = alloc.New(alloc.Options{Cores: cores, MemoryBytes: 64 << 30, CPUOvercommit: 256, Devices: []alloc.Device{{ID: "0", NUMANode: -1}}})
	if err != nil {
		b.Fatal(err)
	}
	e.opts.GPUs = fakeBinder{lib: lib}
	m := e.manager(b)
	var with, without []time.Duration
	i := 0
	for b.Loop() {
		for _, gpus := range []bool{false, true} {
			s := slots("1", "67108864")
			if gpus {
				s["cuda.device"] = "1"
			}
			id := fmt.Sprintf("k-gpub-%d", i)
			i++
			start := time.Now()
			if _, err := m.Create(b.Context(), CreateRequest{ID: id, Image: e.image, Slots: s, Args: []string{"sleep", "60"}}); err != nil {
				b.Fatal(err)
			}
			d := time.Since(start)
			if gpus {
				with = append(with, d)
			} else {
				without = append(without, d)
			}
			b.StopTimer()
			if _, err := m.Destroy(b.Context(), id, time.Millisecond); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	// The median of the paired differences: each pair ran back to back,
	// so drift of the shared machine cancels out better than in p50s.
	diffs := make([]time.Duration, len(with))
	for i := range with {
		diffs[i] = with[i] - without[i]
	}
	slices.Sort(diffs)
	b.ReportMetric(float64(percentile(without, 0.5).Microseconds())/1000, "ms-p50-no-gpu")
	b.ReportMetric(float64(percentile(with, 0.5).Microseconds())/1000, "ms-p50-gpu")
	b.ReportMetric(float64(diffs[len(diffs)/2].Microseconds())/1000, "ms-binding")
	b.ReportMetric(0, "ns/op")
}
