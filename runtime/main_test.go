package runtime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"

	_ "github.com/opencontainers/cgroups/devices" // device rules for the cgroup managers
	"github.com/opencontainers/runc/libcontainer"
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/runtime/image"
	"github.com/baiagent/agent/runtime/reexec"
	"github.com/baiagent/agent/runtime/scratch"
	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/testenv"
)

// The libcontainer re-exec dispatch for this test binary: containers
// started by the tests run "<test binary> init".
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
	// Keep the main thread for the main goroutine, as the agent does (see
	// cmd/backendai-agent/init_linux.go).
	goruntime.LockOSThread()
}

func TestMain(m *testing.M) {
	if os.Getenv(envAgentChild) != "" {
		os.Exit(agentChild())
	}
	code := m.Run()
	cleanupInitBinary()
	os.Exit(code)
}

var (
	initOnce sync.Once
	initPath string
	initErr  error
	initDir  string
)

// kernelInit builds backendai-kernel-init once per test binary.
func kernelInit(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BACKENDAI_KERNEL_INIT"); p != "" {
		return p // prebuilt, e.g. in the VM lane's guest
	}
	initOnce.Do(func() {
		initDir, initErr = os.MkdirTemp("", "bai-init-")
		if initErr != nil {
			return
		}
		initPath = filepath.Join(initDir, "backendai-kernel-init")
		initErr = testenv.BuildKernelInit(initPath)
	})
	if initErr != nil {
		t.Fatal(initErr)
	}
	return initPath
}

var (
	cinitOnce sync.Once
	cinit     *os.File
	cinitErr  error
)

// containerInit builds and seals backendai-container-init once per test
// binary, so that kernels start as the agent starts them (this binary
// imports reexec's trampoline). The VM lane's guest has no toolchain: it
// starts kernels through the test binary itself (nil).
func containerInit(t testing.TB) *os.File {
	t.Helper()
	if os.Getenv("BACKENDAI_KERNEL_INIT") != "" {
		return nil
	}
	cinitOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bai-cinit-")
		if err != nil {
			cinitErr = err
			return
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "backendai-container-init")
		cmd := exec.Command("go", "build", "-tags", "seccomp", "-ldflags", "-s -w", "-o", path, "github.com/baiagent/agent/cmd/backendai-container-init")
		if out, err := cmd.CombinedOutput(); err != nil {
			cinitErr = fmt.Errorf("build container init: %v\n%s", err, out)
			return
		}
		cinit, cinitErr = reexec.Seal(path)
	})
	if cinitErr != nil {
		t.Fatal(cinitErr)
	}
	return cinit
}

func cleanupInitBinary() {
	if initDir != "" {
		_ = os.RemoveAll(initDir)
	}
}

// env is a runtime on temporary directories with the busybox image.
type env struct {
	dir    string
	images *image.Store
	alloc  *alloc.Allocator
	opts   Options
	image  string // busybox config digest
}

func newEnv(t testing.TB) *env {
	t.Helper()
	if err := os.MkdirAll("/var/tmp", 0o1777); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "rt-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	e := &env{dir: dir}
	e.images, err = image.Open(context.Background(), image.Options{Root: filepath.Join(dir, "images")})
	if err != nil {
		t.Fatal(err)
	}
	img, err := fixtures.Busybox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := fixtures.WriteLayout(img, filepath.Join(dir, "layout"), "bai/busybox:1.0"); err != nil {
		t.Fatal(err)
	}
	imgs, err := e.images.Import(context.Background(), filepath.Join(dir, "layout"), image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.image = imgs[0].ID
	e.alloc, err = testAllocator()
	if err != nil {
		t.Fatal(err)
	}
	e.opts = Options{
		StateDir:      filepath.Join("/run", "backendai-test", filepath.Base(dir)),
		LogDir:        filepath.Join(dir, "logs"),
		CgroupRoot:    "/backendai-test/" + filepath.Base(dir),
		InitBinary:    kernelInit(t),
		ContainerInit: containerInit(t),
		Images:        e.images,
		Alloc:         e.alloc,
		Scratch:       scratch.Options{Root: filepath.Join(dir, "scratches"), Type: scratch.HostDir, UID: -1, GID: -1},
	}
	t.Cleanup(func() {
		_ = os.RemoveAll(e.opts.StateDir)
		removeCgroupTree(e.opts.CgroupRoot)
	})
	return e
}

func (e *env) manager(t testing.TB) *Manager {
	t.Helper()
	m, err := New(context.Background(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// removeCgroupTree removes the (empty) cgroup directories of a test root
// in every hierarchy, deepest first.
func removeCgroupTree(root string) {
	var dirs []string
	for _, base := range cgroupBases() {
		_ = filepath.WalkDir(filepath.Join(base, root), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i])
	}
	for _, base := range cgroupBases() {
		_ = os.Remove(filepath.Join(base, "backendai-test"))
	}
}

// cgroupBases lists the mounted hierarchies (v2 root, or each v1 one).
func cgroupBases() []string {
	out := []string{"/sys/fs/cgroup"}
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		if e.IsDir() && !strings.Contains(e.Name(), ".") {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return out
}

// leaks lists what a kernel left behind after destroy or a failed create.
func (e *env) leaks(t testing.TB, m *Manager, id string) []string {
	t.Helper()
	var out []string
	for _, base := range cgroupBases() {
		if _, err := os.Stat(filepath.Join(base, e.opts.CgroupRoot, id)); err == nil {
			out = append(out, "cgroup "+filepath.Join(base, e.opts.CgroupRoot, id))
		}
	}
	mi, _ := os.ReadFile("/proc/thread-self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, filepath.Join(e.opts.Scratch.Root, id)+"/") || strings.Contains(line, filepath.Join(e.opts.Scratch.Root, id)+" ") {
			out = append(out, "mount: "+line)
		}
	}
	for _, p := range []string{
		filepath.Join(e.opts.Scratch.Root, id), filepath.Join(e.opts.StateDir, "kernels", id+".json"),
		filepath.Join(e.opts.StateDir, "libcontainer", id), m.kdataDir(id), m.logPath(id),
		filepath.Join(e.dir, "images", "leases", id+".json"),
	} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	if u := e.alloc.Usage(); u["cpu"] != "0" || u["mem"] != "0" {
		out = append(out, fmt.Sprintf("allocation %v", u))
	}
	return out
}

// testAllocator has room for many small kernels on a 2-core machine.
func testAllocator() (*alloc.Allocator, error) {
	cores, err := alloc.HostCores()
	if err != nil {
		return nil, err
	}
	return alloc.New(alloc.Options{Cores: cores, MemoryBytes: 64 << 30, MemAlign: 1 << 20, CPUOvercommit: 256})
}

func openStoreAt(root string) (*image.Store, error) {
	return image.Open(context.Background(), image.Options{Root: root})
}
