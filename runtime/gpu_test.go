package runtime

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/runtime/spec"
)

func TestSpecWithGPUEdits(t *testing.T) {
	in := spec.Input{Env: []string{"A=1"}}
	gpuSpec(&in, gpu.Edits{
		DeviceNodes: []gpu.DeviceNode{{Path: "/dev/nvidia0", Major: 195, Minor: 0, FileMode: 0o666}},
		Mounts:      []gpu.Mount{{Source: "/usr/lib/libcuda.so.550.1", Target: "/usr/lib/x86_64-linux-gnu/libcuda.so.550.1", Options: []string{"ro", "bind"}}},
		Env:         []string{"NVIDIA_VISIBLE_DEVICES=void", "CUDA_VISIBLE_DEVICES=0"},
		LDConfig:    true,
		ProcDriver:  &gpu.ProcDriver{GPUs: []string{"0000:07:00.0"}, HiddenGPUs: []string{"0000:0f:00.0"}},
	})
	if len(in.Devices) != 1 || in.Devices[0].Major != 195 || len(in.RawMounts) != 1 || !in.InitLDConfig {
		t.Errorf("input %+v", in)
	}
	if !slices.Equal(in.Env, []string{"A=1", "NVIDIA_VISIBLE_DEVICES=void", "CUDA_VISIBLE_DEVICES=0"}) {
		t.Errorf("env %v", in.Env)
	}
	if !slices.Equal(in.MaskedPaths, []string{"/proc/driver/nvidia/gpus/0000:0f:00.0"}) {
		t.Errorf("masked %v", in.MaskedPaths)
	}
	// Without a GPU the driver's state is hidden altogether.
	var none spec.Input
	gpuSpec(&none, gpu.Edits{Env: []string{"NVIDIA_VISIBLE_DEVICES=void"}})
	if !slices.Equal(none.MaskedPaths, []string{"/proc/driver/nvidia"}) || none.InitLDConfig {
		t.Errorf("no-GPU input %+v", none)
	}
	if got := driverCapabilities([]string{"NVIDIA_DRIVER_CAPABILITIES=all", "NVIDIA_DRIVER_CAPABILITIES= compute, utility"}); !slices.Equal(got, []string{"compute", "utility"}) {
		t.Errorf("capabilities %v", got)
	}
	if got := driverCapabilities(nil); got != nil {
		t.Errorf("default capabilities %v", got)
	}
}

func TestRootfsGPULinks(t *testing.T) {
	rootfs := t.TempDir()
	e := gpu.Edits{
		Symlinks: []gpu.Symlink{{Target: "libcuda.so.550.1", LinkPath: "/usr/lib/x86_64-linux-gnu/libcuda.so.1"}},
		LibDirs:  []string{"/usr/lib/x86_64-linux-gnu"},
	}
	// An old link of the image is replaced.
	dir := filepath.Join(rootfs, "usr/lib/x86_64-linux-gnu")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("libcuda.so.1.old", filepath.Join(dir, "libcuda.so.1")); err != nil {
		t.Fatal(err)
	}
	if err := gpuRootfs(rootfs, e); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "libcuda.so.1")); err != nil || l != "libcuda.so.550.1" {
		t.Errorf("link %q %v", l, err)
	}
	if b, err := os.ReadFile(filepath.Join(rootfs, ldConfFile)); err != nil || string(b) != "/usr/lib/x86_64-linux-gnu\n" {
		t.Errorf("ld.so.conf.d %q %v", b, err)
	}

	// An image whose library dir leads out of its rootfs gets nothing
	// written outside: the create fails instead.
	evil, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(evil, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(evil, "usr/lib/x86_64-linux-gnu")); err != nil {
		t.Fatal(err)
	}
	if err := gpuRootfs(evil, e); err == nil {
		t.Error("a link out of the rootfs was followed")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("written outside the rootfs: %v", entries)
	}
}
