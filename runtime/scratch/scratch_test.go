package scratch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists what lies in dir, as text.
func entries(t *testing.T, dir string) string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "<none>"
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return strings.Join(names, " ")
}

func TestHostDirLifecycle(t *testing.T) {
	root := filepath.Join(t.TempDir(), "scratches")
	o := Options{Root: root, Type: HostDir, UID: -1, GID: -1}
	ctx := t.Context()
	s, err := Create(ctx, o, "k-1")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := Scratch{KernelID: "k-1", Dir: root + "/k-1", ConfigDir: root + "/k-1/config", WorkDir: root + "/k-1/work", Type: HostDir}
	if *s != want {
		t.Errorf("Create = %+v, want %+v", *s, want)
	}
	if got := entries(t, s.Dir); got != "config work" {
		t.Errorf("scratch holds %q, want config and work", got)
	}
	if err := os.WriteFile(filepath.Join(s.WorkDir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(ctx, o, "k-1"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Create error %v, want one wrapping fs.ErrExist", err)
	}
	if got := entries(t, s.WorkDir); got != "f" {
		t.Errorf("failed second Create touched the first scratch: work holds %q", got)
	}
	o2, err := Open(o, "k-1")
	if err != nil || *o2 != want {
		t.Errorf("Open = %+v, %v; want %+v", o2, err, want)
	}
	if err := s.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got := entries(t, root); got != "" {
		t.Errorf("root after Remove holds %q", got)
	}
	if err := s.Remove(ctx); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := Open(o, "k-1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open after Remove error %v, want fs.ErrNotExist", err)
	}
}

func TestOwnerOfOwnIDs(t *testing.T) {
	// Chowning to one's own ids needs no privilege; the privileged tier
	// checks other ids.
	root := t.TempDir()
	s, err := Create(t.Context(), Options{Root: root, Type: HostDir, UID: os.Getuid(), GID: os.Getgid()}, "k")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for _, d := range []string{s.ConfigDir, s.WorkDir} {
		st, err := os.Stat(d)
		if err != nil || st.Mode() != fs.ModeDir|0o755 {
			t.Errorf("%s: %v, %v; want a 0755 directory", d, st.Mode(), err)
		}
	}
}

func TestCreateRejects(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		o    Options
		kid  string
		want string
	}{
		{"empty id", Options{Root: root, Type: HostDir}, "", "not path-safe"},
		{"dot", Options{Root: root, Type: HostDir}, ".", "not path-safe"},
		{"dotdot", Options{Root: root, Type: HostDir}, "..", "not path-safe"},
		{"slash", Options{Root: root, Type: HostDir}, "a/b", "not path-safe"},
		{"escape", Options{Root: root, Type: HostDir}, "../x", "not path-safe"},
		{"hidden", Options{Root: root, Type: HostDir}, ".k", "not path-safe"},
		{"space", Options{Root: root, Type: HostDir}, "a b", "not path-safe"},
		{"newline", Options{Root: root, Type: HostDir}, "k\n", "not path-safe"},
		{"image-like", Options{Root: root, Type: HostDir}, "k.img", "not path-safe"},
		{"too long", Options{Root: root, Type: HostDir}, strings.Repeat("a", 129), "not path-safe"},
		{"relative root", Options{Root: "scratch", Type: HostDir}, "k", "not absolute"},
		{"unknown type", Options{Root: root, Type: "nfs"}, "k", `unknown scratch type "nfs"`},
		{"memory without size", Options{Root: root, Type: Memory}, "k", "memory needs a positive size, not 0"},
		{"hostfile without size", Options{Root: root, Type: HostFile, Size: -1}, "k", "hostfile needs a positive size, not -1"},
		{"bad owner", Options{Root: root, Type: HostDir, UID: -2}, "k", "owner -2:0 out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Create(t.Context(), tc.o, tc.kid)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Create error %v, want %q", err, tc.want)
			}
			if _, err := Open(tc.o, tc.kid); err == nil {
				t.Errorf("Open accepted what Create refused")
			}
			if got := entries(t, root); got != "" {
				t.Errorf("root holds %q after a refused Create", got)
			}
		})
	}
}

func TestHostDirRollback(t *testing.T) {
	for _, step := range []string{"start", "dir", "mount", "layout"} {
		t.Run(step, func(t *testing.T) {
			root := t.TempDir()
			boom := errors.New("boom")
			o := Options{Root: root, Type: HostDir, UID: -1, GID: -1, failAt: func(s string) error {
				if s == step {
					return boom
				}
				return nil
			}}
			if _, err := Create(t.Context(), o, "k"); !errors.Is(err, boom) {
				t.Fatalf("Create error %v, want the injected one", err)
			}
			if got := entries(t, root); got != "" {
				t.Errorf("root holds %q after a failed Create", got)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		root := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := Create(ctx, Options{Root: root, Type: HostDir}, "k"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Create error %v, want context.Canceled", err)
		}
		if got := entries(t, root); got != "" {
			t.Errorf("root holds %q after a cancelled Create", got)
		}
	})
}

func TestOpenRejects(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "half", "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(t.Context(), Options{Root: root, Type: HostDir, UID: -1, GID: -1}, "plain"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kid string
		typ       Type
		want      string
	}{
		{"missing", "nope", HostDir, "no such file"},
		{"no work", "half", HostDir, "no such file"},
		{"not a tmpfs", "plain", Memory, "is not a memory scratch mount"},
		{"not an image mount", "plain", HostFile, "is not a hostfile scratch mount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(Options{Root: root, Type: tc.typ}, tc.kid)
			if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open error %v, want fs.ErrNotExist and %q", err, tc.want)
			}
		})
	}
}

func TestRemoveRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	s := &Scratch{KernelID: "k", Dir: dir, Type: HostDir}
	if err := s.Remove(t.Context()); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("Remove error %v, want a refusal", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("Remove touched a foreign directory: %v", err)
	}
}

func TestWriteEnviron(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "environ.txt")
	if err := os.WriteFile(path, []byte("OLD=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"LANG=C.UTF-8", "BACKENDAI_KERNEL_ID=k", "EMPTY=", "EQ=a=b"}
	if err := WriteEnviron(path, env); err != nil {
		t.Fatalf("WriteEnviron: %v", err)
	}
	got, err := os.ReadFile(path)
	if want := "LANG=C.UTF-8\nBACKENDAI_KERNEL_ID=k\nEMPTY=\nEQ=a=b\n"; err != nil || string(got) != want {
		t.Errorf("environ.txt = %q, %v; want %q", got, err, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("environ.txt mode %v, %v; want 0644", st.Mode(), err)
	}
	for _, bad := range []string{"NOVALUE", "=x", "A=b\nC=d"} {
		if err := WriteEnviron(path, []string{"OK=1", bad}); err == nil {
			t.Errorf("WriteEnviron accepted %q", bad)
		}
	}
	if got := entries(t, dir); got != "environ.txt" {
		t.Errorf("directory holds %q: temporary files left behind", got)
	}
	if got, _ := os.ReadFile(path); string(got) != "LANG=C.UTF-8\nBACKENDAI_KERNEL_ID=k\nEMPTY=\nEQ=a=b\n" {
		t.Errorf("a refused WriteEnviron changed the file to %q", got)
	}
}
