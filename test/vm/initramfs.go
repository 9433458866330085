package vm

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// DefaultBusybox is the host's static busybox (Debian busybox-static).
const DefaultBusybox = "/usr/bin/busybox"

// BusyboxApplets returns the applets that are linked to GuestBusybox.
func BusyboxApplets() []string {
	return []string{"sh", "ls", "cat", "mkdir", "echo", "mount", "umount", "sleep", "ps", "grep"}
}

// guestDirs returns the directories that every initramfs has.
func guestDirs() []string {
	return []string{"/bin", "/sbin", "/dev", "/proc", "/sys", "/tmp", "/run", "/root", "/etc", GuestTestsDir}
}

// File copies a host file or directory tree into the initramfs.
type File struct {
	// Src is the host path. A directory is copied with its contents;
	// symlinks are copied as symlinks.
	Src string
	// Dst is the absolute guest path.
	Dst string
}

// Initramfs describes a guest initramfs: vminit as /init, busybox, extra
// files, kernel modules and the run list. Write it with WriteTo or
// WriteFile as a gzip-compressed newc cpio archive.
type Initramfs struct {
	// Init is the host path of the static vminit binary; it becomes /init.
	Init string
	// Busybox is the host path of a static busybox; "" means
	// DefaultBusybox. It becomes GuestBusybox with BusyboxApplets()
	// linked to it.
	Busybox string
	// Files are extra host files and trees.
	Files []File
	// Modules are host paths of kernel modules (.ko, or .ko.xz/.ko.zst
	// when the kernel can decompress them). They are stored under
	// GuestModulesDir by base name and loaded in this order.
	Modules []string
	// RunList is what vminit runs.
	RunList RunList
}

// WriteFile writes the archive to path through a temporary file.
func (i *Initramfs) WriteFile(p string) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create initramfs: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := i.WriteTo(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write initramfs: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("rename initramfs: %w", err)
	}
	return nil
}

// WriteTo writes the gzip-compressed newc cpio archive to w. The count is
// of compressed bytes.
func (i *Initramfs) WriteTo(w io.Writer) (int64, error) {
	if i.Init == "" {
		return 0, errors.New("initramfs: no init binary")
	}
	runList, err := json.MarshalIndent(i.RunList, "", "  ")
	if err != nil {
		return 0, fmt.Errorf("encode run list: %w", err)
	}
	if _, err := ParseRunList(runList); err != nil {
		return 0, fmt.Errorf("initramfs: %w", err)
	}
	cw := &countingWriter{w: w}
	gz, err := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	if err != nil {
		return 0, fmt.Errorf("gzip initramfs: %w", err)
	}
	a := newArchive(gz)
	if err := i.fill(a, runList); err != nil {
		return cw.n, err
	}
	if err := a.close(); err != nil {
		return cw.n, fmt.Errorf("write initramfs: %w", err)
	}
	if err := gz.Close(); err != nil {
		return cw.n, fmt.Errorf("write initramfs: %w", err)
	}
	return cw.n, nil
}

// fill adds every entry.
func (i *Initramfs) fill(a *archive, runList []byte) error {
	for _, d := range guestDirs() {
		if err := a.dir(d, 0o755); err != nil {
			return err
		}
	}
	if err := a.hostFile("/init", i.Init, 0o755); err != nil {
		return err
	}
	busybox := i.Busybox
	if busybox == "" {
		busybox = DefaultBusybox
	}
	if err := a.hostFile(GuestBusybox, busybox, 0o755); err != nil {
		return err
	}
	for _, applet := range BusyboxApplets() {
		if err := a.symlink(path.Join(path.Dir(GuestBusybox), applet), path.Base(GuestBusybox)); err != nil {
			return err
		}
	}
	for _, f := range i.Files {
		if err := a.hostTree(f.Dst, f.Src); err != nil {
			return err
		}
	}
	if len(i.Modules) > 0 {
		var order strings.Builder
		for _, m := range i.Modules {
			dst := path.Join(GuestModulesDir, filepath.Base(m))
			if err := a.hostFile(dst, m, 0o644); err != nil {
				return err
			}
			order.WriteString(dst + "\n")
		}
		if err := a.bytes(GuestModulesOrderPath, []byte(order.String()), 0o644); err != nil {
			return err
		}
	}
	return a.bytes(GuestRunListPath, runList, 0o644)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

// Write implements io.Writer.
func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// archive writes cpio entries, creating parent directories on demand and
// refusing duplicate paths.
type archive struct {
	w    *cpio.Writer
	seen map[string]bool
}

func newArchive(w io.Writer) *archive {
	return &archive{w: cpio.NewWriter(w), seen: map[string]bool{}}
}

func (a *archive) close() error { return a.w.Close() }

// name turns an absolute guest path into an archive name ("bin/sh").
func name(guestPath string) (string, error) {
	if !path.IsAbs(guestPath) {
		return "", fmt.Errorf("initramfs: guest path %q is not absolute", guestPath)
	}
	n := strings.TrimPrefix(path.Clean(guestPath), "/")
	if n == "" {
		return "", fmt.Errorf("initramfs: guest path %q is the root", guestPath)
	}
	return n, nil
}

// parents adds the missing parent directories of n.
func (a *archive) parents(n string) error {
	dir := path.Dir(n)
	if dir == "." || a.seen[dir] {
		return nil
	}
	if err := a.parents(dir); err != nil {
		return err
	}
	a.seen[dir] = true
	return a.w.WriteHeader(&cpio.Header{Name: dir, Mode: cpio.TypeDir | 0o755, Links: 2})
}

// header writes the header of a new entry at guestPath.
func (a *archive) header(guestPath string, h *cpio.Header) error {
	n, err := name(guestPath)
	if err != nil {
		return err
	}
	if a.seen[n] {
		if h.Mode&cpio.ModeType == cpio.TypeDir {
			return nil // directories may be named twice
		}
		return fmt.Errorf("initramfs: %s added twice", guestPath)
	}
	if err := a.parents(n); err != nil {
		return fmt.Errorf("initramfs: %s: %w", guestPath, err)
	}
	a.seen[n] = true
	h.Name = n
	if err := a.w.WriteHeader(h); err != nil {
		return fmt.Errorf("initramfs: %s: %w", guestPath, err)
	}
	return nil
}

func (a *archive) dir(guestPath string, perm fs.FileMode) error {
	return a.header(guestPath, &cpio.Header{Mode: cpio.TypeDir | cpio.FileMode(perm.Perm()), Links: 2})
}

func (a *archive) symlink(guestPath, target string) error {
	if err := a.header(guestPath, &cpio.Header{Mode: cpio.TypeSymlink | 0o777, Size: int64(len(target)), Links: 1}); err != nil {
		return err
	}
	if _, err := io.WriteString(a.w, target); err != nil {
		return fmt.Errorf("initramfs: %s: %w", guestPath, err)
	}
	return nil
}

func (a *archive) bytes(guestPath string, data []byte, perm fs.FileMode) error {
	if err := a.header(guestPath, &cpio.Header{Mode: cpio.TypeReg | cpio.FileMode(perm.Perm()), Size: int64(len(data)), Links: 1}); err != nil {
		return err
	}
	if _, err := a.w.Write(data); err != nil {
		return fmt.Errorf("initramfs: %s: %w", guestPath, err)
	}
	return nil
}

// hostFile copies the regular host file src; perm 0 keeps its mode.
func (a *archive) hostFile(guestPath, src string, perm fs.FileMode) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s is not a regular file", src)
	}
	if perm == 0 {
		perm = st.Mode().Perm()
	}
	if err := a.header(guestPath, &cpio.Header{Mode: cpio.TypeReg | cpio.FileMode(perm.Perm()), Size: st.Size(), Links: 1}); err != nil {
		return err
	}
	if n, err := io.Copy(a.w, f); err != nil || n != st.Size() {
		return fmt.Errorf("initramfs: copy %s (%d of %d bytes): %w", src, n, st.Size(), err)
	}
	return nil
}

// hostTree copies a host file, symlink or directory tree to guestPath.
func (a *archive) hostTree(guestPath, src string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		dst := path.Join(guestPath, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		switch {
		case d.IsDir():
			return a.dir(dst, info.Mode())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
			return a.symlink(dst, target)
		case info.Mode().IsRegular():
			return a.hostFile(dst, p, 0)
		default:
			return fmt.Errorf("initramfs: %s: unsupported file type %v", p, info.Mode().Type())
		}
	})
}
