package testenv

import (
	"os"
	"testing"
)

func TestRequirePrivilegedSkipsWhenNotAsked(t *testing.T) {
	t.Setenv(EnvPrivileged, "")
	r := &recorder{TB: t, name: "TestPrivilegedProbe"}
	func() {
		defer func() { _ = recover() }()
		RequirePrivileged(r)
	}()
	if !r.skipped || r.failed {
		t.Fatalf("unrequested privileged tier: skipped=%v failed=%v, want skipped", r.skipped, r.failed)
	}
}

func TestRequireNameRejectsMisnamedTest(t *testing.T) {
	r := &recorder{TB: t, name: "TestSomethingElse"}
	func() {
		defer func() { _ = recover() }()
		requireName(r, "Privileged")
	}()
	if !r.failed {
		t.Fatal("requireName accepted a test without the tier prefix")
	}
	r = &recorder{TB: t, name: "TestPrivilegedCgroup/sub"}
	requireName(r, "Privileged")
	if r.failed {
		t.Fatal("requireName rejected a correctly named test")
	}
}

func TestRequireGPUFailsWhenAskedAndAbsent(t *testing.T) {
	t.Setenv(EnvGPU, "1")
	r := &recorder{TB: t, name: "TestGPUProbe"}
	func() {
		defer func() { _ = recover() }()
		RequireGPU(r, func() (bool, string) { return false, "no NVML" })
	}()
	if !r.failed || r.skipped {
		t.Fatalf("asked-for GPU tier without a GPU: failed=%v skipped=%v, want failed", r.failed, r.skipped)
	}
}

func TestRequirePrivilegedFailsWhenAskedAsNonRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Log("running as root: the non-root case cannot be shown here")
		return
	}
	t.Setenv(EnvPrivileged, "1")
	r := &recorder{TB: t, name: "TestPrivilegedProbe"}
	func() {
		defer func() { _ = recover() }()
		RequirePrivileged(r)
	}()
	if !r.failed {
		t.Fatal("privileged gate did not fail for a non-root run that asked for it")
	}
}

// recorder stands in for a test so that a gate's verdict can be observed.
// Fatal and Skip end with a panic, as the real ones end the goroutine.
type recorder struct {
	testing.TB
	name            string
	failed, skipped bool
}

func (r *recorder) Name() string { return r.name }
func (r *recorder) Helper()      {}
func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	panic("fatal")
}
func (r *recorder) Skipf(string, ...any) {
	r.skipped = true
	panic("skip")
}
