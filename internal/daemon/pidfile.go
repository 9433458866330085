package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrAlreadyRunning is returned by WritePIDFile when the pid file names a
// live process other than this one.
var ErrAlreadyRunning = errors.New("agent already running")

// PIDFile is a written pid file; Remove deletes it if it still holds our pid.
type PIDFile struct {
	path string
	pid  int
}

// NoPIDFile reports whether path means "no pid file": empty or /dev/null,
// upstream's default.
func NoPIDFile(path string) bool { return path == "" || path == os.DevNull }

// WritePIDFile writes this process's pid to path atomically. A stale file
// (its process gone) is replaced; a file naming a live process is an
// ErrAlreadyRunning error. For a NoPIDFile path it writes nothing.
func WritePIDFile(path string) (*PIDFile, error) {
	p := &PIDFile{path: path, pid: os.Getpid()}
	if NoPIDFile(path) {
		return p, nil
	}
	if old, err := readPID(path); err == nil && old != p.pid && processAlive(old) {
		return nil, fmt.Errorf("pid file %s: %w with pid %d", path, ErrAlreadyRunning, old)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create pid file directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return p, nil
}

// Path is where the pid file lives ("" when none is written).
func (p *PIDFile) Path() string {
	if NoPIDFile(p.path) {
		return ""
	}
	return p.path
}

// Remove deletes the pid file unless another process has since taken it.
func (p *PIDFile) Remove() error {
	if NoPIDFile(p.path) {
		return nil
	}
	if pid, err := readPID(p.path); err == nil && pid != p.pid {
		return nil
	}
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove pid file: %w", err)
	}
	return nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
