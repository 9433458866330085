package runtime

import (
	"io"
	"os"
	"path/filepath"
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
