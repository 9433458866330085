package scratch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/test/testenv"
)

// mountUnder returns "mountpoint fstype source" for each mount at or below
// root, from /proc/self/mountinfo.
func mountUnder(t *testing.T, root string) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == root || strings.HasPrefix(mp, root+"/") {
			out = append(out, mp+" "+tail[0]+" "+tail[1])
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// loopsUnder returns "loopN file" for each loop device bound to a file
// below root.
func loopsUnder(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // unbound meanwhile
		}
		if back := strings.TrimSpace(string(b)); strings.HasPrefix(back, root+"/") {
			out = append(out, filepath.Base(filepath.Dir(filepath.Dir(f)))+" "+back)
		}
	}
	return out
}

// fill writes n bytes into a new file of dir and returns the write error.
func fill(dir string, n int) error {
	f, err := os.OpenFile(filepath.Join(dir, "fill"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	chunk := make([]byte, 64<<10)
	for written := 0; written < n; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// checkOwner checks the owner of the work and config directories.
func checkOwner(t *testing.T, s *Scratch, uid, gid uint32) {
	t.Helper()
	for _, d := range []string{s.ConfigDir, s.WorkDir} {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", d, st.Uid, st.Gid, uid, gid)
		}
	}
}

// realRoot is a fresh scratch root with symlinks resolved, as mountinfo
// and sysfs show paths.
func realRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "scratch")
}

// checkGone checks that nothing of any scratch is left under root.
func checkGone(t *testing.T, root string) {
	t.Helper()
	if got := entries(t, root); got != "" && got != "<none>" {
		t.Errorf("scratch root holds %q", got)
	}
	if m := mountUnder(t, root); len(m) > 0 {
		t.Errorf("mounts left under the root: %q", m)
	}
	if l := loopsUnder(t, root); len(l) > 0 {
		t.Errorf("loop devices left bound: %q", l)
	}
}

func TestPrivilegedMemoryScratch(t *testing.T) {
	testenv.RequirePrivileged(t)
	root := realRoot(t)
	o := Options{Root: root, Type: Memory, Size: 1 << 20, UID: 1234, GID: 5678}
	s, err := Create(t.Context(), o, "kmem")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = s.Remove(context.Background()) })
	if got, want := fmt.Sprint(mountUnder(t, root)), "["+s.Dir+" tmpfs tmpfs]"; got != want {
		t.Errorf("mounts %s, want %s", got, want)
	}
	checkOwner(t, s, 1234, 5678)
	if err := fill(s.WorkDir, 2<<20); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing 2 MiB into a 1 MiB scratch: %v, want ENOSPC", err)
	}
	if got, err := Open(o, "kmem"); err != nil || *got != *s {
		t.Errorf("Open = %+v, %v; want %+v", got, err, s)
	}
	if _, err := Open(Options{Root: root, Type: HostFile}, "kmem"); err == nil {
		t.Error("Open as hostfile accepted a tmpfs scratch")
	}
	if err := s.Remove(t.Context()); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	checkGone(t, root)
	if err := s.Remove(t.Context()); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestPrivilegedRemoveBusyMount(t *testing.T) {
	testenv.RequirePrivileged(t)
	root := realRoot(t)
	s, err := Create(t.Context(), Options{Root: root, Type: Memory, Size: 1 << 20, UID: -1, GID: -1}, "kbusy")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = s.Remove(context.Background()) })
	f, err := os.OpenFile(filepath.Join(s.WorkDir, "held"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(t.Context()); !errors.Is(err, unix.EBUSY) {
		t.Errorf("Remove of a busy scratch: %v, want EBUSY", err)
	}
	if _, err := os.Stat(filepath.Join(s.WorkDir, "held")); err != nil || len(mountUnder(t, root)) != 1 {
		t.Errorf("a refused Remove changed the scratch: %v, mounts %q", err, mountUnder(t, root))
	}
	f.Close()
	if err := s.Remove(t.Context()); err != nil {
		t.Fatalf("Remove once released: %v", err)
	}
	checkGone(t, root)
}

func TestPrivilegedHostFileScratch(t *testing.T) {
	testenv.RequirePrivileged(t)
	root := realRoot(t)
	o := Options{Root: root, Type: HostFile, Size: 16 << 20, UID: 1000, GID: 1000}
	s, err := Create(t.Context(), o, "kfile")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = s.Remove(context.Background()) })
	img := filepath.Join(root, "kfile.img")
	var st unix.Stat_t
	if err := unix.Stat(img, &st); err != nil || st.Size != 16<<20 || st.Blocks*512 >= st.Size {
		t.Errorf("image %s: size %d, %d bytes allocated, %v; want a sparse 16 MiB file", img, st.Size, st.Blocks*512, err)
	}
	m := mountUnder(t, root)
	if len(m) != 1 || !strings.HasPrefix(m[0], s.Dir+" ext4 /dev/loop") {
		t.Fatalf("mounts %q, want one ext4 from a loop device on %s", m, s.Dir)
	}
	dev := strings.Fields(m[0])[2]
	out, err := exec.Command("losetup", "-j", img).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), dev+":") {
		t.Errorf("losetup -j %s: %q, %v; want %s", img, out, err, dev)
	}
	if l := loopsUnder(t, root); len(l) != 1 {
		t.Errorf("loop devices bound: %q, want one", l)
	}
	checkOwner(t, s, 1000, 1000)
	if err := fill(s.WorkDir, 32<<20); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing 32 MiB into a 16 MiB scratch: %v, want ENOSPC", err)
	}
	if got, err := Open(o, "kfile"); err != nil || *got != *s {
		t.Errorf("Open = %+v, %v; want %+v", got, err, s)
	}
	if err := s.Remove(t.Context()); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	checkGone(t, root)
	if _, err := os.Stat("/sys/block/" + filepath.Base(dev) + "/loop/backing_file"); err == nil {
		if b, _ := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file"); strings.HasPrefix(string(b), img) {
			t.Errorf("%s is still bound to %s", dev, img)
		}
	}
	if err := s.Remove(t.Context()); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

// TestPrivilegedRemoveDetachesStrayLoop binds the image a second time
// without autoclear, as a crashed or foreign tool may leave it; Remove
// detaches that device too.
func TestPrivilegedRemoveDetachesStrayLoop(t *testing.T) {
	testenv.RequirePrivileged(t)
	root := realRoot(t)
	s, err := Create(t.Context(), Options{Root: root, Type: HostFile, Size: 8 << 20, UID: -1, GID: -1}, "kstray")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = s.Remove(context.Background()) })
	img := filepath.Join(root, "kstray.img")
	if out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput(); err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	if l := loopsUnder(t, root); len(l) != 2 {
		t.Fatalf("loop devices bound: %q, want two", l)
	}
	if err := s.Remove(t.Context()); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	checkGone(t, root)
}

func TestPrivilegedCreateRollback(t *testing.T) {
	testenv.RequirePrivileged(t)
	emptyPath := t.TempDir()
	for _, tc := range []struct {
		name   string
		typ    Type
		size   int64
		failAt string // injected failure after this step
		mkfs   string
		path   string // PATH during Create, when set
		want   string
	}{
		{"memory after mount", Memory, 1 << 20, "mount", "", "", "injected"},
		{"memory after layout", Memory, 1 << 20, "layout", "", "", "injected"},
		{"hostfile after image", HostFile, 8 << 20, "image", "", "", "injected"},
		{"hostfile after mkfs", HostFile, 8 << 20, "mkfs", "", "", "injected"},
		{"hostfile after loop", HostFile, 8 << 20, "loop", "", "", "injected"},
		{"hostfile after loop mount", HostFile, 8 << 20, "loop-mounted", "", "", "injected"},
		{"hostfile after layout", HostFile, 8 << 20, "layout", "", "", "injected"},
		{"mkfs missing from PATH", HostFile, 8 << 20, "", "", emptyPath, "executable file not found"},
		{"mkfs missing", HostFile, 8 << 20, "", "/nonexistent/mkfs.ext4", "", "no such file"},
		{"mkfs fails", HostFile, 8 << 20, "", "/bin/false", "", "exit status 1"},
		{"image too small", HostFile, 4096, "", "", "", "format"},
		{"mount of an unformatted image", HostFile, 8 << 20, "", "/bin/true", "", "mount /dev/loop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := realRoot(t)
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			o := Options{Root: root, Type: tc.typ, Size: tc.size, UID: 1000, GID: 1000, Mkfs: tc.mkfs,
				failAt: func(step string) error {
					if step == tc.failAt {
						return errors.New("injected")
					}
					return nil
				}}
			s, err := Create(t.Context(), o, "kfail")
			if err == nil {
				_ = s.Remove(context.Background())
				t.Fatal("Create succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Create error %v, want %q", err, tc.want)
			}
			checkGone(t, root)
		})
	}
}
