package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestWorkUserFromEnv(t *testing.T) {
	u, err := WorkUserFromEnv(envOf(nil), "/home/work")
	if err != nil || u.UID != 9001 || u.GID != 9001 || len(u.Groups) != 0 || u.Root() {
		t.Fatalf("defaults: %+v, %v", u, err)
	}
	u, err = WorkUserFromEnv(envOf(map[string]string{"LOCAL_USER_ID": "1000", "LOCAL_GROUP_ID": "100", "ADDITIONAL_GIDS": "44, 100,,27,44"}), "/home/work")
	if err != nil || u.UID != 1000 || u.GID != 100 || len(u.Groups) != 2 || u.Groups[0] != 44 || u.Groups[1] != 27 {
		t.Fatalf("given: %+v, %v", u, err)
	}
	if u, _ := WorkUserFromEnv(envOf(map[string]string{"LOCAL_USER_ID": "0"}), "/home/work"); !u.Root() {
		t.Error("LOCAL_USER_ID=0 is not root mode")
	}
	for _, bad := range []map[string]string{{"LOCAL_USER_ID": "-1"}, {"LOCAL_GROUP_ID": "work"}, {"ADDITIONAL_GIDS": "1,x"}} {
		if _, err := WorkUserFromEnv(envOf(bad), "/home/work"); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestSetupAccounts(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nwork:x:500:500:old:/home/work:/bin/false\n")
	write(t, root, "etc/group", "root:x:0:\nvideo:x:44:\nusers:x:100:alice\nwork:x:500:\n")
	write(t, root, "bin/ash", "")
	u := WorkUser{UID: 1000, GID: 1000, Groups: []int{44, 27}, Home: "/home/work"}
	if err := SetupAccounts(root, &u); err != nil {
		t.Fatal(err)
	}
	if u.Shell != "/bin/ash" {
		t.Errorf("shell %q", u.Shell)
	}
	wantPasswd := "root:x:0:0:root:/root:/bin/sh\nwork:x:1000:1000:User:/home/work:/bin/ash\n"
	if got := read(t, root, "etc/passwd"); got != wantPasswd {
		t.Errorf("passwd:\n%s\nwant:\n%s", got, wantPasswd)
	}
	wantGroup := "root:x:0:\nvideo:x:44:work\nusers:x:100:alice\nwork:x:1000:\nwork27:x:27:work\n"
	if got := read(t, root, "etc/group"); got != wantGroup {
		t.Errorf("group:\n%s\nwant:\n%s", got, wantGroup)
	}
	// Idempotent: a restarted kernel runs it again.
	if err := SetupAccounts(root, &u); err != nil {
		t.Fatal(err)
	}
	if got := read(t, root, "etc/group"); got != wantGroup {
		t.Errorf("group after a second run:\n%s", got)
	}

	// An existing group with the GID keeps its name; no files at all is fine.
	empty := t.TempDir()
	u = WorkUser{UID: 1000, GID: 100, Home: "/home/work"}
	if err := SetupAccounts(empty, &u); err != nil {
		t.Fatal(err)
	}
	if got := read(t, empty, "etc/passwd"); got != "work:x:1000:100:User:/home/work:/bin/sh\n" {
		t.Errorf("passwd from nothing: %q", got)
	}
	write(t, root, "etc/group", "users:x:100:\n")
	if err := SetupAccounts(root, &u); err != nil {
		t.Fatal(err)
	}
	if got := read(t, root, "etc/group"); got != "users:x:100:\n" {
		t.Errorf("group with GID 100 present: %q", got)
	}

	// Root mode touches nothing.
	rootMode := t.TempDir()
	u = WorkUser{UID: 0, GID: 0, Home: "/home/work"}
	if err := SetupAccounts(rootMode, &u); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rootMode, "etc")); !os.IsNotExist(err) {
		t.Errorf("root mode wrote accounts: %v", err)
	}
}

func TestWriteDotfiles(t *testing.T) {
	work := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(work, "link")); err != nil {
		t.Fatal(err)
	}
	files := []Dotfile{
		{Path: ".bashrc", Data: "alias ll='ls -l'\n", Perm: "644"},
		{Path: work + "/.ssh/id_rsa", Data: "KEY", Perm: "600"},
		{Path: ".config/app/settings", Data: "x"},
		{Path: "../escape", Data: "no"},
		{Path: "/etc/profile", Data: "no"},
		{Path: "link/evil", Data: "no"},
		{Path: ".x", Data: "no", Perm: "rw"},
	}
	err := WriteDotfiles(files, work)
	if err == nil {
		t.Fatal("bad entries accepted")
	}
	for _, p := range []string{`"../escape"`, `"/etc/profile"`, `"link/evil"`, `".x"`} {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not name %s: %v", p, err)
		}
	}
	if got := read(t, work, ".bashrc"); got != "alias ll='ls -l'\n" {
		t.Errorf(".bashrc %q", got)
	}
	for p, want := range map[string]os.FileMode{".ssh": 0o700 | os.ModeDir, ".ssh/id_rsa": 0o600, ".config/app/settings": 0o644, ".config": 0o755 | os.ModeDir} {
		st, err := os.Stat(filepath.Join(work, p))
		if err != nil || st.Mode() != want {
			t.Errorf("%s: %v, %v; want %v", p, st.Mode(), err, want)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a dotfile went through the symlink: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(work), "escape")); err == nil {
		t.Error("a dotfile escaped with ..")
	}
}

func TestLoadDotfiles(t *testing.T) {
	dir := t.TempDir()
	if fs, err := LoadDotfiles(filepath.Join(dir, "none.json")); err != nil || fs != nil {
		t.Errorf("missing file: %v, %v", fs, err)
	}
	write(t, dir, "d.json", `[{"path": ".vimrc", "data": "set nu", "perm": "644"}]`)
	fs, err := LoadDotfiles(filepath.Join(dir, "d.json"))
	if err != nil || len(fs) != 1 || fs[0].Path != ".vimrc" || fs[0].Data != "set nu" {
		t.Errorf("%+v, %v", fs, err)
	}
	write(t, dir, "bad.json", `{"path": 1}`)
	if _, err := LoadDotfiles(filepath.Join(dir, "bad.json")); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("bad file: %v", err)
	}
}

func write(t *testing.T, root, rel, body string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, root, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
