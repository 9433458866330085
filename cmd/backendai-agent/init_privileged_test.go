package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // device rules for the cgroup manager
	devices "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer"
	lcconfigs "github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/test/testenv"
)

// busyboxRootfs makes a minimal rootfs from Debian's busybox-static.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (make deps installs it): %v", err)
	}
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "cat", "echo", "hostname"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestPrivilegedReexecInit proves the libcontainer re-exec wiring of this
// binary (init_linux.go): a container started through libcontainer runs
// "<this binary> init", which must turn into the container's init and exec
// the process in fresh namespaces and the agent's own cgroup.
func TestPrivilegedReexecInit(t *testing.T) {
	testenv.RequirePrivileged(t)
	root := busyboxRootfs(t)
	id := fmt.Sprintf("reexec-%d", os.Getpid())
	cgPath := "/backendai-test/" + id
	pidsLimit := int64(64)
	var devs []*devices.Rule
	for _, d := range specconv.AllowedDevices {
		r := d.Rule
		devs = append(devs, &r)
	}
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"}
	cfg := &lcconfigs.Config{
		Rootfs:       root,
		Hostname:     "kernel-" + id,
		Capabilities: &lcconfigs.Capabilities{Bounding: caps, Effective: caps, Permitted: caps},
		Namespaces: lcconfigs.Namespaces{
			{Type: lcconfigs.NEWNS}, {Type: lcconfigs.NEWUTS}, {Type: lcconfigs.NEWIPC},
			{Type: lcconfigs.NEWPID}, {Type: lcconfigs.NEWNET},
		},
		Cgroups: &cgroups.Cgroup{Path: cgPath, Resources: &cgroups.Resources{
			Memory: 64 << 20, PidsLimit: &pidsLimit, Devices: devs,
		}},
		Devices: specconv.AllowedDevices,
		Mounts: []*lcconfigs.Mount{
			{Source: "proc", Destination: "/proc", Device: "proc", Flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV},
			{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		},
		MaskPaths:     []string{"/proc/kcore"},
		ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger"},
	}
	stateDir, err := os.MkdirTemp("/run", "backendai-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(stateDir) })
	c, err := libcontainer.Create(stateDir, id, cfg)
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(); err != nil {
			t.Errorf("destroy container: %v", err)
		}
		// The parent cgroup is ours too; rmdir removes it only when empty.
		parents, _ := filepath.Glob("/sys/fs/cgroup/*/backendai-test")
		for _, d := range append(parents, "/sys/fs/cgroup/backendai-test") {
			_ = unix.Rmdir(d)
		}
	})
	var out bytes.Buffer
	p := &libcontainer.Process{
		Args:   []string{"/bin/sh", "-c", "echo pid=$$; hostname; cat /proc/self/cgroup"},
		Env:    []string{"PATH=/bin"},
		Stdout: &out, Stderr: &out, Init: true,
	}
	if err := c.Run(p); err != nil {
		t.Fatalf("run: %v", err)
	}
	st, err := p.Wait()
	if err != nil {
		t.Fatalf("wait: %v\n%s", err, out.String())
	}
	if !st.Success() {
		t.Fatalf("container process: %v\n%s", st, out.String())
	}
	got := out.String()
	for _, want := range []string{"pid=1\n", "kernel-" + id + "\n", cgPath} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
