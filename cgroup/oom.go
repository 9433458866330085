package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is where the cgroup filesystems are mounted.
const Root = "/sys/fs/cgroup"

// OOMKills returns how many processes the kernel's OOM killer has killed
// in the cgroup at the absolute path (e.g. "/backendai/k1"), reading
// memory.events on cgroup v2 or memory.oom_control on v1. A cgroup that
// no longer exists reads as 0 with fs.ErrNotExist.
func OOMKills(root, path string) (int, error) {
	if root == "" {
		root = Root
	}
	if !filepath.IsAbs(path) {
		return 0, fmt.Errorf("cgroup path %q is not absolute", path)
	}
	candidates := []string{
		filepath.Join(root, path, "memory.events"),                // v2
		filepath.Join(root, "memory", path, "memory.oom_control"), // v1
	}
	for _, p := range candidates {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read oom kills: %w", err)
		}
		defer f.Close()
		return parseOOMKill(f)
	}
	return 0, fmt.Errorf("read oom kills of %s: %w", path, fs.ErrNotExist)
}

// parseOOMKill reads the "oom_kill N" line of memory.events or
// memory.oom_control.
func parseOOMKill(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "oom_kill" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return 0, fmt.Errorf("parse oom_kill %q: %w", v, err)
			}
			return n, nil
		}
	}
	return 0, sc.Err()
}
