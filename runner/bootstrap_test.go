package runner

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestRunBootstrap(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "bootstrap.sh")
	if err := os.WriteFile(script, []byte("echo boot $PWD; exit 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	// The user's script runs through sh even when not executable.
	code, err := RunBootstrap(t.Context(), script, true, dir, os.Environ(), &out)
	if err != nil || code != 4 || out.String() != "boot "+dir+"\n" {
		t.Fatalf("code %d, err %v, output %q", code, err, out.String())
	}
	// The image's script must be executable.
	out.Reset()
	if code, err := RunBootstrap(t.Context(), script, false, dir, os.Environ(), &out); err != nil || code != 0 || out.Len() != 0 {
		t.Fatalf("non-executable image script ran: code %d, err %v, output %q", code, err, out.String())
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, err := RunBootstrap(t.Context(), script, false, dir, os.Environ(), &out); err != nil || code != 0 || out.String() != "image\n" {
		t.Fatalf("code %d, err %v, output %q", code, err, out.String())
	}
	if code, err := RunBootstrap(t.Context(), filepath.Join(dir, "missing.sh"), true, dir, nil, &out); err != nil || code != 0 {
		t.Fatalf("missing script: code %d, err %v", code, err)
	}
}
