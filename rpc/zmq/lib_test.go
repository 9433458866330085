package zmq

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestOpenMissingLibrary(t *testing.T) {
	_, err := open("libdoesnotexist.so.9")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("open(missing) = %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"libdoesnotexist.so.9", "not found: install libzmq5", "cannot open shared object file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestOpenNotLibzmq(t *testing.T) {
	_, err := open("libc.so.6")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "zmq_ctx_new") {
		t.Fatalf("open(libc) = %v, want ErrUnavailable naming the missing zmq_ctx_new", err)
	}
}

// TestNoDTNeeded is the point of the package: a binary that imports it
// (this test binary) does not make ld.so load libzmq at start.
func TestNoDTNeeded(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) == 0 {
		t.Fatal("no DT_NEEDED at all: not a cgo binary, nothing proven")
	}
	t.Logf("DT_NEEDED: %v", libs)
	for _, l := range libs {
		if strings.Contains(l, "zmq") {
			t.Errorf("DT_NEEDED has %s", l)
		}
	}
	syms, err := f.ImportedSymbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "zmq_") {
			t.Errorf("binary imports %s (version %q from %q)", s.Name, s.Version, s.Library)
		}
	}
}

// envLazyChild marks the child process of TestLoadedOnFirstUse.
const envLazyChild = "ZMQ_TEST_LAZY_CHILD"

// TestLoadedOnFirstUse runs a fresh copy of the test binary, in which
// libzmq must not be mapped until NewContext.
func TestLoadedOnFirstUse(t *testing.T) {
	if os.Getenv(envLazyChild) == "1" {
		lazyChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadedOnFirstUse$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envLazyChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func lazyChild(t *testing.T) {
	mapped := func() bool {
		maps, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(maps), "libzmq")
	}
	if mapped() {
		t.Fatal("libzmq mapped before any use")
	}
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Term()
	if !mapped() {
		t.Fatal("libzmq not mapped after NewContext")
	}
}
