package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Logs returns a reader of the kernel's output (stdout and stderr), the
// rotated part first. The kernel writes its log file itself, so the log
// keeps growing while the agent is down.
func (m *Manager) Logs(id string) (io.ReadCloser, error) {
	if _, err := m.lookup(id); err != nil {
		return nil, err
	}
	var files []*os.File
	for _, p := range []string{m.logPath(id) + ".1", m.logPath(id)} {
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("open log of kernel %s: %w", id, err)
		}
		files = append(files, f)
	}
	return &logReader{files: files}, nil
}

// logReader reads its files in turn. Unlike io.MultiReader it keeps the
// last file after EOF, so that a caller can follow a growing log by
// reading again.
type logReader struct {
	files []*os.File
	cur   int
}

func (l *logReader) Read(p []byte) (int, error) {
	for l.cur < len(l.files) {
		n, err := l.files[l.cur].Read(p)
		if n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			return n, err
		}
		if l.cur == len(l.files)-1 {
			return 0, io.EOF
		}
		l.cur++
	}
	return 0, io.EOF
}

func (m *logReader) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Run rotates the kernels' log files until ctx ends: a file past
// LogMaxBytes is copied to <log>.1 and truncated in place. The kernel
// appends (O_APPEND), so it keeps writing at the new end.
func (m *Manager) Run(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for _, st := range m.List() {
			if err := m.rotateLog(st.ID); err != nil {
				m.log.Warn("log rotation failed", "kernel_id", st.ID, "err", err)
			}
		}
	}
}

func (m *Manager) rotateLog(id string) error {
	p := m.logPath(id)
	fi, err := os.Stat(p)
	if err != nil || fi.Size() < m.o.LogMaxBytes {
		return nil
	}
	src, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(p+".1", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return src.Truncate(0)
}
