package netns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// threadNetNS is the network namespace file of the calling OS thread.
const threadNetNS = "/proc/thread-self/ns/net"

// NewPinned creates a new network namespace and pins it by bind-mounting
// its nsfs file onto path, which must not exist yet. The namespace lives
// until Remove(path), whether or not a process is in it, so it outlives the
// agent. The caller's thread never changes namespace: the work is done on a
// locked OS thread of its own, which is terminated if it cannot switch back.
func NewPinned(path string) error {
	h, fd, err := createPinned(path, false)
	if err != nil {
		return err
	}
	closePinned(h, fd)
	return nil
}

// Open opens the pinned network namespace at path and checks that it is
// one. The file is the namespace's handle (e.g. for setns or
// IFLA_NET_NS_FD); closing it does not end the namespace.
func Open(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open netns: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("open netns %s: statfs: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		f.Close()
		return nil, fmt.Errorf("open netns %s: not a namespace file (fs magic %#x)", path, st.Type)
	}
	return f, nil
}

// Remove unpins the namespace at path (a lazy unmount) and deletes the pin
// file. The kernel frees the namespace once nothing else holds it. Remove is
// idempotent: a missing pin or a pin file that is not mounted is fine.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unpin netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns pin: %w", err)
	}
	return nil
}

// Do runs fn on a locked OS thread that has joined the network namespace at
// nsPath, then switches the thread back. Sockets that fn creates stay in
// that namespace. If the thread cannot switch back it is never unlocked, so
// the Go runtime terminates it and no goroutine ever runs in the wrong
// namespace. The calling goroutine's thread is not touched.
func Do(nsPath string, fn func() error) error {
	target, err := Open(nsPath)
	if err != nil {
		return err
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := doLocked(int(target.Fd()), fn)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// doLocked switches the locked thread into target, runs fn and switches
// back. restored reports whether the thread is in its original namespace.
func doLocked(target int, fn func() error) (restored bool, err error) {
	orig, err := unix.Open(threadNetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("enter netns: %w", err)
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return false, errors.Join(fnErr, fmt.Errorf("restore netns (thread discarded): %w", err))
	}
	return true, fnErr
}

// createPinned makes a new namespace pinned at path on a thread of its own.
// With withHandle it also returns a netlink handle whose socket lives in the
// new namespace and an fd of the namespace; closePinned releases both.
func createPinned(path string, withHandle bool) (*netlink.Handle, int, error) {
	type result struct {
		h   *netlink.Handle
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		h, fd, restored, err := createPinnedLocked(path, withHandle)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{h, fd, err}
	}()
	r := <-done
	return r.h, r.fd, r.err
}

func createPinnedLocked(path string, withHandle bool) (h *netlink.Handle, fd int, restored bool, err error) {
	fd = -1
	orig, err := unix.Open(threadNetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, true, fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	pin, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return nil, -1, true, fmt.Errorf("create netns pin %s: %w", path, err)
	}
	unix.Close(pin)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		os.Remove(path)
		return nil, -1, true, fmt.Errorf("unshare netns: %w", err)
	}
	err = func() error {
		if err := unix.Mount(threadNetNS, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pin netns at %s: %w", path, err)
		}
		if !withHandle {
			return nil
		}
		if fd, err = unix.Open(threadNetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open new netns: %w", err)
		}
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("netlink handle in new netns: %w", err)
		}
		return nil
	}()
	restoreErr := unix.Setns(orig, unix.CLONE_NEWNET)
	if restoreErr != nil {
		err = errors.Join(err, fmt.Errorf("restore netns (thread discarded): %w", restoreErr))
	}
	if err != nil {
		closePinned(h, fd)
		if rmErr := Remove(path); rmErr != nil {
			err = errors.Join(err, rmErr)
		}
		return nil, -1, restoreErr == nil, err
	}
	return h, fd, true, nil
}

func closePinned(h *netlink.Handle, fd int) {
	if h != nil {
		h.Close()
	}
	if fd >= 0 {
		unix.Close(fd)
	}
}

// ResolvConf returns the host's resolv.conf without loopback nameservers
// (127.0.0.0/8 and ::1), which would point into the kernel's own namespace
// where no resolver listens. Every other line is kept as it is.
func ResolvConf(hostResolv []byte) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(hostResolv))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			addr, _, _ := strings.Cut(f[1], "%")
			if a, err := netip.ParseAddr(addr); err == nil && a.Unmap().IsLoopback() {
				continue
			}
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}
