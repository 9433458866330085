package vm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// VMInitPackage is the import path of the guest's PID 1.
const VMInitPackage = "github.com/baiagent/agent/test/vm/vminit"

// StaticTags are the build tags of the guest's test binaries: pure-Go user
// and DNS lookups, so that a static glibc link does not need NSS.
const StaticTags = "osusergo,netgo"

// StaticLDFlags link a cgo binary fully static with the external linker.
const StaticLDFlags = "-linkmode external -extldflags -static"

// staticTags returns StaticTags plus the tags of a -tags flag in goflags
// (the GOFLAGS value): a -tags on the command line replaces the one in
// GOFLAGS, so that one (the Makefile's seccomp, say) is carried over.
func staticTags(goflags string) string {
	tags := []string{StaticTags}
	for _, f := range strings.Fields(goflags) {
		if v, ok := strings.CutPrefix(strings.TrimLeft(f, "-"), "tags="); ok && v != "" {
			tags = append(tags, v)
		}
	}
	return strings.Join(tags, ",")
}

// goCommand returns an exec.Cmd for the go command run in dir with extra
// environment entries.
func goCommand(ctx context.Context, dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// BuildTestBinary compiles the tests of the Go package pkg into a static
// test binary at out, running the go command in dir ("" = the current
// directory, which must be inside the module).
//
// It builds with cgo on (CGO_ENABLED=1, StaticLDFlags, and StaticTags plus
// any -tags of GOFLAGS), because later packages use libcontainer, whose
// nsenter needs cgo; gcc and glibc's static libraries (libc6-dev) must be
// installed. This works for pure-Go packages too. If the static cgo link fails, it falls back to
// CGO_ENABLED=0, which builds every package that does not need cgo; the
// error then names both attempts.
func BuildTestBinary(ctx context.Context, dir, pkg, out string) error {
	tags := staticTags(os.Getenv("GOFLAGS"))
	cgoArgs := []string{"test", "-c", "-o", out, "-tags", tags, "-ldflags", StaticLDFlags, pkg}
	cgoOut, cgoErr := goCommand(ctx, dir, []string{"CGO_ENABLED=1"}, cgoArgs...).CombinedOutput()
	if cgoErr == nil {
		return checkStatic(out)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("build static test binary of %s: %w", pkg, ctx.Err())
	}
	pureArgs := []string{"test", "-c", "-o", out, "-tags", tags, pkg}
	pureOut, pureErr := goCommand(ctx, dir, []string{"CGO_ENABLED=0"}, pureArgs...).CombinedOutput()
	if pureErr != nil {
		return fmt.Errorf("build static test binary of %s: with cgo: %w: %s; without cgo: %w: %s",
			pkg, cgoErr, tail(cgoOut, 1500), pureErr, tail(pureOut, 1500))
	}
	slog.Warn("vm: static cgo build failed; built without cgo", "package", pkg, "err", cgoErr, "output", tail(cgoOut, 1500))
	return checkStatic(out)
}

// BuildVMInit builds vminit (pure Go, CGO_ENABLED=0, so static) to out,
// running the go command in dir ("" = the current directory).
func BuildVMInit(ctx context.Context, dir, out string) error {
	cmd := goCommand(ctx, dir, []string{"CGO_ENABLED=0"}, "build", "-o", out, VMInitPackage)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build vminit: %w: %s", err, tail(b, 2000))
	}
	return checkStatic(out)
}

// ModuleRoot returns the root directory of the Go module that contains dir
// ("" = the current directory).
func ModuleRoot(ctx context.Context, dir string) (string, error) {
	b, err := goCommand(ctx, dir, nil, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}
