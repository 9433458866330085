package runtime

import (
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/runtime/spec"
)

// GPUBinder turns the GPUs a kernel holds (alloc device ids) into what the
// kernel needs to use them; cmd adapts gpu.Binder over the discovered
// devices.
type GPUBinder interface {
	Edits(deviceIDs []string, capabilities []string) (gpu.Edits, error)
}

// ldConfFile lists the directories the driver's libraries were bound in,
// for images whose loader does not search them by default.
const ldConfFile = "/etc/ld.so.conf.d/000-backendai-nvidia.conf"

// driverCapabilities reads NVIDIA_DRIVER_CAPABILITIES from the kernel's
// environment (the request's over the image's); unset means the
// toolkit's default, compute and utility.
func driverCapabilities(env []string) []string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == "NVIDIA_DRIVER_CAPABILITIES" {
			v = val
		}
	}
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var caps []string
	for c := range strings.SplitSeq(v, ",") {
		if c = strings.TrimSpace(c); c != "" {
			caps = append(caps, c)
		}
	}
	return caps
}

// gpuSpec applies a kernel's GPU edits to its spec input.
func gpuSpec(in *spec.Input, e gpu.Edits) {
	for _, d := range e.DeviceNodes {
		in.Devices = append(in.Devices, spec.Device{Path: d.Path, Major: d.Major, Minor: d.Minor, FileMode: d.FileMode, UID: d.UID, GID: d.GID})
	}
	for _, m := range e.Mounts {
		in.RawMounts = append(in.RawMounts, spec.RawMount{Source: m.Source, Target: m.Target, Options: m.Options})
	}
	in.Env = append(in.Env, e.Env...)
	in.InitLDConfig = e.LDConfig
	if e.ProcDriver == nil {
		// No GPU: nothing of the driver's state to see either.
		in.MaskedPaths = append(in.MaskedPaths, "/proc/driver/nvidia")
		return
	}
	// runc refuses mounts under /proc, so the other GPUs' entries are
	// masked rather than the directory rebuilt with only this kernel's.
	for _, id := range e.ProcDriver.HiddenGPUs {
		in.MaskedPaths = append(in.MaskedPaths, "/proc/driver/nvidia/gpus/"+id)
	}
}

// gpuRootfs makes the edits' links and loader configuration in a mounted
// rootfs. Paths resolve inside it (os.Root): an image's own symlinks
// cannot lead the agent out.
func gpuRootfs(rootfs string, e gpu.Edits) error {
	if len(e.Symlinks) == 0 && len(e.LibDirs) == 0 {
		return nil
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return fmt.Errorf("GPU links: %w", err)
	}
	defer root.Close()
	rel := func(p string) string { return strings.TrimPrefix(path.Clean(p), "/") }
	for _, l := range e.Symlinks {
		link := rel(l.LinkPath)
		if err := root.MkdirAll(path.Dir(link), 0o755); err != nil {
			return fmt.Errorf("GPU link %s: %w", l.LinkPath, err)
		}
		if fi, err := root.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			_ = root.Remove(link)
		}
		if err := root.Symlink(l.Target, link); err != nil && !os.IsExist(err) {
			return fmt.Errorf("GPU link %s: %w", l.LinkPath, err)
		}
	}
	if len(e.LibDirs) > 0 {
		conf := rel(ldConfFile)
		if err := root.MkdirAll(path.Dir(conf), 0o755); err != nil {
			return fmt.Errorf("GPU loader config: %w", err)
		}
		if err := root.WriteFile(conf, []byte(strings.Join(e.LibDirs, "\n")+"\n"), 0o644); err != nil {
			return fmt.Errorf("GPU loader config: %w", err)
		}
	}
	return nil
}
