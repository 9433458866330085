package scratch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Type is container.scratch-type: what backs a kernel's scratch directory.
type Type string

// Scratch types.
const (
	// HostDir is a plain directory on the host's filesystem.
	HostDir Type = "hostdir"
	// Memory is a tmpfs of Options.Size bytes mounted on the directory.
	Memory Type = "memory"
	// HostFile is a sparse ext4 image of Options.Size bytes,
	// <root>/<kernel id>.img, loop-mounted on the directory.
	HostFile Type = "hostfile"
)

// Options configure scratch directories.
type Options struct {
	// Root is container.scratch-root, an absolute path.
	Root string
	// Type is container.scratch-type.
	Type Type
	// Size is container.scratch-size in bytes: the tmpfs size for Memory,
	// the image size for HostFile (both require it positive); unused for
	// HostDir.
	Size int64
	// UID and GID own work/ and config/ (kernel-uid, kernel-gid); -1
	// leaves that id as it is (root).
	UID, GID int
	// Mkfs is the mkfs.ext4 program for HostFile; empty looks "mkfs.ext4"
	// up in PATH.
	Mkfs string

	// failAt, set by tests only, is called after each step of Create with
	// the step's name; an error from it fails Create there.
	failAt func(step string) error
}

// Scratch is one kernel's scratch directory.
type Scratch struct {
	// KernelID names the kernel.
	KernelID string
	// Dir is <root>/<kernel id>; for Memory and HostFile, a mount point.
	Dir string
	// ConfigDir is Dir/config, bind-mounted read-only at /home/config.
	ConfigDir string
	// WorkDir is Dir/work, bind-mounted read-write at /home/work.
	WorkDir string
	// Type is what backs Dir.
	Type Type
}

// validKernelID is what a kernel id may be to name files under the root: a
// Backend.AI kernel id is a UUID. (A loop: compiling a `{0,127}` regexp
// costs every process a millisecond at start.)
func validKernelID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || i > 0 && (c == '_' || c == '-') {
			continue
		}
		return false
	}
	return true
}

// check validates the options and the kernel id; sized says whether the
// size is needed (Create) or not (Open).
func (o Options) check(kernelID string, sized bool) error {
	if !validKernelID(kernelID) {
		return fmt.Errorf("kernel id %q is not path-safe (letters, digits, - and _, at most 128)", kernelID)
	}
	if !filepath.IsAbs(o.Root) {
		return fmt.Errorf("scratch root %q is not absolute", o.Root)
	}
	switch o.Type {
	case HostDir:
	case Memory, HostFile:
		if sized && o.Size <= 0 {
			return fmt.Errorf("scratch type %s needs a positive size, not %d", o.Type, o.Size)
		}
	default:
		return fmt.Errorf("unknown scratch type %q", o.Type)
	}
	if o.UID < -1 || o.GID < -1 || o.UID > 1<<32-2 || o.GID > 1<<32-2 {
		return fmt.Errorf("owner %d:%d out of range", o.UID, o.GID)
	}
	return nil
}

// describe names the paths of a kernel's scratch.
func (o Options) describe(kernelID string) *Scratch {
	dir := filepath.Join(filepath.Clean(o.Root), kernelID)
	return &Scratch{
		KernelID:  kernelID,
		Dir:       dir,
		ConfigDir: filepath.Join(dir, "config"),
		WorkDir:   filepath.Join(dir, "work"),
		Type:      o.Type,
	}
}

// image is the path of the kernel's HostFile image, <root>/<kernel id>.img.
func (s *Scratch) image() string {
	return filepath.Join(filepath.Dir(s.Dir), s.KernelID+".img")
}

// Create makes the scratch of a kernel: <root>/<kernel id>/ with config/
// and work/ in it, owned by o.UID:o.GID; for Memory a tmpfs of o.Size
// bytes is mounted on it first, for HostFile a sparse ext4 image
// <root>/<kernel id>.img of o.Size bytes through a loop device (set to
// detach itself when unmounted). The directory must not exist. On any
// failure everything done is undone: no directory, mount, loop device or
// image is left.
func Create(ctx context.Context, o Options, kernelID string) (*Scratch, error) {
	if err := o.check(kernelID, true); err != nil {
		return nil, fmt.Errorf("create scratch of kernel %s: %w", kernelID, err)
	}
	s := o.describe(kernelID)
	var undo []func() error
	if err := s.create(ctx, o, &undo); err != nil {
		errs := []error{fmt.Errorf("create scratch of kernel %s: %w", kernelID, err)}
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				errs = append(errs, fmt.Errorf("undo scratch of kernel %s: %w", kernelID, uerr))
			}
		}
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// create does Create's steps, pushing the undo of each on undo.
func (s *Scratch) create(ctx context.Context, o Options, undo *[]func() error) error {
	step := func(name string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.failAt != nil {
			return o.failAt(name)
		}
		return nil
	}
	if err := step("start"); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		return err
	}
	*undo = append(*undo, func() error { return removeDir(s.Dir) })
	if err := step("dir"); err != nil {
		return err
	}
	var lp *loopDev
	switch s.Type {
	case Memory:
		opts := fmt.Sprintf("size=%d,mode=0755", o.Size)
		if err := unix.Mount("tmpfs", s.Dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", s.Dir, err)
		}
		*undo = append(*undo, func() error { return unmount(s.Dir) })
	case HostFile:
		var err error
		if lp, err = s.createImage(ctx, o, undo, step); err != nil {
			return err
		}
	}
	if err := step("mount"); err != nil {
		return err
	}
	for _, d := range []string{s.ConfigDir, s.WorkDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
		if o.UID != -1 || o.GID != -1 {
			if err := os.Lchown(d, o.UID, o.GID); err != nil {
				return err
			}
		}
	}
	if err := step("layout"); err != nil {
		return err
	}
	if lp != nil {
		// Leave the loop device to its autoclear: it detaches itself when
		// the scratch is unmounted.
		return lp.release()
	}
	return nil
}

// createImage makes, formats and mounts the HostFile image. It returns the
// loop device still held open, for Create to release once all is done.
func (s *Scratch) createImage(ctx context.Context, o Options, undo *[]func() error, step func(string) error) (*loopDev, error) {
	img := s.image()
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	*undo = append(*undo, func() error { return removeFile(img) })
	err = f.Truncate(o.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := step("image"); err != nil {
		return nil, err
	}
	mkfs := o.Mkfs
	if mkfs == "" {
		mkfs = "mkfs.ext4"
	}
	// -m 0: no blocks reserved for root, the kernel's user is not root.
	if out, err := exec.CommandContext(ctx, mkfs, "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("format %s with %s: %w: %s", img, mkfs, err, strings.TrimSpace(string(out)))
	}
	if err := step("mkfs"); err != nil {
		return nil, err
	}
	lp, err := attachLoop(img)
	if err != nil {
		return nil, err
	}
	// The descriptor stays open until Create ends, so that the device
	// stays ours: the undo detaches it through the descriptor.
	*undo = append(*undo, func() error { return lp.detach(context.WithoutCancel(ctx)) })
	if err := step("loop"); err != nil {
		return nil, err
	}
	if err := unix.Mount(lp.dev, s.Dir, "ext4", unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return nil, fmt.Errorf("mount %s on %s: %w", lp.dev, s.Dir, err)
	}
	*undo = append(*undo, func() error { return unmount(s.Dir) })
	return lp, step("loop-mounted")
}

// Open describes the existing scratch of a kernel, for recovery, without
// changing it: the directory with config/ and work/ must exist and, for
// Memory and HostFile, be a tmpfs or ext4 mount. o.Size is not needed.
func Open(o Options, kernelID string) (*Scratch, error) {
	if err := o.check(kernelID, false); err != nil {
		return nil, fmt.Errorf("open scratch of kernel %s: %w", kernelID, err)
	}
	s := o.describe(kernelID)
	for _, d := range []string{s.Dir, s.ConfigDir, s.WorkDir} {
		st, err := os.Lstat(d)
		if err != nil {
			return nil, fmt.Errorf("open scratch of kernel %s: %w", kernelID, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("open scratch of kernel %s: %s is not a directory", kernelID, d)
		}
	}
	want := map[Type]int64{Memory: unix.TMPFS_MAGIC, HostFile: unix.EXT4_SUPER_MAGIC}[s.Type]
	if want != 0 {
		root, err := isMountRoot(s.Dir)
		if err != nil {
			return nil, fmt.Errorf("open scratch of kernel %s: %w", kernelID, err)
		}
		var st unix.Statfs_t
		if err := unix.Statfs(s.Dir, &st); err != nil {
			return nil, fmt.Errorf("open scratch of kernel %s: statfs %s: %w", kernelID, s.Dir, err)
		}
		if !root || st.Type != want {
			return nil, fmt.Errorf("open scratch of kernel %s: %s is not a %s scratch mount: %w", kernelID, s.Dir, s.Type, fs.ErrNotExist)
		}
	}
	return s, nil
}

// Remove deletes the scratch: it unmounts the directory if it is a mount
// point (tmpfs or loop), detaches any loop device still bound to the
// kernel's image, removes the image and the directory. What is already
// gone is skipped, so Remove may be called again after a failure; it
// cleans up whatever the scratch type, in case the configuration changed.
func (s *Scratch) Remove(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove scratch of kernel %s: %w", s.KernelID, err)
	}
	if !validKernelID(s.KernelID) || filepath.Base(s.Dir) != s.KernelID {
		return fmt.Errorf("remove scratch of kernel %s: directory %q does not belong to it", s.KernelID, s.Dir)
	}
	if err := unmount(s.Dir); err != nil {
		return fmt.Errorf("remove scratch of kernel %s: %w", s.KernelID, err)
	}
	if err := detachLoopsOf(ctx, s.image()); err != nil {
		return fmt.Errorf("remove scratch of kernel %s: %w", s.KernelID, err)
	}
	if err := removeFile(s.image()); err != nil {
		return fmt.Errorf("remove scratch of kernel %s: %w", s.KernelID, err)
	}
	if err := removeDir(s.Dir); err != nil {
		return fmt.Errorf("remove scratch of kernel %s: %w", s.KernelID, err)
	}
	return nil
}

// removeFile removes a file; a missing one is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// removeDir removes a directory tree, refusing to when it is still a mount
// point (its content would be the mount's).
func removeDir(dir string) error {
	root, err := isMountRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if root {
		return fmt.Errorf("remove %s: still a mount point", dir)
	}
	return os.RemoveAll(dir)
}
