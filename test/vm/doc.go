// Package vm is the harness of the cgroup v2 VM lane.
//
// The build host has a cgroup v1 hybrid layout, so the agent's cgroup v2
// code paths are tested inside a small QEMU guest: a Debian kernel booted
// with TCG on the microvm machine (PVH entry into an uncompressed vmlinux),
// an initramfs built here in Go, and a static PID 1 (package vminit) that
// mounts a pure cgroup2 hierarchy and runs a list of commands, usually the
// static test binaries of the packages that have TestVM* tests.
//
// The pieces, in the order a lane run uses them:
//
//   - [DiscoverVMPackages] lists the module's packages with TestVM tests.
//   - [BuildVMInit] and [BuildTestBinary] build the static guest binaries.
//   - [Kernel] fetches, caches and unpacks the Debian kernel and modules.
//   - [Initramfs] writes the gzip'd newc cpio archive with /init, busybox,
//     the binaries, optional modules and the run list.
//   - [Run] boots QEMU and returns the guest's exit status and console.
//
// The host needs qemu-system-x86, busybox-static, xz-utils (the Debian
// kernel's xz stream uses the x86 BCJ filter, which the Go xz package
// lacks), gcc and libc6-dev (static cgo test binaries), and apt-get and
// dpkg for the first [Kernel] call; [EnsureHostPackages] installs the
// first three when they are missing. KVM is not used: on the development
// machines /dev/kvm is a nested PVM that cannot run an unmodified kernel,
// so the guest runs under TCG (a boot takes about 2.5 s).
//
// # Guest exit status
//
// vminit runs every command of the run list, then writes its status to the
// isa-debug-exit port (0xf4), which makes QEMU exit with status code<<1|1.
// Status 0 means every command exited 0; otherwise it is the first non-zero
// command status. Statuses above 127 cannot pass through QEMU's exit code,
// so a command status above [GuestStatusMaxCommand] (this includes death by
// a signal, 128+n) is reported as [GuestStatusClamped]; the console always
// has the exact value. vminit's own failures use the codes from
// [GuestStatusSetup] up. Before exiting, vminit prints the
// [PoweroffMarker] line with the status; [Run] requires it, so that QEMU's
// own exit status 1 (an error) is not taken for a guest status 0.
package vm
