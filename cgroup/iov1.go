package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// neverBitesBps is a throttle of 1 TiB/s: a rule that limits nothing.
const neverBitesBps = "1099511627776"

// EnableV1IOAccounting makes cgroup v1 account the block I/O of the
// cgroups under the absolute path (the agent's own root, e.g.
// "/backendai", created if missing): kernels since 6.10 account v1 block
// I/O only on a disk that has a throttle rule, so each disk gets a write
// rule of 1 TiB/s there, which never bites. It returns the devices
// ("MAJ:MIN") it set; on cgroup v2 it does nothing. root "" means Root.
func EnableV1IOAccounting(root, path string) ([]string, error) {
	if root == "" {
		root = Root
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("cgroup path %q is not absolute", path)
	}
	mode, err := DetectMode(root)
	if err != nil || mode != ModeV1 {
		return nil, err
	}
	dir := filepath.Join(root, "blkio", path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("enable v1 block I/O accounting: %w", err)
	}
	disks, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, fmt.Errorf("enable v1 block I/O accounting: %w", err)
	}
	var set []string
	var errs []error
	for _, d := range disks {
		if strings.HasPrefix(d.Name(), "ram") || strings.HasPrefix(d.Name(), "zram") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/block", d.Name(), "dev"))
		if err != nil {
			continue
		}
		dev := strings.TrimSpace(string(b))
		rule := filepath.Join(dir, "blkio.throttle.write_bps_device")
		if err := os.WriteFile(rule, []byte(dev+" "+neverBitesBps), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", d.Name(), dev, err))
			continue
		}
		set = append(set, dev)
	}
	if len(set) == 0 && len(errs) > 0 {
		return nil, fmt.Errorf("enable v1 block I/O accounting: %w", errors.Join(errs...))
	}
	return set, nil
}
