package vm

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/ulikunitz/xz"

	"github.com/baiagent/agent/test/testenv"
)

// ---- The lane (host side, boots QEMU) ----

// TestVMLane builds the static test binaries of every package with TestVM
// tests, boots one VM that runs them all (-test.run ^TestVM) and fails
// unless every one of those tests passed in the guest.
func TestVMLane(t *testing.T) {
	testenv.RequireVMHost(t)
	ctx := laneContext(t)
	root, err := ModuleRoot(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pkgs, err := DiscoverVMPackages(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("no package of the module has TestVM* tests: the VM lane would test nothing")
	}
	for _, p := range pkgs {
		t.Logf("VM tests in %s: %v", p.ImportPath, p.Tests)
	}
	kernel, vminit := laneSetup(ctx, t)
	_, modules, err := Kernel(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := filepath.Glob(filepath.Join(modules, "kernel", "fs", "overlayfs", "overlay.ko*"))
	if len(overlay) != 1 {
		t.Fatalf("overlay module not found under %s: %v", modules, overlay)
	}

	// The guest gets the time left to the test, less a margin; each test
	// binary gets -test.timeout a little under that, so that a hung test
	// dies with its goroutine dump instead of being cut off with QEMU.
	budget := guestBudget(ctx)
	dir := t.TempDir()
	// Kernels started in the guest need the overlay module, the agent's
	// kernel init (found through BACKENDAI_KERNEL_INIT) and busybox where
	// the image fixtures take it from.
	img := Initramfs{Init: vminit, Modules: overlay}
	buildStart := time.Now()
	kinit := filepath.Join(dir, "backendai-kernel-init")
	if err := buildKernelInit(kinit); err != nil {
		t.Fatal(err)
	}
	img.Files = append(img.Files,
		File{Src: kinit, Dst: guestKernelInit},
		File{Src: DefaultBusybox, Dst: "/usr/bin/busybox"})
	for _, p := range pkgs {
		name := strings.ReplaceAll(p.RelDir, "/", "_") + ".test"
		bin := filepath.Join(dir, name)
		if err := BuildTestBinary(ctx, root, p.ImportPath, bin); err != nil {
			t.Fatal(err)
		}
		guestBin := path.Join(GuestTestsDir, name)
		// The test runs in a copy of its package directory, as under go
		// test, with testdata when there is one.
		pkgDir := path.Join("/src", p.RelDir)
		img.Files = append(img.Files, File{Src: bin, Dst: guestBin})
		if st, err := os.Stat(filepath.Join(p.Dir, "testdata")); err == nil && st.IsDir() {
			img.Files = append(img.Files, File{Src: filepath.Join(p.Dir, "testdata"), Dst: path.Join(pkgDir, "testdata")})
		}
		img.RunList.Commands = append(img.RunList.Commands, Command{
			Name: p.ImportPath,
			Args: []string{guestBin, "-test.run", "^TestVM", "-test.v", "-test.timeout", (budget - 30*time.Second).String()},
			Env:  []string{"BACKENDAI_KERNEL_INIT=" + guestKernelInit},
			Dir:  pkgDir,
		})
	}
	t.Logf("built %d static test binaries in %v", len(pkgs), time.Since(buildStart).Round(time.Millisecond))
	initrd := filepath.Join(dir, "initrd.gz")
	if err := img.WriteFile(initrd); err != nil {
		t.Fatal(err)
	}
	res := boot(ctx, t, kernel, initrd, budget)
	t.Logf("lane total (discovery, builds, initramfs, boot) %v", time.Since(start).Round(time.Millisecond))

	results := guestTestResults(res.Console)
	for _, p := range pkgs {
		if st, ok := commandStatus(res.Console, p.ImportPath); !ok {
			t.Errorf("%s: no %q line: the guest did not finish it", p.ImportPath, ExitMarker)
		} else if st != 0 {
			t.Errorf("%s: exited with status %d in the guest", p.ImportPath, st)
		}
		for _, name := range p.Tests {
			switch r := results[name]; r {
			case "PASS":
			case "":
				t.Errorf("%s.%s: no result in the guest output", p.ImportPath, name)
			default:
				t.Errorf("%s.%s: %s in the guest (a VM test must pass there)", p.ImportPath, name, r)
			}
		}
	}
	if res.Status != 0 {
		t.Errorf("guest status %d, want 0", res.Status)
	}
}

// guestKernelInit is where the guest finds backendai-kernel-init.
const guestKernelInit = "/opt/bai/backendai-kernel-init"

// buildKernelInit builds the static kernel init for the guest.
func buildKernelInit(out string) error { return testenv.BuildKernelInit(out) }

// TestVMLanePropagatesFailure proves that a failing guest command is
// reported as a failure: the run list is a command that exits 3, then one
// that exits 0, and the harness must return guest status 3.
func TestVMLanePropagatesFailure(t *testing.T) {
	testenv.RequireVMHost(t)
	ctx := laneContext(t)
	kernel, vminit := laneSetup(ctx, t)
	img := Initramfs{Init: vminit, RunList: RunList{Commands: []Command{
		{Name: "exit3", Args: []string{"/bin/sh", "-c", "echo failing on purpose; exit 3"}},
		{Name: "exit0", Args: []string{"/bin/sh", "-c", "echo passing; exit 0"}},
	}}}
	initrd := filepath.Join(t.TempDir(), "initrd.gz")
	if err := img.WriteFile(initrd); err != nil {
		t.Fatal(err)
	}
	res := boot(ctx, t, kernel, initrd, guestBudget(ctx))
	if res.Status != 3 {
		t.Errorf("guest status %d, want 3", res.Status)
	}
	if st, ok := commandStatus(res.Console, "exit3"); !ok || st != 3 {
		t.Errorf("exit3: status %d (marker found: %v), want 3", st, ok)
	}
	if st, ok := commandStatus(res.Console, "exit0"); !ok || st != 0 {
		t.Errorf("exit0: status %d (marker found: %v), want 0: vminit must run every command", st, ok)
	}
}

// laneContext is bounded by the test deadline, less a minute for cleanup.
func laneContext(t *testing.T) context.Context {
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-time.Minute))
		t.Cleanup(cancel)
	}
	return ctx
}

// laneSetup installs what the host lacks, fetches the kernel and builds
// vminit; it returns the vmlinux and vminit paths.
func laneSetup(ctx context.Context, t *testing.T) (kernel, vminit string) {
	t.Helper()
	if err := EnsureHostPackages(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	kernel, _, err := Kernel(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s ready in %v", kernel, time.Since(start).Round(time.Millisecond))
	vminit = filepath.Join(t.TempDir(), "vminit")
	if err := BuildVMInit(ctx, "", vminit); err != nil {
		t.Fatal(err)
	}
	return kernel, vminit
}

// guestBudget is how long the VM may run: DefaultTimeout, or less when the
// context ends sooner (less a minute for the host side), but at least two
// minutes.
func guestBudget(ctx context.Context) time.Duration {
	budget := DefaultTimeout
	if d, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(d)-time.Minute)
	}
	return max(budget, 2*time.Minute)
}

// boot runs the VM, logging the console line by line, and fails the test
// unless the guest reported a status through debug-exit.
func boot(ctx context.Context, t *testing.T, kernel, initrd string, timeout time.Duration) Result {
	t.Helper()
	lw := &lineLogger{t: t}
	res, err := Run(ctx, RunOptions{Kernel: kernel, Initrd: initrd, Console: lw, Timeout: timeout})
	lw.flush()
	t.Logf("boot-to-result %v, qemu exit status %d", res.Duration.Round(time.Millisecond), res.QEMUExitCode)
	if err != nil {
		if res.Stderr != "" {
			t.Logf("qemu stderr:\n%s", res.Stderr)
		}
		t.Fatalf("VM run failed: %v", err)
	}
	return res
}

// lineLogger sends the guest console to t.Log one line at a time.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.log(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) log(line string) {
	if strings.TrimSpace(line) != "" {
		l.t.Log("guest| " + line)
	}
}

// flush logs a last unterminated line.
func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log(string(l.buf))
	l.buf = nil
}

// guestTestResults maps top-level test names to PASS, FAIL or SKIP from
// go test -v output.
func guestTestResults(console string) map[string]string {
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^\s*--- (PASS|FAIL|SKIP): (\S+) `)
	for _, m := range re.FindAllStringSubmatch(console, -1) {
		if !strings.Contains(m[2], "/") {
			out[m[2]] = m[1]
		}
	}
	return out
}

// commandStatus returns the status on the ExitMarker line of a command.
func commandStatus(console, name string) (int, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ExitMarker+" "+name) + ` (-?\d+) `)
	m := re.FindStringSubmatch(console)
	if m == nil {
		return 0, false
	}
	st, err := strconv.Atoi(m[1])
	return st, err == nil
}

// ---- Unit tests: no gate, no root, no QEMU ----

func TestDecodeQEMUExit(t *testing.T) {
	cases := []struct {
		code   int
		status int
		ok     bool
	}{
		{1, 0, true}, {3, 1, true}, {7, 3, true}, {255, 127, true},
		{0, 0, false}, {2, 0, false}, {-1, 0, false},
	}
	for _, c := range cases {
		st, ok := DecodeQEMUExit(c.code)
		if st != c.status || ok != c.ok {
			t.Errorf("DecodeQEMUExit(%d) = %d, %v; want %d, %v", c.code, st, ok, c.status, c.ok)
		}
	}
}

func TestClampStatus(t *testing.T) {
	for in, want := range map[int]int{0: 0, 1: 1, 110: 110, 111: GuestStatusClamped, 137: GuestStatusClamped, 255: GuestStatusClamped, -1: GuestStatusClamped} {
		if got := ClampStatus(in); got != want {
			t.Errorf("ClampStatus(%d) = %d, want %d", in, got, want)
		}
	}
	if GuestStatusPanic > 127 {
		t.Errorf("GuestStatusPanic %d does not fit through QEMU's exit status", GuestStatusPanic)
	}
}

func TestPoweroffStatus(t *testing.T) {
	cases := []struct {
		console string
		status  int
		ok      bool
	}{
		{"boot\n=== VM POWEROFF 0\n", 0, true},
		{"=== VM POWEROFF 1\nmore\n=== VM POWEROFF 3\n", 3, true},
		{"x=== VM POWEROFF 3\n", 0, false},
		{"nothing here\n", 0, false},
		{"=== VM POWEROFF \n", 0, false},
	}
	for _, c := range cases {
		st, ok := PoweroffStatus(c.console)
		if st != c.status || ok != c.ok {
			t.Errorf("PoweroffStatus(%q) = %d, %v; want %d, %v", c.console, st, ok, c.status, c.ok)
		}
	}
}

func TestGuestEnvIsTestenvGate(t *testing.T) {
	if GuestEnv != testenv.EnvVMGuest {
		t.Errorf("GuestEnv %q != testenv.EnvVMGuest %q", GuestEnv, testenv.EnvVMGuest)
	}
}

func TestParseFirstDepends(t *testing.T) {
	out := "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n  Depends: other\n"
	if got, ok := parseFirstDepends(out); !ok || got != "linux-image-6.1.0-56-amd64" {
		t.Errorf("parseFirstDepends = %q, %v", got, ok)
	}
	if got, ok := parseFirstDepends("x\n |Depends: <virtual>\n  Depends: real\n"); !ok || got != "real" {
		t.Errorf("parseFirstDepends skipping a virtual package = %q, %v", got, ok)
	}
	if _, ok := parseFirstDepends("N: Unable to locate package linux-image-amd64\n"); ok {
		t.Error("parseFirstDepends found a package in apt-cache's error output")
	}
}

func TestParseRunList(t *testing.T) {
	if _, err := ParseRunList([]byte(`{"commands":[]}`)); err == nil {
		t.Error("an empty run list was accepted")
	}
	if _, err := ParseRunList([]byte(`{"commands":[{"name":"x","args":[]}]}`)); err == nil {
		t.Error("a command without args was accepted")
	}
	rl, err := ParseRunList([]byte(`{"commands":[{"name":"x","args":["/bin/sh","-c","exit 3"],"dir":"/tmp/x"}]}`))
	if err != nil || len(rl.Commands) != 1 || rl.Commands[0].Dir != "/tmp/x" {
		t.Errorf("ParseRunList = %+v, %v", rl, err)
	}
}

// xzCompress compresses data as one xz stream.
func xzCompress(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractVmlinux(t *testing.T) {
	payload := bytes.Repeat([]byte("kernel payload "), 5000)
	var img []byte
	img = append(img, bytes.Repeat([]byte{0x90}, 700)...) // setup code
	img = append(img, xzMagic...)                         // a false match:
	img = append(img, []byte("not a stream header")...)   // header check fails
	img = append(img, xzCompress(t, payload)...)          // the kernel
	img = append(img, []byte{0x12, 0x34, 0x56, 0x78}...)  // size word
	img = append(img, bytes.Repeat([]byte{0xab}, 333)...) // more trailing bytes
	var out bytes.Buffer
	if err := ExtractVmlinux(context.Background(), &out, img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), payload) {
		t.Errorf("extracted %d bytes, want the %d-byte payload", out.Len(), len(payload))
	}

	// The kernel's own format: x86 BCJ + LZMA2, which needs the xz
	// program.
	cmd := exec.Command(XZCommand, "--format=xz", "--check=crc32", "--x86", "--lzma2=preset=1", "--stdout")
	cmd.Stdin = bytes.NewReader(payload)
	bcj, err := cmd.Output()
	if err != nil {
		t.Fatalf("compress with %s --x86 (xz-utils is a VM lane requirement): %v", XZCommand, err)
	}
	out.Reset()
	img = append(append(append([]byte("setup"), bcj...), 0x12, 0x34, 0x56, 0x78), bytes.Repeat([]byte{0xcd}, 99)...)
	if err := ExtractVmlinux(context.Background(), &out, img); err != nil {
		t.Fatalf("x86 BCJ stream: %v", err)
	}
	if !bytes.Equal(out.Bytes(), payload) {
		t.Errorf("x86 BCJ stream: extracted %d bytes, want the %d-byte payload", out.Len(), len(payload))
	}

	if err := ExtractVmlinux(context.Background(), io.Discard, bytes.Repeat([]byte{1}, 4096)); err == nil {
		t.Error("an image without xz stream was accepted")
	}
	stream := xzCompress(t, payload)
	if err := ExtractVmlinux(context.Background(), io.Discard, stream[:len(stream)/2]); err == nil {
		t.Error("a truncated xz stream was accepted")
	}
}

// tinyELF returns a minimal x86-64 ET_EXEC ELF file with a section header
// table (a null section and .shstrtab).
func tinyELF() []byte {
	const ehdrSize, shdrSize = 64, 64
	strtab := []byte("\x00.shstrtab\x00")
	strOff := uint64(ehdrSize + 2*shdrSize)
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	b.Write(make([]byte, 8))
	le := binary.LittleEndian
	for _, v := range []any{
		uint16(2), uint16(62), uint32(1), // ET_EXEC, EM_X86_64, EV_CURRENT
		uint64(0x1000000), uint64(0), uint64(ehdrSize), // entry, phoff, shoff
		uint32(0), uint16(ehdrSize), uint16(56), uint16(0), // flags, ehsize, phentsize, phnum
		uint16(shdrSize), uint16(2), uint16(1), // shentsize, shnum, shstrndx
	} {
		_ = binary.Write(&b, le, v)
	}
	b.Write(make([]byte, shdrSize)) // null section
	for _, v := range []any{
		uint32(1), uint32(3), uint64(0), uint64(0), // name, SHT_STRTAB, flags, addr
		strOff, uint64(len(strtab)), uint32(0), uint32(0), uint64(1), uint64(0),
	} {
		_ = binary.Write(&b, le, v)
	}
	b.Write(strtab)
	return b.Bytes()
}

func TestExtractVmlinuxFile(t *testing.T) {
	dir := t.TempDir()
	elfImage := append(append([]byte("setup"), xzCompress(t, tinyELF())...), 1, 2, 3, 4)
	src, dst := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(src, elfImage, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ExtractVmlinuxFile(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, tinyELF()) {
		t.Errorf("vmlinux differs from the compressed ELF")
	}

	notELF := append([]byte("setup"), xzCompress(t, []byte("plain text, not ELF"))...)
	dst2 := filepath.Join(dir, "vmlinux2")
	if err := os.WriteFile(src, notELF, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ExtractVmlinuxFile(context.Background(), src, dst2); err == nil {
		t.Error("a payload that is not ELF was accepted")
	}
	if _, err := os.Stat(dst2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed extraction left %s behind (stat: %v)", dst2, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".vmlinux2.tmp-*")); len(left) != 0 {
		t.Errorf("a failed extraction left temp files: %v", left)
	}
}

// cpioEntry is an entry read back from an initramfs.
type cpioEntry struct {
	mode cpio.FileMode
	link string
	data []byte
}

// readInitramfs reads a gzip'd cpio archive into a map by name, in order.
func readInitramfs(t *testing.T, data []byte) (map[string]cpioEntry, []string) {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(gz)
	entries := map[string]cpioEntry{}
	var order []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := entries[h.Name]; dup {
			t.Errorf("entry %s appears twice", h.Name)
		}
		entries[h.Name] = cpioEntry{mode: h.Mode, link: h.Linkname, data: body}
		order = append(order, h.Name)
	}
	return entries, order
}

func TestInitramfsWriteTo(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	initBin := write("vminit", "INIT", 0o700)
	busybox := write("busybox", "BUSYBOX", 0o755)
	testBin := write("pkg.test", "TESTBIN", 0o755)
	module := write("overlay.ko", "MODULE", 0o644)
	write("testdata/a/b.txt", "B", 0o644)
	if err := os.Symlink("a/b.txt", filepath.Join(dir, "testdata", "link")); err != nil {
		t.Fatal(err)
	}
	rl := RunList{Commands: []Command{{Name: "pkg", Args: []string{"/tests/pkg.test", "-test.v"}, Dir: "/src/pkg"}}}
	img := Initramfs{
		Init:    initBin,
		Busybox: busybox,
		Files: []File{
			{Src: testBin, Dst: "/tests/pkg.test"},
			{Src: filepath.Join(dir, "testdata"), Dst: "/src/pkg/testdata"},
		},
		Modules: []string{module},
		RunList: rl,
	}
	var buf bytes.Buffer
	n, err := img.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	entries, order := readInitramfs(t, buf.Bytes())

	file := func(name, content string, perm cpio.FileMode) {
		t.Helper()
		e, ok := entries[name]
		if !ok {
			t.Errorf("%s missing", name)
			return
		}
		if e.mode&cpio.ModeType != cpio.TypeReg || e.mode.Perm() != perm || string(e.data) != content {
			t.Errorf("%s: mode %o content %q, want regular %o %q", name, e.mode, e.data, perm, content)
		}
	}
	file("init", "INIT", 0o755)
	file("bin/busybox", "BUSYBOX", 0o755)
	file("tests/pkg.test", "TESTBIN", 0o755)
	file("lib/modules/overlay.ko", "MODULE", 0o644)
	file("modules.order", "/lib/modules/overlay.ko\n", 0o644)
	file("src/pkg/testdata/a/b.txt", "B", 0o644)
	for _, applet := range BusyboxApplets() {
		if e := entries["bin/"+applet]; e.mode&cpio.ModeType != cpio.TypeSymlink || e.link != "busybox" {
			t.Errorf("bin/%s: mode %o link %q, want a symlink to busybox", applet, e.mode, e.link)
		}
	}
	if e := entries["src/pkg/testdata/link"]; e.mode&cpio.ModeType != cpio.TypeSymlink || e.link != "a/b.txt" {
		t.Errorf("testdata symlink: mode %o link %q", e.mode, e.link)
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "src", "src/pkg", "src/pkg/testdata/a"} {
		if e, ok := entries[d]; !ok || e.mode&cpio.ModeType != cpio.TypeDir {
			t.Errorf("directory %s missing", d)
		}
	}
	got, err := ParseRunList(entries[strings.TrimPrefix(GuestRunListPath, "/")].data)
	if err != nil || !reflect.DeepEqual(got, rl) {
		t.Errorf("run list read back as %+v, %v; want %+v", got, err, rl)
	}
	seen := map[string]bool{}
	for _, name := range order {
		if d := path.Dir(name); d != "." && !seen[d] {
			t.Errorf("%s comes before its directory %s", name, d)
		}
		seen[name] = true
	}

	dup := img
	dup.Files = append(dup.Files, File{Src: testBin, Dst: "/init"})
	if _, err := dup.WriteTo(io.Discard); err == nil {
		t.Error("a second /init was accepted")
	}
	empty := img
	empty.RunList = RunList{}
	if _, err := empty.WriteTo(io.Discard); err == nil {
		t.Error("an empty run list was accepted")
	}
}

func TestDiscoverVMPackages(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The temp module is not this one: no -modfile or workspace of ours.
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Setenv("GOWORK", "off")
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	write("a/a.go", "package a\n")
	write("a/a_test.go", "package a\nimport \"testing\"\nfunc TestVMFoo(t *testing.T) {}\nfunc TestOther(t *testing.T) {}\ntype x struct{}\nfunc (x) TestVMMethod(t *testing.T) {}\n")
	write("b/b.go", "package b\n")
	write("b/b_test.go", "package b\nimport \"testing\"\nfunc TestVMLaneHost(t *testing.T) {}\nfunc TestPrivilegedX(t *testing.T) {}\n")
	write("c/c.go", "package c\n")
	write("c/c_ext_test.go", "package c_test\nimport \"testing\"\nfunc TestVMBar(t *testing.T) {}\nfunc TestVMBaz(t *testing.T) {}\n")
	write("d/d.go", "package d\n")
	write("e/e.go", "package e\nfunc TestVMNotATestFile() {}\n")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pkgs, err := DiscoverVMPackages(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	resolved, _ := filepath.EvalSymlinks(root)
	want := []Package{
		{ImportPath: "example.com/m/a", RelDir: "a", Tests: []string{"TestVMFoo"}},
		{ImportPath: "example.com/m/c", RelDir: "c", Tests: []string{"TestVMBar", "TestVMBaz"}},
	}
	if len(pkgs) != len(want) {
		t.Fatalf("DiscoverVMPackages = %+v, want %+v", pkgs, want)
	}
	for i := range want {
		got := pkgs[i]
		if d := got.Dir; d != filepath.Join(root, want[i].RelDir) && d != filepath.Join(resolved, want[i].RelDir) {
			t.Errorf("package %d: Dir %s", i, d)
		}
		got.Dir = ""
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("package %d = %+v, want %+v", i, got, want[i])
		}
	}
}

func TestStaticTags(t *testing.T) {
	for goflags, want := range map[string]string{
		"":                                StaticTags,
		"-tags=seccomp":                   StaticTags + ",seccomp",
		"-mod=mod --tags=seccomp,foo -x":  StaticTags + ",seccomp,foo",
		"-modfile=/x/go.mod -buildvcs=no": StaticTags,
	} {
		if got := staticTags(goflags); got != want {
			t.Errorf("staticTags(%q) = %q, want %q", goflags, got, want)
		}
	}
}

func TestIsVMTestName(t *testing.T) {
	for name, want := range map[string]bool{
		"TestVM": true, "TestVMCgroupV2Limits": true, "TestVMLane": false, "TestVMLaneX": false,
		"TestPrivilegedVM": false, "BenchmarkVMx": false,
	} {
		if got := IsVMTestName(name); got != want {
			t.Errorf("IsVMTestName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestKernelCacheHousekeeping(t *testing.T) {
	cache := t.TempDir()
	entry := func(name string, complete bool, age time.Duration) string {
		p := filepath.Join(cache, name)
		if err := os.MkdirAll(filepath.Join(p, modulesName, "6.1.0-test"), 0o755); err != nil {
			t.Fatal(err)
		}
		if complete {
			if err := os.WriteFile(filepath.Join(p, vmlinuxName), []byte("elf"), 0o644); err != nil {
				t.Fatal(err)
			}
			mt := time.Now().Add(-age)
			if err := os.Chtimes(filepath.Join(p, vmlinuxName), mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		mt := time.Now().Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
		return p
	}
	older := entry("linux-image-6.1.0-1-amd64", true, 48*time.Hour)
	newer := entry("linux-image-6.1.0-2-amd64", true, time.Hour)
	half := entry("linux-image-6.1.0-3-amd64", false, 0)
	staleTmp := entry(tmpPrefix+"linux-image-x-1", false, 2*time.Hour)
	freshTmp := entry(tmpPrefix+"linux-image-x-2", false, 0)

	if got, ok := newestEntry(cache); !ok || got != newer {
		t.Errorf("newestEntry = %q, %v; want %q", got, ok, newer)
	}
	vmlinux, mods, err := entryPaths(newer)
	if err != nil || vmlinux != filepath.Join(newer, vmlinuxName) || mods != filepath.Join(newer, modulesName, "6.1.0-test") {
		t.Errorf("entryPaths = %q, %q, %v", vmlinux, mods, err)
	}
	if _, _, err := entryPaths(half); err == nil {
		t.Error("entryPaths accepted an entry without vmlinux")
	}
	removeStaleAttempts(cache, time.Hour)
	pruneOtherEntries(cache, filepath.Base(newer))
	for p, want := range map[string]bool{older: false, newer: true, half: true, staleTmp: false, freshTmp: true} {
		_, err := os.Stat(p)
		if exists := err == nil; exists != want {
			t.Errorf("%s exists = %v, want %v", filepath.Base(p), exists, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(cache, tmpPrefix+"old-*")); len(left) != 0 {
		t.Errorf("pruning left %v", left)
	}
}
