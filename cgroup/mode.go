package cgroup

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Mode is the layout of the cgroup filesystems under the mount root.
type Mode int

// The layouts that the package reads.
const (
	// ModeV1 is the legacy or hybrid layout: one hierarchy per controller
	// at <root>/<controller>, so a cgroup /backendai/k1 has its memory
	// files in <root>/memory/backendai/k1. A hybrid host's extra cgroup2
	// hierarchy (<root>/unified, without controllers) is ignored.
	ModeV1 Mode = iota + 1
	// ModeV2 is the unified layout: <root> is a cgroup2 mount and the
	// cgroup /backendai/k1 is the directory <root>/backendai/k1.
	ModeV2
)

// String returns "v1" or "v2".
func (m Mode) String() string {
	switch m {
	case ModeV1:
		return "v1"
	case ModeV2:
		return "v2"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// DetectMode tells the layout of the cgroup filesystems mounted at root
// ("" means Root) from the filesystem type of root: cgroup2 is ModeV2, a
// tmpfs holding the v1 hierarchies is ModeV1. Detect it once and pass it
// to OpenMode when opening many readers.
func DetectMode(root string) (Mode, error) {
	if root == "" {
		root = Root
	}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return 0, fmt.Errorf("detect cgroup mode: statfs %s: %w", root, err)
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		return ModeV2, nil
	case unix.TMPFS_MAGIC:
		return ModeV1, nil
	}
	return 0, fmt.Errorf("detect cgroup mode: %s is neither cgroup2 nor a tmpfs of v1 hierarchies (fs magic %#x)", root, st.Type)
}
