package stats

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// diskUsage is the space of one filesystem, in bytes.
type diskUsage struct {
	used, capacity Decimal
}

// statfsFunc returns the space of the filesystem mounted at a path.
type statfsFunc func(path string) (diskUsage, error)

// statfs is upstream's reading of os.statvfs: used = fragment size ×
// (blocks − blocks available to unprivileged users), so the root-reserved
// blocks count as used; capacity = fragment size × blocks.
func statfs(mountPoint string) (diskUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(mountPoint, &st); err != nil {
		return diskUsage{}, &fs.PathError{Op: "statfs", Path: mountPoint, Err: err}
	}
	frsize := int64(st.Frsize)
	if frsize <= 0 {
		frsize = int64(st.Bsize)
	}
	size := DecimalFromInt(frsize)
	blocks := DecimalFromUint(st.Blocks)
	return diskUsage{
		used:     size.mul(blocks.sub(DecimalFromUint(st.Bavail))),
		capacity: size.mul(blocks),
	}, nil
}

// prunedFSType reports the device-backed filesystem types upstream
// leaves out of "disk": EFI partitions, LXCFS, squashfs images (snaps),
// tmpfs and CD-ROMs.
func prunedFSType(fstype string) bool {
	switch fstype {
	case "vfat", "lxcfs", "squashfs", "tmpfs", "iso9660":
		return true
	}
	return false
}

// diskCandidates returns the mounts that count as the node's disks, in
// mount order, following psutil's disk_partitions(all=False) and
// upstream's pruning:
//   - the type is backed by a block device (deviceFS, from
//     /proc/filesystems): this drops proc, sysfs, cgroup, overlay, nsfs,
//     nfs and every other pseudo or network filesystem without a list
//     that would go stale;
//   - the source is a device name, not empty or "none";
//   - the type is not one upstream prunes;
//   - the mount point is not below one of the excluded directories (the
//     agent's scratch root and image store, where kernel rootfs overlays
//     and loop-mounted scratch files live). The directory itself counts,
//     as upstream keeps Docker's graph root but not what is below it.
//
// Mounts of the same source are not merged here: the first one whose
// statfs succeeds wins, as upstream.
func diskCandidates(mounts []mount, deviceFS map[string]bool, exclude []string) []mount {
	var out []mount
	for _, m := range mounts {
		if !deviceFS[m.fstype] || m.source == "" || m.source == "none" || prunedFSType(m.fstype) {
			continue
		}
		if underAny(m.point, exclude) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// underAny reports whether p lies strictly below one of the directories.
func underAny(p string, dirs []string) bool {
	p = filepath.Clean(p)
	for _, d := range dirs {
		if d == "" {
			continue
		}
		d = filepath.Clean(d)
		if d == "/" {
			if p != "/" {
				return true
			}
			continue
		}
		if strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// diskUsages statfs-es the candidates and returns the space of each
// distinct source, skipping mount points it cannot read (upstream skips
// them too).
func diskUsages(candidates []mount, stat statfsFunc) map[string]diskUsage {
	out := make(map[string]diskUsage)
	for _, m := range candidates {
		if _, seen := out[m.source]; seen {
			continue
		}
		u, err := stat(m.point)
		if err != nil {
			continue
		}
		out[m.source] = u
	}
	return out
}

// readDisks reads the node's partitions under procRoot and their space.
func readDisks(procRoot string, exclude []string, stat statfsFunc) (map[string]diskUsage, error) {
	deviceFS, err := parseFile(filepath.Join(procRoot, "filesystems"), parseFilesystems)
	if err != nil {
		return nil, fmt.Errorf("disk filesystem types: %w", err)
	}
	mounts, err := parseFile(filepath.Join(procRoot, "self", "mountinfo"), parseMountinfo)
	if err != nil {
		return nil, fmt.Errorf("disk mounts: %w", err)
	}
	return diskUsages(diskCandidates(mounts, deviceFS, exclude), stat), nil
}
