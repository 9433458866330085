package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseOOMKill(t *testing.T) {
	for in, want := range map[string]int{
		"low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n": 2, // v2 memory.events
		"oom_kill_disable 0\nunder_oom 0\noom_kill 5\n":               5, // v1 memory.oom_control
		"oom_kill_disable 0\nunder_oom 0\n":                           0, // old v1 kernels
	} {
		got, err := parseOOMKill(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("parseOOMKill(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseOOMKill(strings.NewReader("oom_kill x\n")); err == nil {
		t.Error("bad number accepted")
	}
}

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
	if _, err := OOMKills(root, "/backendai/gone"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing cgroup: %v", err)
	}
	if _, err := OOMKills(root, "relative"); err == nil {
		t.Fatal("relative path accepted")
	}
}
