package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/stats"
	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/testenv"
)

// gpuImage is the GPU tier's kernel image: busybox, plus the GPU host's
// own C library (the driver's nvidia-smi, bound in, needs one), with
// NVIDIA_VISIBLE_DEVICES=all set as CUDA base images do, which must not
// let a kernel see GPUs it does not hold.
const gpuImage = "bai/gpu-test:1"

// TestGPUKernel runs kernels on the GPU host through the agent's own
// binding: a kernel with one GPU sees exactly it in nvidia-smi (NVML works
// inside), a kernel without GPUs sees none, its stats show the GPU's
// memory, and the creation time with and without a GPU is printed.
func TestGPUKernel(t *testing.T) {
	testenv.RequireGPU(t, gpu.Probe)
	gs, err := openGPUs(slog.Default(), nil)
	if err != nil || gs == nil {
		t.Fatalf("GPU support did not open: %v", err)
	}
	t.Cleanup(gs.Close)
	conf, env := runEnv(t)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	importGPUImage(t, conf)
	lc, err := loadConfig(conf, false)
	if err != nil {
		t.Fatal(err)
	}
	lc.cfg.Resource.ReservedCPU, lc.cfg.Resource.ReservedMem = 0, 64<<20
	m, _, err := newRuntime(t.Context(), lc.cfg, slog.Default(), false, gs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, st := range m.List() {
			_, _ = m.Destroy(context.Background(), st.ID, time.Millisecond)
		}
		m.Close()
	})
	dev := gs.devs[0]

	t.Run("one GPU", func(t *testing.T) {
		out, code := runToEnd(t, m, "gpu1", 1, "nvidia-smi -L; nvidia-smi --query-gpu=uuid,memory.total --format=csv,noheader")
		t.Logf("kernel with one GPU:\n%s", out)
		if code != 0 {
			t.Fatalf("nvidia-smi exited %d", code)
		}
		var gpus []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "GPU ") {
				gpus = append(gpus, l)
			}
		}
		if len(gpus) != 1 || !strings.Contains(gpus[0], dev.UUID) {
			t.Errorf("nvidia-smi -L lists %q, want exactly %s", gpus, dev.UUID)
		}
	})
	t.Run("no GPU", func(t *testing.T) {
		out, _ := runToEnd(t, m, "gpu0", 0, "ls /dev | grep -c nvidia; ls /proc/driver/nvidia/gpus 2>/dev/null | wc -l; nvidia-smi -L; echo rc=$?")
		t.Logf("kernel without GPU:\n%s", out)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) < 2 || strings.TrimSpace(lines[0]) != "0" || strings.TrimSpace(lines[1]) != "0" {
			t.Errorf("a kernel without GPUs sees device nodes or driver entries:\n%s", out)
		}
		if strings.Contains(out, "GPU-") {
			t.Errorf("a kernel without GPUs lists one:\n%s", out)
		}
	})
	t.Run("stats", func(t *testing.T) {
		col, err := stats.NewCollector(stats.CollectorOptions{Source: runtimeSource{m: m}, GPU: gs})
		if err != nil {
			t.Fatal(err)
		}
		defer col.Close()
		create(t, m, "gpustats", 1, "sleep 30")
		col.SweepNode()
		col.SweepKernels()
		ms, ok := col.Kernel("gpustats")
		if !ok {
			t.Fatal("no metrics for the GPU kernel")
		}
		t.Logf("kernel cuda_mem %v, cuda_util %v; node cuda_mem %v", ms[stats.KeyCUDAMem], ms[stats.KeyCUDAUtil], col.Node().Node[stats.KeyCUDAMem])
		if ms[stats.KeyCUDAMem]["capacity"] != fmt.Sprint(dev.MemoryBytes) {
			t.Errorf("cuda_mem %v, want capacity %d", ms[stats.KeyCUDAMem], dev.MemoryBytes)
		}
		if _, err := m.Destroy(t.Context(), "gpustats", time.Millisecond); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("creation time", func(t *testing.T) {
		for _, gpus := range []int{0, 1} {
			var times []time.Duration
			for i := range 5 {
				id := fmt.Sprintf("gputime%d-%d", gpus, i)
				start := time.Now()
				create(t, m, id, gpus, "sleep 30")
				times = append(times, time.Since(start))
				if _, err := m.Destroy(t.Context(), id, time.Millisecond); err != nil {
					t.Fatal(err)
				}
			}
			slices.Sort(times)
			fmt.Printf("GPU tier: create-to-running with %d GPU(s): p50 %v (min %v, max %v)\n", gpus, times[2], times[0], times[4])
		}
	})
}

// create starts a kernel of the GPU image running sh -c script.
func create(t *testing.T, m *runtime.Manager, id string, gpus int, script string) {
	t.Helper()
	if _, err := m.Create(t.Context(), runtime.CreateRequest{
		ID: id, Image: gpuImage, Args: []string{"/bin/sh", "-c", script}, Slots: runSlots("1", 256<<20, gpus),
	}); err != nil {
		t.Fatal(err)
	}
}

// runToEnd runs a kernel to its end and returns its output and exit code.
func runToEnd(t *testing.T, m *runtime.Manager, id string, gpus int, script string) (string, int) {
	t.Helper()
	create(t, m, id, gpus, script)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	exit, err := m.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Logs(id)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if _, err := m.Destroy(t.Context(), id, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return string(b), exit.Code
}

// importGPUImage builds gpuImage from the busybox fixture and this host's
// C library, and imports it with the agent's CLI.
func importGPUImage(t *testing.T, conf string) {
	t.Helper()
	base, err := fixtures.Busybox(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	layer, err := hostLibcLayer()
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	c.Env = append(c.Env, "NVIDIA_VISIBLE_DEVICES=all")
	if img, err = mutate.Config(img, c); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "gpu.tar")
	if err := fixtures.WriteDockerSave(img, archive, gpuImage); err != nil {
		t.Fatal(err)
	}
	if out, err := agentCmd(t, "image", "import", archive, "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
}

// hostLibcLayer is a layer of the host's C library, dynamic loader and
// their companions, at the paths the host has them (links followed).
func hostLibcLayer() (v1.Layer, error) {
	out, err := exec.Command("sh", "-c", "ldd $(command -v nvidia-smi) 2>/dev/null | grep -o '/[^ ]*' | grep -v nvidia").Output()
	if err != nil {
		return nil, fmt.Errorf("ldd nvidia-smi: %w", err)
	}
	paths := strings.Fields(string(out))
	paths = append(paths, "/lib64/ld-linux-x86-64.so.2")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, p := range slices.Compact(slices.Sorted(slices.Values(paths))) {
		b, err := os.ReadFile(p) // follows links: the layer holds files
		if err != nil {
			continue
		}
		name := strings.TrimPrefix(p, "/")
		var parents []string
		for d := filepath.Dir(name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		slices.Reverse(parents)
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}
