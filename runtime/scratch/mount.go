package scratch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// isMountRoot reports whether path is the root of a mount. It asks statx
// for STATX_ATTR_MOUNT_ROOT and falls back to comparing the device with
// the parent's. A missing path is an error wrapping fs.ErrNotExist.
func isMountRoot(path string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
	}
	var parent unix.Stat_t
	if err := unix.Lstat(filepath.Dir(path), &parent); err != nil {
		return false, &os.PathError{Op: "lstat", Path: filepath.Dir(path), Err: err}
	}
	return unix.Mkdev(stx.Dev_major, stx.Dev_minor) != parent.Dev, nil
}

// unmount unmounts whatever is mounted on dir, down to dir itself. A dir
// that is missing or not a mount point is left as it is. A busy mount is
// an error: it is not detached lazily, as something still uses it.
func unmount(dir string) error {
	for range 16 {
		root, err := isMountRoot(dir)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !root {
			return nil
		}
		if err := unix.Unmount(dir, unix.UMOUNT_NOFOLLOW); err != nil && !errors.Is(err, unix.EINVAL) {
			return &os.PathError{Op: "unmount", Path: dir, Err: err}
		}
	}
	return fmt.Errorf("unmount %s: still a mount point after 16 unmounts", dir)
}
