package runtime

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogReaderFollows: after EOF, reading again returns what the kernel
// appended since (io.MultiReader would stay at EOF for good).
func TestLogReaderFollows(t *testing.T) {
	dir := t.TempDir()
	old, cur := filepath.Join(dir, "k.log.1"), filepath.Join(dir, "k.log")
	if err := os.WriteFile(old, []byte("rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cur, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for _, p := range []string{old, cur} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	r := &logReader{files: files}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "rotated\nfirst\n" {
		t.Fatalf("first read: %q, %v", b, err)
	}
	f, err := os.OpenFile(cur, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("second\n")
	f.Close()
	if b, err := io.ReadAll(r); err != nil || string(b) != "second\n" {
		t.Fatalf("after append: %q, %v", b, err)
	}
}

func TestRotateLog(t *testing.T) {
	dir := t.TempDir()
	m := &Manager{o: Options{LogDir: dir, LogMaxBytes: 100}, kernels: map[string]*kernel{"k": {state: &State{ID: "k"}}}}
	p := m.logPath("k")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, _ = w.WriteString(strings.Repeat("a", 150))
	if err := m.rotateLog("k"); err != nil {
		t.Fatal(err)
	}
	_, _ = w.WriteString("after\n") // the kernel keeps its O_APPEND descriptor
	if b, _ := os.ReadFile(p + ".1"); len(b) != 150 {
		t.Fatalf("rotated part holds %d bytes, want 150", len(b))
	}
	if b, _ := os.ReadFile(p); string(b) != "after\n" {
		t.Fatalf("current log %q, want only what came after the rotation", b)
	}
	r, err := m.Logs("k")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if b, _ := io.ReadAll(r); string(b) != strings.Repeat("a", 150)+"after\n" {
		t.Fatalf("Logs = %q", b)
	}
}
