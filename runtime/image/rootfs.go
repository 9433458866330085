package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// maxMountData is the kernel's limit on mount(2) option data: one page.
const maxMountData = 4096

// Rootfs is a kernel's mounted root filesystem.
type Rootfs struct {
	KernelID string
	// Target is the merged overlay mount point.
	Target string
	// Upper and Work are the overlay's writable directories, in the
	// kernel's scratch.
	Upper, Work string
}

// Mount assembles the rootfs of a kernel: an overlay with the image's
// layers as lower directories and upper/work directories under scratchDir
// (which must not be on overlayfs), mounted at scratchDir/rootfs. The
// layers are leased to the kernel first, so GC and Remove leave them alone
// until Unmount. Nothing is unpacked.
func (s *Store) Mount(ctx context.Context, kernelID, ref, scratchDir string) (*Rootfs, error) {
	img, err := s.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.MountImage(ctx, kernelID, img, scratchDir)
}

// MountImage is Mount for an image the caller has already looked up.
func (s *Store) MountImage(ctx context.Context, kernelID string, img *Image, scratchDir string) (*Rootfs, error) {
	ref := img.ID
	if err := validKernelID(kernelID); err != nil {
		return nil, err
	}
	if len(img.Layers) == 0 {
		return nil, fmt.Errorf("mount rootfs of %s: image has no layers", ref)
	}
	r := &Rootfs{
		KernelID: kernelID,
		Target:   filepath.Join(scratchDir, "rootfs"),
		Upper:    filepath.Join(scratchDir, "rootfs-upper"),
		Work:     filepath.Join(scratchDir, "rootfs-work"),
	}
	l := lease{KernelID: kernelID, Image: img.ID, Target: r.Target}
	for _, layer := range img.Layers {
		l.Layers = append(l.Layers, layer.DiffID)
	}
	if err := s.writeLease(l); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = s.removeLease(kernelID)
		}
	}()
	// The lease is on disk; a GC that started before it may still have
	// removed a layer, so check now.
	for _, layer := range img.Layers {
		if !s.hasLayer(layer.DiffID) {
			return nil, fmt.Errorf("mount rootfs of %s: layer %s is missing; pull the image again", ref, layer.DiffID)
		}
	}
	for _, d := range []string{r.Target, r.Upper, r.Work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("mount rootfs: %w", err)
		}
	}
	data, err := overlayData(img.Layers, r.Upper, r.Work)
	if err != nil {
		return nil, fmt.Errorf("mount rootfs of %s: %w", ref, err)
	}
	if err := inDir(s.root, func() error { return unix.Mount("overlay", r.Target, "overlay", 0, data) }); err != nil {
		return nil, fmt.Errorf("mount rootfs of %s at %s: %w", ref, r.Target, err)
	}
	ok = true
	return r, nil
}

// overlayData builds the overlay mount options. The lower directories are
// the layers' short links relative to the store root (the mount runs with
// the store root as its working directory), top-most layer first, which
// keeps the options well under a page for images of up to about 250 layers.
func overlayData(layers []Layer, upper, work string) (string, error) {
	lowers := make([]string, 0, len(layers))
	for i := len(layers) - 1; i >= 0; i-- {
		lowers = append(lowers, shortLink(layers[i].DiffID))
	}
	data := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work + ",index=off"
	if len(data) >= maxMountData {
		return "", fmt.Errorf("%d layers make overlay options of %d bytes, over the kernel's %d", len(layers), len(data), maxMountData)
	}
	return data, nil
}

// inDir runs fn on a thread of its own whose working directory is dir,
// leaving the process's working directory alone. The thread unshares its
// filesystem attributes and is discarded afterwards.
func inDir(dir string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// No UnlockOSThread: the thread's cwd differs from the process's,
		// so it must exit with this goroutine instead of being reused.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("unshare fs attributes: %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", dir, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Unmount unmounts a kernel's rootfs and releases its lease. The upper and
// work directories stay in the scratch, which the runtime removes with it.
// Unmounting what is not mounted is not an error.
func (s *Store) Unmount(ctx context.Context, kernelID string) error {
	if err := validKernelID(kernelID); err != nil {
		return err
	}
	l, err := s.readLease(kernelID)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := unix.Unmount(l.Target, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("unmount rootfs %s: %w", l.Target, err)
		}
		// Still busy (a process holds it): detach it, it goes away when
		// the last user does.
		if err := unix.Unmount(l.Target, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount rootfs %s: %w", l.Target, err)
		}
	}
	return s.removeLease(kernelID)
}

// Leases lists the kernels holding a rootfs, for recovery and sync.
func (s *Store) Leases(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "leases"))
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	var out []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			out = append(out, id)
		}
	}
	return out, nil
}

func validKernelID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return fmt.Errorf("invalid kernel id %q", id)
	}
	return nil
}

func (s *Store) leasePath(kernelID string) string {
	return filepath.Join(s.root, "leases", kernelID+".json")
}

func (s *Store) writeLease(l lease) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode lease: %w", err)
	}
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	// Not synced: after a host crash no kernel runs, so a lost lease
	// protects nothing; after an agent crash the page cache has it.
	if err := writeFileAtomic(s.leasePath(l.KernelID), b, false); err != nil {
		return fmt.Errorf("write lease of kernel %s: %w", l.KernelID, err)
	}
	return nil
}

func (s *Store) readLease(kernelID string) (lease, error) {
	var l lease
	b, err := os.ReadFile(s.leasePath(kernelID))
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("read lease of kernel %s: %w", kernelID, err)
	}
	return l, nil
}

func (s *Store) removeLease(kernelID string) error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if err := os.Remove(s.leasePath(kernelID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove lease of kernel %s: %w", kernelID, err)
	}
	return nil
}
