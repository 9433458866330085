//go:build linux && seccomp

// This file needs runc built with libseccomp (-tags seccomp, as the
// Makefile builds); without the tag it is left out rather than skipped.

package spec

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"
)

// seccompChildEnv makes the test binary load the default profile and
// report what a few syscalls return, instead of running the tests.
const seccompChildEnv = "BAIAGENT_SPEC_TEST_SECCOMP_CHILD"

// deniedErrno replaces EPERM as the profile's default errno in the child,
// so that a refusal by the filter differs from one by the kernel.
const deniedErrno = unix.EHWPOISON

func TestMain(m *testing.M) {
	if os.Getenv(seccompChildEnv) == "1" {
		os.Exit(seccompChild())
	}
	os.Exit(m.Run())
}

// probe is a syscall made under the filter. Its arguments make it fail
// harmlessly, or do nothing, should the filter let it through, even as root.
type probe struct {
	name string
	nr   uintptr
	args [6]uintptr
}

func probes() []probe {
	const (
		afVsock         = 40
		afAlg           = 38
		readImpliesExec = 0x0400000
		ptracePeekData  = 2
		noSuchPID       = 0x3fffffff
	)
	return []probe{
		{"getpid", unix.SYS_GETPID, [6]uintptr{}},
		{"personality query", unix.SYS_PERSONALITY, [6]uintptr{0xffffffff}},
		{"personality READ_IMPLIES_EXEC", unix.SYS_PERSONALITY, [6]uintptr{readImpliesExec}},
		{"socket AF_INET", unix.SYS_SOCKET, [6]uintptr{unix.AF_INET, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC}},
		{"socket AF_VSOCK", unix.SYS_SOCKET, [6]uintptr{afVsock, unix.SOCK_STREAM}},
		{"socket AF_ALG", unix.SYS_SOCKET, [6]uintptr{afAlg, unix.SOCK_SEQPACKET}},
		{"clone CLONE_SIGHAND", unix.SYS_CLONE, [6]uintptr{unix.CLONE_SIGHAND}},
		{"clone CLONE_NEWNS|CLONE_FS", unix.SYS_CLONE, [6]uintptr{unix.CLONE_NEWNS | unix.CLONE_FS}},
		{"clone3", unix.SYS_CLONE3, [6]uintptr{}},
		{"unshare", unix.SYS_UNSHARE, [6]uintptr{}},
		{"setns", unix.SYS_SETNS, [6]uintptr{^uintptr(0)}},
		{"mount", unix.SYS_MOUNT, [6]uintptr{}},
		{"umount2", unix.SYS_UMOUNT2, [6]uintptr{}},
		{"pivot_root", unix.SYS_PIVOT_ROOT, [6]uintptr{}},
		{"reboot", unix.SYS_REBOOT, [6]uintptr{}},
		{"kexec_load", unix.SYS_KEXEC_LOAD, [6]uintptr{0, 0, 0, 0xffffffff}},
		{"init_module", unix.SYS_INIT_MODULE, [6]uintptr{}},
		{"swapon", unix.SYS_SWAPON, [6]uintptr{}},
		{"bpf", unix.SYS_BPF, [6]uintptr{0xffff}},
		{"perf_event_open", unix.SYS_PERF_EVENT_OPEN, [6]uintptr{}},
		{"keyctl", unix.SYS_KEYCTL, [6]uintptr{0xffff}},
		{"add_key", unix.SYS_ADD_KEY, [6]uintptr{}},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, [6]uintptr{}},
		{"userfaultfd", unix.SYS_USERFAULTFD, [6]uintptr{0xffffffff}},
		{"ptrace", unix.SYS_PTRACE, [6]uintptr{ptracePeekData, noSuchPID}},
		{"chroot", unix.SYS_CHROOT, [6]uintptr{}},
		{"mbind", unix.SYS_MBIND, [6]uintptr{}},
	}
}

// seccompChild loads DefaultSeccomp(DefaultCapabilities()) on its thread,
// as runc would in a container, runs the probes there and prints their
// errno names as JSON.
func seccompChild() int {
	goruntime.LockOSThread() // the filter binds this thread only
	profile := DefaultSeccomp(DefaultCapabilities())
	errno := uint(deniedErrno)
	profile.DefaultErrnoRet = &errno
	cfg, err := specconv.SetupSeccomp(profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "convert profile:", err)
		return 2
	}
	// no_new_privs lets an unprivileged process install a filter.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "set no_new_privs:", err)
		return 2
	}
	if _, err := seccomp.InitSeccomp(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "load filter:", err)
		return 2
	}
	results := map[string]string{}
	for _, p := range probes() {
		_, _, e := unix.RawSyscall6(p.nr, p.args[0], p.args[1], p.args[2], p.args[3], p.args[4], p.args[5])
		results[p.name] = "ok"
		if e != 0 {
			results[p.name] = unix.ErrnoName(e)
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		return 2
	}
	return 0
}

func TestSeccompProfileEnforced(t *testing.T) {
	if !seccomp.Enabled {
		t.Fatal("built with -tags seccomp but runc's seccomp support is off")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), seccompChildEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}

	denied := unix.ErrnoName(deniedErrno)
	want := map[string]string{
		"getpid":                        "ok",
		"personality query":             "ok",
		"personality READ_IMPLIES_EXEC": denied,
		"socket AF_INET":                "ok",
		"socket AF_VSOCK":               denied,
		"socket AF_ALG":                 denied,
		"clone CLONE_SIGHAND":           "EINVAL", // allowed, refused by the kernel
		"clone CLONE_NEWNS|CLONE_FS":    denied,
		"clone3":                        "ENOSYS",
		"unshare":                       denied,
		"setns":                         denied,
		"mount":                         denied,
		"umount2":                       denied,
		"pivot_root":                    denied,
		"reboot":                        denied,
		"kexec_load":                    denied,
		"init_module":                   denied,
		"swapon":                        denied,
		"bpf":                           denied,
		"perf_event_open":               denied,
		"keyctl":                        denied,
		"add_key":                       denied,
		"io_uring_setup":                denied,
		"userfaultfd":                   denied,
		"ptrace":                        "ESRCH",  // allowed, no such process
		"chroot":                        "EFAULT", // allowed with CAP_SYS_CHROOT
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %s, want %s", name, got[name], w)
		}
	}
	// mbind is allowed with CAP_SYS_NICE; without NUMA the kernel says ENOSYS.
	if got["mbind"] == denied {
		t.Errorf("mbind: %s, want it allowed", got["mbind"])
	}
}
