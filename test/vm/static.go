package vm

import (
	"context"
	"debug/elf"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
)

// IsStatic reports whether the ELF file at path is statically linked (has
// no program interpreter), as every guest binary must be.
func IsStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, fmt.Errorf("read elf: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

// checkStatic fails unless path is a static ELF binary.
func checkStatic(path string) error {
	ok, err := IsStatic(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if !ok {
		return fmt.Errorf("%s is dynamically linked; the guest has no libc", path)
	}
	return nil
}

// EnsureHostPackages installs, with apt-get, the Debian packages of the VM
// lane that the host lacks: qemu-system-x86 when QEMU is not on PATH, and
// busybox-static when DefaultBusybox is missing or not static (Debian's
// dynamic busybox package conflicts with it and is replaced), and xz-utils
// when xz is missing (see ExtractVmlinux). The kernel is fetched
// separately, by Kernel. Installing needs root.
func EnsureHostPackages(ctx context.Context) error {
	var missing []string
	if _, err := exec.LookPath(QEMU); err != nil {
		missing = append(missing, "qemu-system-x86")
	}
	if ok, err := IsStatic(DefaultBusybox); err != nil || !ok {
		missing = append(missing, "busybox-static")
	}
	if _, err := exec.LookPath(XZCommand); err != nil {
		missing = append(missing, "xz-utils")
	}
	if len(missing) == 0 {
		return nil
	}
	slog.Info("vm: installing host packages", "packages", missing)
	install := append([]string{"install", "-y", "-q", "--no-install-recommends"}, missing...)
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd := exec.CommandContext(ctx, "apt-get", install...)
	cmd.Env = env
	if _, err := cmd.CombinedOutput(); err != nil {
		// The package lists may be missing or stale: update once, retry.
		if out, err := exec.CommandContext(ctx, "apt-get", "update", "-q").CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get update: %w: %s", err, tail(out, 2000))
		}
		cmd = exec.CommandContext(ctx, "apt-get", install...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("install %v: %w: %s", missing, err, tail(out, 2000))
		}
	}
	if ok, err := IsStatic(DefaultBusybox); err != nil || !ok {
		return fmt.Errorf("%s is still missing or not static after installing busybox-static", DefaultBusybox)
	}
	return nil
}
