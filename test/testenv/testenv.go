// Package testenv holds the gates of the test tiers.
//
// The project has four tiers besides plain unit tests, each chosen by name
// and switched on by an environment variable:
//
//	TestPrivileged*  AGENT_TEST_PRIVILEGED=1  root: real containers, cgroups, netns
//	TestVM*          AGENT_TEST_VM_GUEST=1    inside the cgroup v2 VM (set by vminit)
//	TestVMLane*      AGENT_TEST_VM=1          host side: boots the VM lane with QEMU
//	TestGPU*         AGENT_TEST_GPU=1         a host with an NVIDIA GPU and driver
//
// A gate skips (with a message naming the variable) when its variable is not
// set, so that `go test ./...` stays a unit run. When the variable is set and
// the machine cannot run the tier, the gate fails the test: a tier that was
// asked for never passes by skipping. A test whose name does not carry its
// tier's prefix fails too, so that Makefile selection by -run cannot miss it.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Environment variables that switch the tiers on.
const (
	EnvPrivileged = "AGENT_TEST_PRIVILEGED"
	EnvVMGuest    = "AGENT_TEST_VM_GUEST"
	EnvVMHost     = "AGENT_TEST_VM"
	EnvGPU        = "AGENT_TEST_GPU"
)

// QEMU is the emulator binary the VM lane needs.
const QEMU = "qemu-system-x86_64"

func enabled(name string) bool { return os.Getenv(name) == "1" }

// requireName fails t unless its top-level name starts with one of the
// prefixes (Test<tier> or Benchmark<tier>).
func requireName(t testing.TB, tier string) {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	if !strings.HasPrefix(top, "Test"+tier) && !strings.HasPrefix(top, "Benchmark"+tier) {
		t.Fatalf("testenv: %s uses the %s gate but is not named Test%s* or Benchmark%s*", top, tier, tier, tier)
	}
}

// RequirePrivileged gates the privileged tier: tests named TestPrivileged*
// that need root (real containers, cgroups, network namespaces).
func RequirePrivileged(t testing.TB) {
	t.Helper()
	requireName(t, "Privileged")
	if !enabled(EnvPrivileged) {
		t.Skipf("privileged tier not requested: set %s=1 and run as root (make test-privileged)", EnvPrivileged)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s=1 but not running as root (euid %d): the privileged tier cannot run here", EnvPrivileged, os.Geteuid())
	}
}

// RequireVMGuest gates tests that run inside the cgroup v2 VM (TestVM*).
// vminit sets AGENT_TEST_VM_GUEST=1 in the guest; there /sys/fs/cgroup must
// be a pure cgroup2 mount, or the test fails.
func RequireVMGuest(t testing.TB) {
	t.Helper()
	requireName(t, "VM")
	if !enabled(EnvVMGuest) {
		t.Skipf("VM-lane test: runs inside the cgroup v2 VM only (make test-vm sets %s=1 there)", EnvVMGuest)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatalf("%s=1 but /sys/fs/cgroup cannot be read: %v", EnvVMGuest, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Fatalf("%s=1 but /sys/fs/cgroup is not cgroup2 (fs magic %#x)", EnvVMGuest, st.Type)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s=1 but not root in the guest", EnvVMGuest)
	}
}

// RequireVMHost gates the host side of the VM lane (TestVMLane*), which
// builds an initramfs and boots QEMU. It needs root only for apt-get when
// the kernel image is not cached, so it checks just for QEMU.
func RequireVMHost(t testing.TB) {
	t.Helper()
	requireName(t, "VMLane")
	if !enabled(EnvVMHost) {
		t.Skipf("VM lane not requested: set %s=1 (make test-vm)", EnvVMHost)
	}
	if _, err := exec.LookPath(QEMU); err != nil {
		t.Fatalf("%s=1 but %s is not installed (make test-vm installs qemu-system-x86): %v", EnvVMHost, QEMU, err)
	}
}

// RequireGPU gates the GPU tier (TestGPU*). probe reports whether NVML
// loads and, if not, why; the gpu package provides it, so that this package
// needs no cgo.
func RequireGPU(t testing.TB, probe func() (ok bool, reason string)) {
	t.Helper()
	requireName(t, "GPU")
	if !enabled(EnvGPU) {
		t.Skipf("GPU tier not requested: set %s=1 on a GPU host (make test-gpu)", EnvGPU)
	}
	if ok, reason := probe(); !ok {
		t.Fatalf("%s=1 but no usable GPU: %s", EnvGPU, reason)
	}
}
