package gpu

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ldCacheFormat selects the layout writeLDCache produces.
type ldCacheFormat int

const (
	ldCacheNew    ldCacheFormat = iota // glibc >= 2.32's default
	ldCacheCompat                      // old header and entries, new format hidden in the string table
	ldCacheOld                         // libc5-era format only
)

// Entry flags for generated caches.
const (
	flagsX8664 = 0x0303 // libc6, x86-64
	flagsI386  = 0x0003 // libc6, no ABI requirement: 32-bit
	flagsX32   = 0x0803 // libc6, x32
)

// encodeLDCache writes entries as glibc's ldconfig would, in the given
// format. It mirrors elf/cache.c's layout, independently of the parser.
func encodeLDCache(entries []LDCacheEntry, format ldCacheFormat) []byte {
	le := binary.LittleEndian
	// The string table: every key and value, NUL-terminated.
	var strs bytes.Buffer
	type offs struct{ key, val uint32 }
	so := make([]offs, len(entries))
	for i, e := range entries {
		so[i].key = uint32(strs.Len())
		strs.WriteString(e.Key + "\x00")
		so[i].val = uint32(strs.Len())
		strs.WriteString(e.Path + "\x00")
	}
	n := len(entries)
	newBlock := func() []byte {
		var b bytes.Buffer
		b.WriteString("glibc-ld.so.cache1.1")
		var w [4]byte
		le.PutUint32(w[:], uint32(n))
		b.Write(w[:])
		le.PutUint32(w[:], uint32(strs.Len()))
		b.Write(w[:])
		b.Write([]byte{2, 0, 0, 0}) // little endian, padding
		b.Write(make([]byte, 4+12)) // extension offset, unused
		strBase := uint32(48 + n*24)
		for i, e := range entries {
			var ent [24]byte
			le.PutUint32(ent[0:], uint32(e.Flags))
			le.PutUint32(ent[4:], strBase+so[i].key)
			le.PutUint32(ent[8:], strBase+so[i].val)
			b.Write(ent[:])
		}
		b.Write(strs.Bytes())
		return b.Bytes()
	}
	oldHeader := func() []byte {
		h := make([]byte, 16)
		copy(h, "ld.so-1.7.0")
		le.PutUint32(h[12:], uint32(n))
		return h
	}
	oldEntries := func(strBase uint32) []byte {
		b := make([]byte, 12*n)
		for i, e := range entries {
			le.PutUint32(b[12*i:], uint32(e.Flags))
			le.PutUint32(b[12*i+4:], strBase+so[i].key)
			le.PutUint32(b[12*i+8:], strBase+so[i].val)
		}
		return b
	}
	switch format {
	case ldCacheCompat:
		oldEnd := 16 + 12*n
		newAt := (oldEnd + 7) &^ 7
		// Old offsets count from the end of the old entries; the strings
		// sit in the new block, after its header and entries.
		strBase := uint32(newAt - oldEnd + 48 + n*24)
		out := append(oldHeader(), oldEntries(strBase)...)
		out = append(out, make([]byte, newAt-oldEnd)...)
		return append(out, newBlock()...)
	case ldCacheOld:
		out := append(oldHeader(), oldEntries(0)...)
		return append(out, strs.Bytes()...)
	default:
		return newBlock()
	}
}

func TestParseLDCache(t *testing.T) {
	entries := []LDCacheEntry{
		{Key: "libcuda.so.1", Path: "/usr/lib/x86_64-linux-gnu/libcuda.so.1", Flags: flagsX8664},
		{Key: "libcuda.so.1", Path: "/usr/lib/i386-linux-gnu/libcuda.so.1", Flags: flagsI386},
		{Key: "libcuda.so", Path: "/usr/lib/x86_64-linux-gnu/libcuda.so", Flags: flagsX8664},
		{Key: "libc.so.6", Path: "/libx32/libc.so.6", Flags: flagsX32},
	}
	for _, tc := range []struct {
		name   string
		format ldCacheFormat
	}{
		{"new", ldCacheNew},
		{"compat", ldCacheCompat},
		{"old", ldCacheOld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An odd count exercises the compat format's alignment padding.
			for _, n := range []int{len(entries), len(entries) - 1} {
				got, err := ParseLDCache(encodeLDCache(entries[:n], tc.format))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(entries[:n], got); diff != "" {
					t.Errorf("%d entries (-want +got):\n%s", n, diff)
				}
			}
		})
	}

	x86 := []bool{true, false, true, false}
	for i, e := range entries {
		if e.X8664() != x86[i] {
			t.Errorf("%s at %s: X8664() = %v", e.Key, e.Path, e.X8664())
		}
	}
}

func TestParseLDCacheErrors(t *testing.T) {
	good := encodeLDCache([]LDCacheEntry{{Key: "libcuda.so.1", Path: "/lib/libcuda.so.1", Flags: flagsX8664}}, ldCacheNew)
	bigEndian := bytes.Clone(good)
	bigEndian[28] = 3
	badOffset := bytes.Clone(good)
	binary.LittleEndian.PutUint32(badOffset[48+4:], 1<<20)
	tooMany := bytes.Clone(good)
	binary.LittleEndian.PutUint32(tooMany[20:], 1000)
	unterminated := good[:len(good)-1]

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "unknown format"},
		{"garbage", []byte("not a cache at all, really"), "unknown format"},
		{"truncated header", good[:30], "truncated header"},
		{"big endian", bigEndian, "little-endian"},
		{"offset out of range", badOffset, "out of range"},
		{"entries overrun", tooMany, "overrun"},
		{"string not terminated", unterminated, "not terminated"},
		{"truncated old header", []byte("ld.so-1.7.0\x00\x01"), "truncated old header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLDCache(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseLDCache: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestParseLDCacheMatchesLdconfig parses a cache the real ldconfig wrote
// for this host and compares it with what `ldconfig -p` prints for it.
func TestParseLDCacheMatchesLdconfig(t *testing.T) {
	ldconfig := requireTool(t, "ldconfig")
	dir := t.TempDir()
	conf := filepath.Join(dir, "ld.so.conf")
	if err := os.WriteFile(conf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "ld.so.cache")
	// -X: no links are made, so the host's directories stay untouched.
	if out, err := exec.Command(ldconfig, "-X", "-C", cache, "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("ldconfig: %v\n%s", err, out)
	}
	out, err := exec.Command(ldconfig, "-p", "-C", cache).Output()
	if err != nil {
		t.Fatalf("ldconfig -p: %v", err)
	}
	// Lines read "\tkey (libc6,x86-64[, hwcap: ...]) => path".
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, rest, ok := strings.Cut(line, " (")
		if !ok {
			continue
		}
		abi, path, ok := strings.Cut(rest, ") => ")
		if !ok {
			continue
		}
		want = append(want, key+" "+strconv.FormatBool(strings.HasPrefix(abi, "libc6,x86-64"))+" "+path)
	}
	if len(want) == 0 {
		t.Fatalf("ldconfig -p listed nothing:\n%s", out)
	}
	data, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseLDCache(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Key+" "+strconv.FormatBool(e.X8664())+" "+e.Path)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries differ from ldconfig -p (-want +got):\n%s", diff)
	}
}

func TestLookupLDCache(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "libcuda.so.550.54.15")
	mustWrite(t, real, "", 0o755)
	mustSymlink(t, "libcuda.so.550.54.15", filepath.Join(dir, "libcuda.so.1"))
	other := filepath.Join(dir, "other", "libcuda.so.1")
	mustWrite(t, other, "", 0o755)
	cache := filepath.Join(dir, "ld.so.cache")
	mustWrite(t, cache, string(encodeLDCache([]LDCacheEntry{
		{Key: "libcuda.so.1", Path: filepath.Join(dir, "i386", "libcuda.so.1"), Flags: flagsI386},
		{Key: "libcuda.so.1", Path: filepath.Join(dir, "libcuda.so.1"), Flags: flagsX8664},
		{Key: "libcuda.so.1", Path: other, Flags: flagsX8664}, // shadowed by the first
		{Key: "libgone.so.1", Path: filepath.Join(dir, "libgone.so.1"), Flags: flagsX8664},
	}, ldCacheNew)), 0o644)

	if got, ok, err := LookupLDCache(cache, "libcuda.so.1"); err != nil || !ok || got != real {
		t.Errorf("LookupLDCache libcuda.so.1: %q, %v, %v; want %q", got, ok, err, real)
	}
	for _, key := range []string{"libgone.so.1", "libnone.so.1"} {
		if got, ok, err := LookupLDCache(cache, key); err != nil || ok {
			t.Errorf("LookupLDCache %s: %q, %v, %v; want not found", key, got, ok, err)
		}
	}
	if _, _, err := LookupLDCache(filepath.Join(dir, "missing"), "libcuda.so.1"); err == nil {
		t.Error("LookupLDCache of a missing file: no error")
	}
}

func TestDriverLibraryCapability(t *testing.T) {
	const v = "550.54.15"
	for _, tc := range []struct {
		name string
		want string // "" = not a driver library of v
	}{
		{"libcuda.so.550.54.15", CapCompute},
		{"libcuda.so.535.104.05", ""},
		{"libcuda.so.1", ""},
		{"libcuda.so", ""},
		{"libcudart.so.550.54.15", ""},
		{"libnvidia-ml.so.550.54.15", CapUtility},
		{"libnvidia-pkcs11-openssl3.so.550.54.15", CapCompute},
		{"libnvidia-encode.so.550.54.15", CapVideo},
		{"libGLX_nvidia.so.550.54.15", CapGraphics},
		{"libnvidia-ngx.so.550.54.15", CapNGX},
		{"libnvidia-ml.so.550.54.15.bak", ""},
		{".so.550.54.15", ""},
	} {
		got, ok := driverLibraryCapability(tc.name, v)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("driverLibraryCapability(%q) = %q, %v; want %q", tc.name, got, ok, tc.want)
		}
	}
}

func TestFallbackSONAME(t *testing.T) {
	for name, want := range map[string]string{
		"libcuda.so.550.54.15":  "libcuda.so.550",
		"libnvidia-ml.so.1":     "libnvidia-ml.so.1",
		"libfoo.so":             "libfoo.so",
		"libnvoptix.so.1.2.3.4": "libnvoptix.so.1",
	} {
		if got := fallbackSONAME(name); got != want {
			t.Errorf("fallbackSONAME(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestReadSONAME(t *testing.T) {
	h := newFakeHost(t, fakeHostOptions{GPUs: 1})
	for _, tc := range []struct {
		path   string
		want   string
		wantOK bool
	}{
		{"usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15", "libcuda.so.1", true},
		// Not ELF (a stand-in): the name up to its first version number.
		{"usr/local/nvidia/lib64/libcuda.so.535.104.05", "libcuda.so.535", true},
		// ELF for another architecture.
		{"usr/local/nvidia/lib/libnvidia-fbc.so.550.54.15", "", false},
	} {
		got, ok := readSONAME(filepath.Join(h.root, tc.path))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("readSONAME(%s) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestFindDriverLibraries(t *testing.T) {
	h := newFakeHost(t, fakeHostOptions{GPUs: 1})
	libs, err := FindDriverLibraries(h.roots.LDCache, h.roots.LibDirs, fakeDriverVersion)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range libs {
		got = append(got, l.Capability+" "+l.Name+" "+l.SONAME+" "+h.placeholders(l.Path))
	}
	want := []string{
		"graphics libEGL_nvidia.so.550.54.15 libEGL_nvidia.so.0 $HOST/usr/lib/x86_64-linux-gnu/libEGL_nvidia.so.550.54.15",
		"graphics libGLX_nvidia.so.550.54.15 libGLX_nvidia.so.0 $HOST/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.550.54.15",
		"compute libcuda.so.550.54.15 libcuda.so.1 $HOST/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
		"video libnvcuvid.so.550.54.15 libnvcuvid.so.1 $HOST/usr/lib/x86_64-linux-gnu/libnvcuvid.so.550.54.15",
		// Outside the ld cache, found in a LibDir.
		"utility libnvidia-cfg.so.550.54.15 libnvidia-cfg.so.1 $HOST/usr/local/nvidia/lib64/libnvidia-cfg.so.550.54.15",
		"graphics libnvidia-glcore.so.550.54.15 libnvidia-glcore.so.550.54.15 $HOST/usr/lib/x86_64-linux-gnu/libnvidia-glcore.so.550.54.15",
		"compute libnvidia-gpucomp.so.550.54.15 libnvidia-gpucomp.so.550.54.15 $HOST/usr/lib/x86_64-linux-gnu/libnvidia-gpucomp.so.550.54.15",
		"utility libnvidia-ml.so.550.54.15 libnvidia-ml.so.1 $HOST/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15",
		"compute libnvidia-nvvm.so.550.54.15 libnvidia-nvvm.so.4 $HOST/usr/lib/x86_64-linux-gnu/libnvidia-nvvm.so.550.54.15",
		"video libnvidia-opticalflow.so.550.54.15 libnvidia-opticalflow.so.1 $HOST/usr/lib/x86_64-linux-gnu/libnvidia-opticalflow.so.550.54.15",
		"compute libnvidia-ptxjitcompiler.so.550.54.15 libnvidia-ptxjitcompiler.so.1 $HOST/usr/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.550.54.15",
	}
	// Left out: libcuda.so.535.104.05 and libnvidia-opencl.so.535.104.05
	// (another driver version), the aarch64 libnvidia-fbc in a LibDir, and
	// libz.so.1 (not the driver's).
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindDriverLibraries (-want +got):\n%s", diff)
	}
	// The old libcuda comes first in the ld cache (the host's loader would
	// load it), yet the current one was found.
	if _, err := exec.LookPath("ldconfig"); err == nil {
		first, _, err := LookupLDCache(h.roots.LDCache, "libcuda.so.1")
		if err != nil {
			t.Fatal(err)
		}
		if got := h.placeholders(first); got != "$HOST/opt/old-driver/lib/libcuda.so.535.104.05" {
			t.Errorf("ld cache's libcuda.so.1 is %s, want the old driver's", got)
		}
	}

	t.Run("no ld cache", func(t *testing.T) {
		libs, err := FindDriverLibraries(filepath.Join(h.root, "etc/missing.cache"), h.roots.LibDirs, fakeDriverVersion)
		if err != nil {
			t.Fatal(err)
		}
		if len(libs) != 1 || libs[0].Name != "libnvidia-cfg.so.550.54.15" {
			t.Errorf("without an ld cache got %v, want the LibDirs' libnvidia-cfg only", libs)
		}
	})
	t.Run("bad ld cache", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "ld.so.cache")
		mustWrite(t, bad, "garbage", 0o644)
		if _, err := FindDriverLibraries(bad, nil, fakeDriverVersion); err == nil {
			t.Error("no error for a corrupt ld cache")
		}
	})
	t.Run("no version", func(t *testing.T) {
		if _, err := FindDriverLibraries(h.roots.LDCache, nil, ""); err == nil {
			t.Error("no error without a driver version")
		}
	})
}

// TestFakeLibrariesAreELF guards the fixture: the libraries in the ld
// cache must be real x86-64 shared objects, or ldconfig would skip them.
func TestFakeLibrariesAreELF(t *testing.T) {
	h := newFakeHost(t, fakeHostOptions{GPUs: 1})
	f, err := elf.Open(filepath.Join(h.root, "usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		t.Errorf("machine %v", f.Machine)
	}
}

// FuzzParseLDCache: arbitrary bytes never panic the parser.
func FuzzParseLDCache(f *testing.F) {
	entries := []LDCacheEntry{
		{Key: "libcuda.so.1", Path: "/usr/lib/x86_64-linux-gnu/libcuda.so.1", Flags: flagsX8664},
		{Key: "libcuda.so.1", Path: "/usr/lib/i386-linux-gnu/libcuda.so.1", Flags: flagsI386},
		{Key: "libz.so.1", Path: "/lib/libz.so.1", Flags: flagsX8664},
	}
	for _, format := range []ldCacheFormat{ldCacheNew, ldCacheCompat, ldCacheOld} {
		f.Add(encodeLDCache(entries, format))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseLDCache(data)
	})
}
