package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// DefaultDotfilesFile is where the agent puts the kernel's dotfiles (the
// kernel config's internal_data.dotfiles, the user's SSH keypair and
// bootstrap script) for the runner to write into the work directory.
const DefaultDotfilesFile = "/home/config/dotfiles.json"

// Dotfile is one entry of dotfiles.json, upstream's {path, data, perm}:
// path relative to the work directory or absolute under it, perm an octal
// string ("644" when empty).
type Dotfile struct {
	Path string `json:"path"`
	Data string `json:"data"`
	Perm string `json:"perm"`
}

// LoadDotfiles reads a dotfiles.json; a missing file is no dotfiles.
func LoadDotfiles(file string) ([]Dotfile, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runner: dotfiles: %w", err)
	}
	var out []Dotfile
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("runner: dotfiles: parse %s: %w", file, err)
	}
	return out, nil
}

// WriteDotfiles writes each dotfile under workDir, through an os.Root so
// that neither ".." nor a symlink left in the work directory by an earlier
// run leads out of it. It runs as the work user, after DropPrivileges, so
// the files are the user's. Parent directories are made 0755 (a ".ssh"
// one 0700). Every entry is tried; the errors of those that failed
// (outside the work dir, bad perm, I/O) are joined.
func WriteDotfiles(files []Dotfile, workDir string) error {
	if len(files) == 0 {
		return nil
	}
	root, err := os.OpenRoot(workDir)
	if err != nil {
		return fmt.Errorf("runner: dotfiles: %w", err)
	}
	defer root.Close()
	var errs []error
	for _, f := range files {
		if err := writeDotfile(root, workDir, f); err != nil {
			errs = append(errs, fmt.Errorf("runner: dotfile %q: %w", f.Path, err))
		}
	}
	return errors.Join(errs...)
}

func writeDotfile(root *os.Root, workDir string, f Dotfile) error {
	rel := f.Path
	if path.IsAbs(rel) {
		r, ok := strings.CutPrefix(path.Clean(rel), strings.TrimSuffix(workDir, "/")+"/")
		if !ok {
			return fmt.Errorf("not under %s", workDir)
		}
		rel = r
	}
	rel = path.Clean(rel)
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("not a file under %s", workDir)
	}
	mode := os.FileMode(0o644)
	if f.Perm != "" {
		m, err := strconv.ParseUint(f.Perm, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("perm %q is not an octal mode", f.Perm)
		}
		mode = os.FileMode(m)
	}
	if dir := path.Dir(rel); dir != "." {
		dmode := os.FileMode(0o755)
		if path.Base(dir) == ".ssh" {
			dmode = 0o700
		}
		if err := root.MkdirAll(dir, dmode); err != nil {
			return err
		}
	}
	w, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := w.WriteString(f.Data); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return root.Chmod(rel, mode)
}
