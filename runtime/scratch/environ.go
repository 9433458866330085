package scratch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteEnviron writes environ.txt (or environ_base.txt) atomically: each
// entry of env, "K=V", on a line of its own, as upstream does. An entry
// without "=", with an empty key or with a line break is an error.
func WriteEnviron(path string, env []string) error {
	var b strings.Builder
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(kv, "\r\n") {
			return fmt.Errorf("write environ %s: entry %q is not K=V on one line", path, kv)
		}
		b.WriteString(kv + "\n")
	}
	if err := writeAtomic(path, []byte(b.String())); err != nil {
		return fmt.Errorf("write environ: %w", err)
	}
	return nil
}

// writeAtomic replaces path with data: it writes a temporary file in the
// same directory and renames it over path, so that a reader (the kernel,
// an agent restarted after a crash) sees the old content or the new, never
// a part. The file is 0644. It is not fsynced: these files matter only
// while their kernel runs, and a host crash, the one thing an fsync would
// guard against, ends the kernel too (an fsync cost 1.3-1.5 ms a file, two
// files a create, here).
func writeAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, os.Remove(f.Name()))
		}
	}()
	if _, err := f.Write(data); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Chmod(0o644); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
