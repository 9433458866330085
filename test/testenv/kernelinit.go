package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// KernelInitSource is backendai-kernel-init's C source in this checkout.
func KernelInitSource() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "cmd", "backendai-kernel-init", "init.c")
}

// BuildKernelInit compiles backendai-kernel-init to out, static, as the
// Makefile does ($CC, else cc).
func BuildKernelInit(out string) error {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	cmd := exec.Command(cc, "-O2", "-static", "-s", "-Wall", "-o", out, KernelInitSource())
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build backendai-kernel-init: %s: %w\n%s", cc, err, b)
	}
	return nil
}
