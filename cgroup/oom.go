package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Root is where the cgroup filesystems are mounted.
const Root = "/sys/fs/cgroup"

// OOMKills returns how many processes the kernel's OOM killer has killed
// in the cgroup at the absolute path (e.g. "/backendai/k1"), reading
// memory.events on cgroup v2 or memory.oom_control on v1. A cgroup that
// no longer exists reads as 0 with an error matching ErrGone (and
// fs.ErrNotExist).
func OOMKills(root, path string) (int, error) {
	if root == "" {
		root = Root
	}
	if !filepath.IsAbs(path) {
		return 0, fmt.Errorf("cgroup path %q is not absolute", path)
	}
	candidates := []struct {
		path  string
		parse func([]byte, *Sample) error
	}{
		{filepath.Join(root, path, "memory.events"), parseMemoryEvents},              // v2
		{filepath.Join(root, "memory", path, "memory.oom_control"), parseOOMControl}, // v1
	}
	for _, c := range candidates {
		b, err := os.ReadFile(c.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read oom kills: %w", err)
		}
		var s Sample
		if err := c.parse(b, &s); err != nil {
			return 0, fmt.Errorf("read oom kills of %s: %w", path, err)
		}
		return int(s.OOMKills), nil
	}
	return 0, fmt.Errorf("read oom kills of %s: %w", path, ErrGone)
}
