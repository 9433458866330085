package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestOOMKillsFindsV1AndV2(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "memory", "backendai", "k1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "memory", "backendai", "k1", "memory.oom_control"), []byte("oom_kill 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := OOMKills(root, "/backendai/k1"); err != nil || n != 1 {
		t.Fatalf("v1: %d, %v", n, err)
	}
	if err := os.MkdirAll(filepath.Join(root, "backendai", "k2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "backendai", "k2", "memory.events"), []byte("oom 1\noom_kill 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := OOMKills(root, "/backendai/k2"); err != nil || n != 3 {
		t.Fatalf("v2: %d, %v", n, err)
	}
	if _, err := OOMKills(root, "/backendai/gone"); !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrGone) {
		t.Fatalf("missing cgroup: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "backendai", "k2", "memory.events"), []byte("oom_kill x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OOMKills(root, "/backendai/k2"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad memory.events: %v", err)
	}
	if _, err := OOMKills(root, "relative"); err == nil {
		t.Fatal("relative path accepted")
	}
}
