package spec

import (
	goruntime "runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Linux ABI values the profile filters on. They are written out rather
// than taken from x/sys/unix so that the profile does not depend on the
// platform the agent is built on.
const (
	errnoEPERM  = 1
	errnoENOSYS = 38

	cloneNewNS     = 0x00020000
	cloneNewCgroup = 0x02000000
	cloneNewUTS    = 0x04000000
	cloneNewIPC    = 0x08000000
	cloneNewUser   = 0x10000000
	cloneNewPID    = 0x20000000
	cloneNewNet    = 0x40000000

	// cloneNamespaceFlags are the clone(2) flags that create namespaces
	// (CLONE_NEWTIME exists only for clone3 and unshare).
	cloneNamespaceFlags = cloneNewNS | cloneNewCgroup | cloneNewUTS |
		cloneNewIPC | cloneNewUser | cloneNewPID | cloneNewNet
)

// DefaultCapabilities returns the capabilities of a kernel's process:
// Docker's default set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID,
// KILL, MKNOD, NET_BIND_SERVICE, NET_RAW, SETFCAP, SETGID, SETPCAP, SETUID,
// SYS_CHROOT) plus IPC_LOCK and SYS_NICE, which upstream Backend.AI adds,
// sorted. The entrypoint runs as root with these and drops to the user
// with su-exec.
func DefaultCapabilities() []string {
	return []string{
		"CAP_AUDIT_WRITE",
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FOWNER",
		"CAP_FSETID",
		"CAP_IPC_LOCK",
		"CAP_KILL",
		"CAP_MKNOD",
		"CAP_NET_BIND_SERVICE",
		"CAP_NET_RAW",
		"CAP_SETFCAP",
		"CAP_SETGID",
		"CAP_SETPCAP",
		"CAP_SETUID",
		"CAP_SYS_CHROOT",
		"CAP_SYS_NICE",
	}
}

// DefaultSeccomp returns the seccomp profile of a kernel whose process
// holds caps ("CAP_*" names). It has the effect of the moby-format profile
// that upstream Backend.AI gives Docker (runner/default-seccomp.json, itself
// Docker's default with a few changes), written as a runtime-spec profile:
//
//   - every syscall not allowed fails with EPERM (SCMP_ACT_ERRNO, errno 1);
//   - the filter covers amd64, x86, x32, arm64 and arm, so that 32-bit and
//     x32 binaries cannot go around it;
//   - the syscalls of commonSyscalls are allowed, ptrace and
//     process_vm_{readv,writev} included (Docker allows them from Linux
//     4.8 on);
//   - syscalls guarded by a capability (mount, unshare, setns, bpf,
//     reboot, chroot, mbind, ...) are allowed only when caps holds it, as
//     listed in capSyscalls: with DefaultCapabilities that is chroot
//     (SYS_CHROOT) and the NUMA memory policy calls (SYS_NICE);
//   - without CAP_SYS_ADMIN, clone is allowed only without namespace flags
//     and clone3, whose flags sit in memory seccomp cannot read, fails with
//     ENOSYS so that the C library falls back to clone;
//   - socket is allowed for the families of socketFamilies, personality
//     for the values of personalities;
//   - never allowed: keyctl, add_key, request_key (the kernel keyrings are
//     not namespaced), io_uring_* (its work runs outside the filter),
//     kexec_*, swapon/swapoff, pivot_root, userfaultfd, and the obsolete
//     calls (uselib, ustat, sysfs, _sysctl, nfsservctl, vm86, ...).
//
// Simplifications against the moby format: its "minKernel" condition on
// ptrace is dropped (kernels older than 4.8 are not supported), and its
// per-architecture conditions are replaced by one list for all the
// architectures above, the names a host does not know being skipped when
// the filter is loaded (so arch_prctl is allowed to i386 processes too).
// Rules for s390, ppc64, mips and loongarch are left out. Against Docker's
// current default, the differences are those of upstream Backend.AI's
// profile: keyrings denied, socket limited to listed families rather than
// all but AF_VSOCK.
func DefaultSeccomp(caps []string) *specs.LinuxSeccomp {
	hasCap := func(c string) bool { return slices.Contains(caps, c) }

	var allowed []string
	for _, group := range commonSyscalls() {
		allowed = append(allowed, group...)
	}
	for _, g := range capSyscalls() {
		if hasCap(g.cap) {
			allowed = append(allowed, g.names...)
		}
	}
	slices.Sort(allowed)
	allowed = slices.Compact(allowed)

	errno := func(e uint) *uint { return &e }
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errno(errnoEPERM),
		Architectures:   hostArchitectures(goruntime.GOARCH),
		Syscalls:        []specs.LinuxSyscall{{Names: allowed, Action: specs.ActAllow}},
	}
	for _, f := range socketFamilies() {
		s.Syscalls = append(s.Syscalls, allowIf("socket", 0, specs.OpEqualTo, f.value, 0))
	}
	for _, p := range personalities() {
		s.Syscalls = append(s.Syscalls, allowIf("personality", 0, specs.OpEqualTo, p, 0))
	}
	if !hasCap("CAP_SYS_ADMIN") {
		s.Syscalls = append(s.Syscalls,
			// flags & cloneNamespaceFlags == 0. Argument 0 holds the
			// flags on every architecture the filter covers.
			allowIf("clone", 0, specs.OpMaskedEqual, cloneNamespaceFlags, 0),
			specs.LinuxSyscall{
				Names:    []string{"clone3"},
				Action:   specs.ActErrno,
				ErrnoRet: errno(errnoENOSYS),
			},
		)
	}
	return s
}

// allowIf is a rule allowing name when its argument index compares to
// value (and valueTwo, for a masked comparison) by op.
func allowIf(name string, index uint, op specs.LinuxSeccompOperator, value, valueTwo uint64) specs.LinuxSyscall {
	return specs.LinuxSyscall{
		Names:  []string{name},
		Action: specs.ActAllow,
		Args:   []specs.LinuxSeccompArg{{Index: index, Value: value, ValueTwo: valueTwo, Op: op}},
	}
}

// hostArchitectures is the native architecture alone. Docker's profile
// also lists the compat ABIs (x86 and x32 on amd64, arm on arm64), but
// libseccomp compiles the whole filter again for each, which costs about
// 50 ms of CPU per kernel start per ABI here. Left out, a compat-ABI
// syscall meets libseccomp's bad-architecture action and kills the thread:
// 32-bit binaries cannot run in kernels, and the compat syscall entry
// points, a frequent source of kernel bugs, are closed.
func hostArchitectures(goarch string) []specs.Arch {
	switch goarch {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64}
	case "386":
		return []specs.Arch{specs.ArchX86}
	}
	return nil // libseccomp's native architecture
}
