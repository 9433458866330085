package scratch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// loopMajor is the block major number of loop devices.
const loopMajor = 7

// loopWait bounds the wait for a loop device to come unbound.
const loopWait = 5 * time.Second

// loopDev is a loop device bound to an image, held open.
type loopDev struct {
	dev   string // /dev/loopN
	index int
	img   string // backing file as bound
	f     *os.File
}

// attachLoop binds a free loop device to img, with autoclear set (the
// device detaches itself once nothing holds it: neither a mount nor an
// open descriptor), and returns it held open.
func attachLoop(img string) (*loopDev, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	backing, err := os.OpenFile(img, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer backing.Close()
	bound := img // as sysfs will show it: with symlinks resolved
	if r, err := filepath.EvalSymlinks(img); err == nil {
		bound = r
	}
	for range 16 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("find a free loop device: %w", err)
		}
		l := &loopDev{dev: "/dev/loop" + strconv.Itoa(n), index: n, img: bound}
		if l.f, err = openLoop(l.dev, n); err != nil {
			return nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(backing.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], img)
		err = unix.IoctlLoopConfigure(int(l.f.Fd()), &cfg)
		if err == nil {
			return l, nil
		}
		_ = l.f.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("bind %s to %s: %w", l.dev, img, err)
		}
		// Another binder took the device between GET_FREE and CONFIGURE.
	}
	return nil, fmt.Errorf("bind a loop device to %s: every free device was taken first", img)
}

// openLoop opens /dev/loopN, making its node when /dev lacks it (a /dev
// without udev).
func openLoop(dev string, n int) (*os.File, error) {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	if err := unix.Mknod(dev, unix.S_IFBLK|0o660, int(unix.Mkdev(loopMajor, uint32(n)))); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mknod", Path: dev, Err: err}
	}
	return os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
}

// release closes the held descriptor, leaving the binding to autoclear.
func (l *loopDev) release() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// detach unbinds the device, closes it and waits until it is unbound.
// Once released, it only waits for the autoclear.
func (l *loopDev) detach(ctx context.Context) error {
	if l.f == nil {
		return waitUnbound(ctx, l.index, l.img)
	}
	err := unix.IoctlSetInt(int(l.f.Fd()), unix.LOOP_CLR_FD, 0)
	if errors.Is(err, unix.ENXIO) {
		err = nil // already unbound
	}
	if cerr := l.release(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("detach %s: %w", l.dev, err)
	}
	return waitUnbound(ctx, l.index, l.img)
}

// backingFile returns the file loop device n is bound to, or "" when it is
// unbound.
func backingFile(n int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/sys/block/loop%d/loop/backing_file", n))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), " (deleted)"), nil
}

// waitUnbound waits until loop device n is no longer bound to img (the
// kernel may finish an autoclear detach after the last close returns).
func waitUnbound(ctx context.Context, n int, img string) error {
	ctx, cancel := context.WithTimeout(ctx, loopWait)
	defer cancel()
	for {
		f, err := backingFile(n)
		if err != nil {
			return err
		}
		if f != img {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for /dev/loop%d to detach from %s: %w", n, img, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// detachLoopsOf detaches every loop device bound to img (after a crash,
// or when an unmount left the autoclear undone) and waits until they are
// unbound. A device is detached only when the inode it is bound to is
// img's, so that a device reused meanwhile is left alone.
func detachLoopsOf(ctx context.Context, img string) error {
	dir, err := filepath.EvalSymlinks(filepath.Dir(img))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	img = filepath.Join(dir, filepath.Base(img))
	var st unix.Stat_t
	haveIno := unix.Stat(img, &st) == nil
	devs, err := filepath.Glob("/sys/block/loop[0-9]*")
	if err != nil {
		return err
	}
	for _, d := range devs {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "loop"))
		if err != nil {
			continue
		}
		if f, err := backingFile(n); err != nil || f != img {
			continue
		}
		l := &loopDev{dev: "/dev/loop" + strconv.Itoa(n), index: n, img: img}
		if l.f, err = openLoop(l.dev, n); err != nil {
			return err
		}
		info, err := unix.IoctlLoopGetStatus64(int(l.f.Fd()))
		if errors.Is(err, unix.ENXIO) || (err == nil && haveIno && info.Inode != st.Ino) {
			_ = l.release() // unbound or rebound to another file meanwhile
			continue
		}
		if err != nil {
			_ = l.release()
			return fmt.Errorf("read status of %s: %w", l.dev, err)
		}
		if err := l.detach(ctx); err != nil {
			return err
		}
	}
	return nil
}
