package image

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrUnsafeEntry marks a tar entry that would write outside the layer directory.
var ErrUnsafeEntry = errors.New("unsafe layer entry")

// UnpackOptions tune Unpack.
type UnpackOptions struct {
	// NoChown skips lchown (unit tests as non-root); entries then belong to the caller.
	// It also lets security.* and trusted.* extended attributes (the opaque
	// marker included) be dropped where the kernel refuses them. Character
	// and block devices still need CAP_MKNOD.
	NoChown bool
}

// UnpackStats counts what Unpack wrote. Devices counts character and block
// devices and FIFOs; Bytes counts the content of regular files.
type UnpackStats struct {
	Entries, Files, Dirs, Symlinks, Hardlinks, Devices, Whiteouts, Opaques int
	Bytes                                                                  int64
}

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
	paxXattrPrefix = "SCHILY.xattr."
	copyBufSize    = 1 << 20
	// maxOpenDirs bounds the directories an unpack holds open between entries.
	maxOpenDirs = 128
)

// copyBufs holds the *[]byte buffers that file contents are copied through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// Unpack reads an UNCOMPRESSED layer tar from r into dir (an existing, empty
// directory) in overlayfs form: whiteouts `.wh.<name>` become 0:0 character
// devices and `.wh..wh..opq` markers set trusted.overlay.opaque=y on their
// directory.
//
// Every path is resolved beneath dir (os.Root), and every change is made
// with an *at syscall on a single name relative to its parent directory,
// never following a symlink in the last component. Names that are absolute
// or hold a ".." component, and hard links to such names, fail with
// ErrUnsafeEntry. Symlinks are created as they are, whatever they point to;
// a later entry whose parent path goes through a symlink is written where
// the symlink leads when that stays inside dir, and fails with
// ErrUnsafeEntry when it escapes (an absolute or climbing link).
// Directory modes, owners and times are applied once all entries are in.
// r is read to its end, so that a caller hashing or checking the
// compressed stream sees all of it. Nothing is fsynced. On error dir holds
// a partial layer that the caller removes.
func Unpack(ctx context.Context, r io.Reader, dir string, o UnpackOptions) (UnpackStats, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return UnpackStats{}, fmt.Errorf("unpack layer: %w", err)
	}
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	u := &unpacker{
		root:    root,
		opts:    o,
		lenient: o.NoChown || os.Geteuid() != 0,
		buf:     *bufp,
		open:    make(map[string]openDir),
		attrs:   make(map[string]int),
	}
	defer u.close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return u.stats, fmt.Errorf("unpack layer: %w", err)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return u.stats, fmt.Errorf("read layer tar: %w", err)
		}
		u.stats.Entries++
		if err := u.entry(hdr, tr); err != nil {
			return u.stats, fmt.Errorf("unpack %s: %w", hdr.Name, err)
		}
	}
	if err := u.finishDirs(); err != nil {
		return u.stats, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return u.stats, fmt.Errorf("read layer tar trailer: %w", err)
	}
	return u.stats, nil
}

// openDir is a directory of the layer held open for *at syscalls: fd, and
// f when it was opened through the root.
type openDir struct {
	f  *os.File
	fd int
}

// dirAttr is what a directory entry sets once all entries are in.
type dirAttr struct {
	name     string
	mode     uint32
	uid, gid int
	mtime    time.Time
}

// unpacker is the state of one Unpack call.
type unpacker struct {
	root    *os.Root
	opts    UnpackOptions
	lenient bool // drop refused security.* and trusted.* xattrs
	buf     []byte
	stats   UnpackStats
	open    map[string]openDir // by the cleaned path of the directory
	stale   bool               // something was removed: drop open before the next entry
	dirs    []dirAttr
	attrs   map[string]int // index into dirs by name
}

func (u *unpacker) close() {
	u.flush()
	u.root.Close()
}

// sweep closes the open directories when they are too many or may have
// been removed. It runs between entries only, when no descriptor is in use.
func (u *unpacker) sweep() {
	if u.stale || len(u.open) >= maxOpenDirs {
		u.flush()
	}
}

func (u *unpacker) flush() {
	for _, d := range u.open {
		if d.f != nil {
			d.f.Close()
		} else {
			unix.Close(d.fd)
		}
	}
	clear(u.open)
	u.stale = false
}

// entry writes one tar entry.
func (u *unpacker) entry(hdr *tar.Header, tr *tar.Reader) error {
	u.sweep()
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: replaces the layer root", ErrUnsafeEntry)
		}
		u.stats.Dirs++
		u.recordDir(name, hdr)
		fd, err := u.dir(".", false)
		if err != nil {
			return err
		}
		return u.xattrs(hdr, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
	}
	parent, base := splitName(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(parent, base)
	}
	pfd, err := u.dir(parent, true)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		u.stats.Files++
		return u.file(pfd, name, base, hdr, tr)
	case tar.TypeDir:
		u.stats.Dirs++
		return u.mkdir(pfd, name, base, hdr)
	case tar.TypeSymlink:
		u.stats.Symlinks++
		if err := u.create(pfd, name, base, func() error {
			return os.NewSyscallError("symlinkat", unix.Symlinkat(hdr.Linkname, pfd, base))
		}); err != nil {
			return err
		}
		return u.finishNode(pfd, base, hdr, false)
	case tar.TypeLink:
		u.stats.Hardlinks++
		return u.link(pfd, name, base, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		u.stats.Devices++
		mode := uint32(hdr.Mode & 0o7777)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := u.create(pfd, name, base, func() error {
			return os.NewSyscallError("mknodat", unix.Mknodat(pfd, base, mode, dev))
		}); err != nil {
			return err
		}
		return u.finishNode(pfd, base, hdr, true)
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
}

// file writes a regular file with its content, owner, mode, xattrs and mtime.
func (u *unpacker) file(pfd int, name, base string, hdr *tar.Header, tr *tar.Reader) error {
	fd := -1
	err := u.create(pfd, name, base, func() (err error) {
		fd, err = unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		return os.NewSyscallError("openat", err)
	})
	if err != nil {
		return err
	}
	err = u.fill(fd, hdr, tr)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = os.NewSyscallError("close", cerr)
	}
	if err != nil {
		return err
	}
	return setTimes(pfd, base, hdr.ModTime)
}

func (u *unpacker) fill(fd int, hdr *tar.Header, tr *tar.Reader) error {
	for {
		n, rerr := tr.Read(u.buf)
		for b := u.buf[:n]; len(b) > 0; {
			w, err := unix.Write(fd, b)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return os.NewSyscallError("write", err)
			}
			b = b[w:]
		}
		u.stats.Bytes += int64(n)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read content: %w", rerr)
		}
	}
	// chown clears setuid/setgid and file capabilities: owner, then mode, then xattrs.
	if !u.opts.NoChown {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return os.NewSyscallError("fchown", err)
		}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return os.NewSyscallError("fchmod", err)
	}
	return u.xattrs(hdr, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) })
}

// mkdir creates a directory, or keeps the one already there (made for an
// earlier child or a duplicate entry). Owner, mode and mtime come in finishDirs.
func (u *unpacker) mkdir(pfd int, name, base string, hdr *tar.Header) error {
	err := unix.Mkdirat(pfd, base, 0o755)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := u.remove(pfd, name, base); err != nil {
				return err
			}
			err = unix.Mkdirat(pfd, base, 0o755)
		}
	}
	if err != nil {
		return os.NewSyscallError("mkdirat", err)
	}
	u.recordDir(name, hdr)
	// Hold it open: its children most likely come next, and this saves
	// resolving its path from the root.
	d, ok := u.open[name]
	if !ok {
		fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("openat", err)
		}
		d = openDir{fd: fd}
		u.open[name] = d
	}
	return u.xattrs(hdr, func(k string, v []byte) error { return unix.Fsetxattr(d.fd, k, v, 0) })
}

// link makes a hard link to an earlier entry of the layer.
func (u *unpacker) link(pfd int, name, base, linkname string) error {
	target, err := cleanName(linkname)
	if err != nil {
		return fmt.Errorf("link target %s: %w", linkname, err)
	}
	if target == "." {
		return fmt.Errorf("%w: link to the layer root", ErrUnsafeEntry)
	}
	tparent, tbase := splitName(target)
	tfd, err := u.dir(tparent, false)
	if err != nil {
		return fmt.Errorf("link target %s: %w", target, err)
	}
	return u.create(pfd, name, base, func() error {
		return os.NewSyscallError("linkat", unix.Linkat(tfd, tbase, pfd, base, 0))
	})
}

// finishNode sets the owner, mode (devices), xattrs and mtime of a symlink or a
// device node, never following the last component.
func (u *unpacker) finishNode(pfd int, base string, hdr *tar.Header, chmod bool) error {
	if !u.opts.NoChown {
		if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return os.NewSyscallError("fchownat", err)
		}
	}
	if chmod { // just made by mknodat, so never a symlink
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return os.NewSyscallError("fchmodat", err)
		}
	}
	// A symlink or a device cannot be opened for fsetxattr without following
	// or opening it: name it through the parent's descriptor instead.
	if err := u.xattrs(hdr, func(k string, v []byte) error {
		return unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(pfd)+"/"+base, k, v, 0)
	}); err != nil {
		return err
	}
	return setTimes(pfd, base, hdr.ModTime)
}

// whiteout turns `.wh.<name>` into a 0:0 character device and
// `.wh..wh..opq` into the opaque xattr on its directory; other
// `.wh..wh.` entries (hard-link bookkeeping of aufs) are skipped.
func (u *unpacker) whiteout(parent, base string) error {
	if base != whiteoutOpaque && strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	pfd, err := u.dir(parent, true)
	if err != nil {
		return err
	}
	if base == whiteoutOpaque {
		u.stats.Opaques++
		err := u.setXattr(opaqueXattr, []byte("y"), func(k string, v []byte) error { return unix.Fsetxattr(pfd, k, v, 0) })
		if err != nil {
			return fmt.Errorf("mark %s opaque: %w", parent, err)
		}
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("%w: whiteout of %q", ErrUnsafeEntry, target)
	}
	u.stats.Whiteouts++
	return u.create(pfd, path.Join(parent, target), target, func() error {
		return os.NewSyscallError("mknodat", unix.Mknodat(pfd, target, unix.S_IFCHR, 0))
	})
}

// create runs mk, and when its name exists already (an earlier entry of
// the same name), removes that and runs mk once more.
func (u *unpacker) create(pfd int, name, base string, mk func() error) error {
	err := mk()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	if err := u.remove(pfd, name, base); err != nil {
		return err
	}
	return mk()
}

// remove deletes base (name from the root) in pfd, a directory with all it
// holds, and forgets what it knew of what was removed.
func (u *unpacker) remove(pfd int, name, base string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return os.NewSyscallError("fstatat", err)
	}
	u.stale = true
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return os.NewSyscallError("unlinkat", unix.Unlinkat(pfd, base, 0))
	}
	u.dirs = slices.DeleteFunc(u.dirs, func(d dirAttr) bool {
		return d.name == name || strings.HasPrefix(d.name, name+"/")
	})
	clear(u.attrs)
	for i, d := range u.dirs {
		u.attrs[d.name] = i
	}
	if err := u.root.RemoveAll(name); err != nil {
		return fmt.Errorf("replace directory: %w", err)
	}
	return nil
}

// dir returns a descriptor of the directory p of the layer, resolved
// beneath the root (following symlinks that stay inside) and made with its
// missing parents when create is set.
func (u *unpacker) dir(p string, create bool) (int, error) {
	if d, ok := u.open[p]; ok {
		return d.fd, nil
	}
	const flags = os.O_RDONLY | unix.O_DIRECTORY
	f, err := u.root.OpenFile(p, flags, 0)
	if create && errors.Is(err, fs.ErrNotExist) {
		if err = u.root.MkdirAll(p, 0o755); err == nil {
			f, err = u.root.OpenFile(p, flags, 0)
		}
	}
	if err != nil {
		if errno, ok := errors.AsType[unix.Errno](err); !ok || errno == unix.EXDEV {
			// os.Root reports a path that leaves it with an error of its own.
			return -1, fmt.Errorf("%w: %w", ErrUnsafeEntry, err)
		}
		return -1, err
	}
	d := openDir{f: f, fd: int(f.Fd())}
	u.open[p] = d
	return d.fd, nil
}

func (u *unpacker) recordDir(name string, hdr *tar.Header) {
	a := dirAttr{name: name, mode: uint32(hdr.Mode & 0o7777), uid: hdr.Uid, gid: hdr.Gid, mtime: hdr.ModTime}
	if i, ok := u.attrs[name]; ok {
		u.dirs[i] = a
		return
	}
	u.attrs[name] = len(u.dirs)
	u.dirs = append(u.dirs, a)
}

// finishDirs sets the owner, mode and mtime of every directory entry,
// deepest first, so that no later write disturbs an mtime and a
// directory made unwritable or unsearchable has its children done.
func (u *unpacker) finishDirs() error {
	slices.SortStableFunc(u.dirs, func(a, b dirAttr) int { return cmp.Compare(depth(b.name), depth(a.name)) })
	for _, a := range u.dirs {
		u.sweep()
		if err := u.finishDir(a); err != nil {
			return fmt.Errorf("unpack %s: %w", a.name, err)
		}
	}
	return nil
}

func (u *unpacker) finishDir(a dirAttr) error {
	parent, base := ".", "."
	if a.name != "." {
		parent, base = splitName(a.name)
	}
	pfd, err := u.dir(parent, false)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("openat", err)
	}
	if !u.opts.NoChown {
		err = os.NewSyscallError("fchown", unix.Fchown(fd, a.uid, a.gid))
	}
	if err == nil {
		err = os.NewSyscallError("fchmod", unix.Fchmod(fd, a.mode))
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return setTimes(pfd, base, a.mtime)
}

// xattrs sets the SCHILY.xattr.* PAX records of hdr with set.
func (u *unpacker) xattrs(hdr *tar.Header, set func(k string, v []byte) error) error {
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattrPrefix); ok {
			if err := u.setXattr(name, []byte(v), set); err != nil {
				return err
			}
		}
	}
	return nil
}

// setXattr sets one xattr; when lenient, security.* and trusted.* ones
// that the kernel or filesystem refuses are dropped.
func (u *unpacker) setXattr(k string, v []byte, set func(k string, v []byte) error) error {
	err := set(k, v)
	if err == nil {
		return nil
	}
	if u.lenient && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP)) &&
		(strings.HasPrefix(k, "security.") || strings.HasPrefix(k, "trusted.")) {
		return nil
	}
	return fmt.Errorf("setxattr %s: %w", k, err)
}

// setTimes sets atime and mtime of base in pfd to mtime, not following a symlink.
func setTimes(pfd int, base string, mtime time.Time) error {
	ts := unix.Timespec{Sec: mtime.Unix(), Nsec: int64(mtime.Nanosecond())}
	err := unix.UtimesNanoAt(pfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	return os.NewSyscallError("utimensat", err)
}

// cleanName checks a tar name (or hard-link target) and returns it cleaned,
// relative to the layer root: "." for the root itself.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafeEntry)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name", ErrUnsafeEntry)
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: \"..\" in the name", ErrUnsafeEntry)
		}
	}
	return path.Clean(name), nil
}

// splitName splits a cleaned name other than "." into its parent ("." at
// the top) and its last element.
func splitName(name string) (parent, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ".", name
	}
	return name[:i], name[i+1:]
}

func depth(name string) int {
	if name == "." {
		return -1
	}
	return strings.Count(name, "/")
}
