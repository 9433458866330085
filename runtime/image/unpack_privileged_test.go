package image

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/baiagent/agent/test/testenv"
	"golang.org/x/sys/unix"
)

// unpackRoot unpacks the entries as root (with ownership) into a fresh
// directory and returns it.
func unpackAsRoot(t *testing.T, entries ...tarEntry) (string, UnpackStats) {
	t.Helper()
	d := t.TempDir()
	st, err := Unpack(t.Context(), bytes.NewReader(layerTar(t, entries...)), d, UnpackOptions{})
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	return d, st
}

func mustLstat(t *testing.T, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func getXattr(p, name string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "error: " + err.Error()
	}
	return string(buf[:n])
}

func TestPrivilegedUnpackWhiteouts(t *testing.T) {
	testenv.RequirePrivileged(t)
	d, st := unpackAsRoot(t,
		tarFile(".wh.gone", "", 0o644),
		tarDir("d/", 0o755),
		tarFile("d/.wh..wh..opq", "", 0o644),
		tarFile("d/kept", "k", 0o644),
		tarFile("e/.wh..wh..opq", "", 0o644), // the marker before its directory
		tarDir("e/", 0o711),
		tarFile("d/.wh.sub", "", 0o644),
		tarFile(".wh..wh.plnk", "", 0o644),
	)
	if st.Whiteouts != 2 || st.Opaques != 2 {
		t.Errorf("stats = %+v, want 2 whiteouts and 2 opaques", st)
	}
	for _, name := range []string{"gone", "d/sub"} {
		s := mustLstat(t, filepath.Join(d, name))
		if s.Mode&unix.S_IFMT != unix.S_IFCHR || s.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want a 0:0 character device", name, s.Mode, s.Rdev)
		}
	}
	for _, name := range []string{"d", "e"} {
		if got := getXattr(filepath.Join(d, name), opaqueXattr); got != "y" {
			t.Errorf("%s: %s = %q, want y", name, opaqueXattr, got)
		}
	}
	if s := mustLstat(t, filepath.Join(d, "e")); s.Mode&0o7777 != 0o711 {
		t.Errorf("e: mode %o, want 711", s.Mode&0o7777)
	}
	for _, name := range []string{".wh.gone", "plnk", ".wh..wh.plnk", "d/.wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(d, name)); err == nil {
			t.Errorf("%s exists", name)
		}
	}
}

func TestPrivilegedUnpackOwnership(t *testing.T) {
	testenv.RequirePrivileged(t)
	own := func(e tarEntry, uid int) tarEntry { e.Uid, e.Gid = uid, uid; return e }
	d, _ := unpackAsRoot(t,
		own(tarDir("home/", 0o755), 0),
		own(tarDir("home/u/", 0o700), 1000),
		own(tarFile("home/u/f", "x", 0o640), 1000),
		own(tarFile("home/u/suid", "x", 0o6755), 1000),
		own(tarSymlink("home/u/l", "f"), 1000),
		own(tarLink("home/u/h", "home/u/f"), 0),
	)
	for name, uid := range map[string]uint32{"home": 0, "home/u": 1000, "home/u/f": 1000, "home/u/suid": 1000, "home/u/l": 1000, "home/u/h": 1000} {
		if s := mustLstat(t, filepath.Join(d, name)); s.Uid != uid || s.Gid != uid {
			t.Errorf("%s: owner %d:%d, want %d:%d", name, s.Uid, s.Gid, uid, uid)
		}
	}
	if s := mustLstat(t, filepath.Join(d, "home/u/suid")); s.Mode&0o7777 != 0o6755 {
		t.Errorf("suid: mode %o, want 6755 (setuid/setgid kept after chown)", s.Mode&0o7777)
	}
}

func TestPrivilegedUnpackDevices(t *testing.T) {
	testenv.RequirePrivileged(t)
	dev := func(typ byte, name string, major, minor int64) tarEntry {
		return tarEntry{Header: tar.Header{Typeflag: typ, Name: name, Mode: 0o660, Devmajor: major, Devminor: minor, Uid: 5, Gid: 6, ModTime: mtime1}}
	}
	d, st := unpackAsRoot(t,
		dev(tar.TypeChar, "dev/null", 1, 3),
		dev(tar.TypeBlock, "dev/loop0", 7, 0),
		dev(tar.TypeFifo, "dev/fifo", 0, 0),
	)
	if st.Devices != 3 {
		t.Errorf("stats = %+v, want 3 devices", st)
	}
	for _, c := range []struct {
		name  string
		typ   uint32
		major uint32
		minor uint32
	}{
		{"dev/null", unix.S_IFCHR, 1, 3},
		{"dev/loop0", unix.S_IFBLK, 7, 0},
		{"dev/fifo", unix.S_IFIFO, 0, 0},
	} {
		s := mustLstat(t, filepath.Join(d, c.name))
		if s.Mode&unix.S_IFMT != c.typ || unix.Major(s.Rdev) != c.major || unix.Minor(s.Rdev) != c.minor {
			t.Errorf("%s: mode %o rdev %d:%d, want type %o %d:%d", c.name, s.Mode, unix.Major(s.Rdev), unix.Minor(s.Rdev), c.typ, c.major, c.minor)
		}
		if s.Mode&0o7777 != 0o660 || s.Uid != 5 || s.Gid != 6 || s.Mtim.Sec != mtime1.Unix() {
			t.Errorf("%s: mode %o owner %d:%d mtime %d, want 660 5:6 %d", c.name, s.Mode&0o7777, s.Uid, s.Gid, s.Mtim.Sec, mtime1.Unix())
		}
	}
}

func TestPrivilegedUnpackXattrs(t *testing.T) {
	testenv.RequirePrivileged(t)
	x := func(e tarEntry, k, v string) tarEntry {
		e.PAXRecords = map[string]string{"SCHILY.xattr." + k: v}
		return e
	}
	d, _ := unpackAsRoot(t,
		x(tarDir("d/", 0o755), "user.dir", "1"),
		x(tarFile("d/f", "x", 0o644), "user.file", "2"),
		x(tarSymlink("d/l", "f"), "trusted.link", "3"),
		x(tarFile("d/t", "x", 0o644), "trusted.file", "4"),
	)
	for _, c := range []struct{ name, key, want string }{
		{"d", "user.dir", "1"},
		{"d/f", "user.file", "2"},
		{"d/l", "trusted.link", "3"},
		{"d/t", "trusted.file", "4"},
	} {
		if got := getXattr(filepath.Join(d, c.name), c.key); got != c.want {
			t.Errorf("%s: %s = %q, want %q", c.name, c.key, got, c.want)
		}
	}
}

// TestPrivilegedUnpackOverlay unpacks a lower and an upper layer and checks
// the merged overlayfs view: whiteouts hide files and a directory, an
// opaque directory hides what the lower layer had in it.
func TestPrivilegedUnpackOverlay(t *testing.T) {
	testenv.RequirePrivileged(t)
	lower, _ := unpackAsRoot(t,
		tarDir("a/", 0o755),
		tarFile("a/1", "lower", 0o644),
		tarFile("a/2", "lower", 0o644),
		tarDir("b/", 0o755),
		tarFile("b/x", "lower", 0o644),
		tarDir("b/sub/", 0o755),
		tarFile("b/sub/y", "lower", 0o644),
		tarFile("c", "lower", 0o644),
		tarDir("gone/", 0o755),
		tarFile("gone/z", "lower", 0o644),
		tarFile("keep", "lower", 0o644),
	)
	upper, _ := unpackAsRoot(t,
		tarDir("a/", 0o755),
		tarFile("a/.wh.1", "", 0o644),
		tarFile("a/3", "upper", 0o644),
		tarDir("b/", 0o755),
		tarFile("b/.wh..wh..opq", "", 0o644),
		tarFile("b/new", "upper", 0o644),
		tarFile(".wh.c", "", 0o644),
		tarFile(".wh.gone", "", 0o644),
		tarFile("keep", "upper", 0o644),
	)
	work, rw, merged := t.TempDir(), t.TempDir(), t.TempDir()
	opts := "lowerdir=" + upper + ":" + lower + ",upperdir=" + rw + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", merged, err)
		}
	})
	want := "a/\na/2 lower\na/3 upper\nb/\nb/new upper\nkeep upper\n"
	if got := listTree(t, merged, ""); got != want {
		t.Errorf("merged view:\n%s\nwant:\n%s", got, want)
	}
}
