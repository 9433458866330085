package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Reader reads the statistics of one cgroup, cheaply enough for sweeps
// over hundreds of cgroups every few seconds: Open opens the files that
// a sweep needs once, and each Read re-reads every one of them with a
// single pread at offset 0 into a buffer that the Reader keeps (cgroupfs
// regenerates a file's content on a read from offset 0), then parses it
// without allocating. A Reader holds about ten file descriptors until
// Close.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	cgroup string // the cgroup path, for errors
	files  []openFile
	buf    []byte
	closed bool
	// reads counts the Reads; the limit files are read on every
	// limitEvery-th, and memLimit and pidsLimit keep them in between.
	reads               int
	memLimit, pidsLimit uint64
}

// openFile is a statFile opened by a Reader.
type openFile struct {
	statFile
	fd   int
	path string
}

// initialBufSize fits every file that Read reads on a usual node, so the
// buffer rarely grows.
const initialBufSize = 8 << 10

// Open opens a Reader on the cgroup at the absolute path (for example
// "/backendai/k1") under the cgroup mount root ("" means Root), detecting
// the layout with DetectMode. A cgroup that does not exist gives an error
// matching ErrGone.
func Open(root, path string) (*Reader, error) {
	if root == "" {
		root = Root
	}
	mode, err := DetectMode(root)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	return OpenMode(root, path, mode)
}

// OpenMode is Open with the layout given, for callers that detected it
// once for many cgroups.
func OpenMode(root, path string, mode Mode) (*Reader, error) {
	if root == "" {
		root = Root
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("open cgroup %q: path is not absolute", path)
	}
	files := statFiles(mode)
	if files == nil {
		return nil, fmt.Errorf("open cgroup %s: unknown mode %v", path, mode)
	}
	r := &Reader{cgroup: path, files: make([]openFile, 0, len(files)), buf: make([]byte, initialBufSize)}
	for _, f := range files {
		p := filepath.Join(root, f.controller, path, f.name)
		fd, err := openReadOnly(p)
		switch {
		case err == nil:
			r.files = append(r.files, openFile{statFile: f, fd: fd, path: p})
			continue
		case isGone(err) && !f.anchor:
			continue // its controller is not enabled for the cgroup
		case isGone(err):
			err = fmt.Errorf("open cgroup %s: %s: %w (%w)", path, p, ErrGone, err)
		default:
			err = fmt.Errorf("open cgroup %s: %w", path, &fs.PathError{Op: "open", Path: p, Err: err})
		}
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// Read fills s with a new reading, resetting every field first. The limit
// files (memory and pids limits) are read on the first Read and every
// 8th after it (or after RefreshLimits); the Reads in between report the
// limits last read. When the
// cgroup has disappeared since Open (its kernel ended), the error matches
// ErrGone; the Reader should then be closed. After an error s holds a
// partial reading.
func (r *Reader) Read(s *Sample) error {
	if r.closed {
		return fmt.Errorf("read cgroup %s: reader is closed", r.cgroup)
	}
	*s = Sample{}
	fresh := r.reads%limitEvery == 0
	r.reads++
	for i := 0; i < len(r.files); i++ {
		f := &r.files[i]
		if f.ioFallback && s.IOAccounted || f.limit && !fresh {
			continue
		}
		b, err := r.pread(f.fd)
		if err != nil && f.hideable && (errors.Is(err, unix.EOPNOTSUPP) || isGone(err) && r.anchorLives()) {
			// PSI switched off, for the cgroup or the whole kernel:
			// read on without it.
			r.drop(i)
			i--
			continue
		}
		if err != nil {
			return r.readError(f, err)
		}
		if err := f.parse(b, s); err != nil {
			return fmt.Errorf("read cgroup %s: %w", filepath.Dir(f.path), err)
		}
	}
	if fresh {
		r.memLimit, r.pidsLimit = s.MemoryLimit, s.PidsLimit
	} else {
		s.MemoryLimit, s.PidsLimit = r.memLimit, r.pidsLimit
	}
	return nil
}

// RefreshLimits makes the next Read re-read the limit files (after the
// agent changed a kernel's limits).
func (r *Reader) RefreshLimits() { r.reads = 0 }

// Close closes the Reader's files. Read fails after Close.
func (r *Reader) Close() error {
	var errs []error
	for _, f := range r.files {
		if err := unix.Close(f.fd); err != nil {
			errs = append(errs, &fs.PathError{Op: "close", Path: f.path, Err: err})
		}
	}
	r.files, r.closed = nil, true
	return errors.Join(errs...)
}

// pread reads the whole file at fd from offset 0 into r.buf, growing the
// buffer when the file fills it: one system call per file in the usual
// case.
func (r *Reader) pread(fd int) ([]byte, error) {
	for {
		n, err := unix.Pread(fd, r.buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n < len(r.buf) {
			return r.buf[:n], nil
		}
		if len(r.buf) >= maxFileSize {
			return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
		}
		r.buf = make([]byte, 2*len(r.buf))
	}
}

// anchorLives reports whether the anchor file (files[0]) still reads,
// that is whether the cgroup exists.
func (r *Reader) anchorLives() bool {
	if len(r.files) == 0 || !r.files[0].anchor {
		return false
	}
	_, err := r.pread(r.files[0].fd)
	return err == nil
}

// drop closes and forgets files[i].
func (r *Reader) drop(i int) {
	_ = unix.Close(r.files[i].fd)
	r.files = append(r.files[:i], r.files[i+1:]...)
}

// readError wraps the error of reading f.
func (r *Reader) readError(f *openFile, err error) error {
	if isGone(err) {
		return fmt.Errorf("read cgroup %s: %s: %w (%w)", r.cgroup, f.path, ErrGone, err)
	}
	return fmt.Errorf("read cgroup %s: %w", r.cgroup, &fs.PathError{Op: "read", Path: f.path, Err: err})
}

// openReadOnly opens path for pread.
func openReadOnly(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// isGone reports whether err from opening or reading a cgroup file means
// that the cgroup (or the file) no longer exists: ENOENT on open, ENODEV
// on a read of a removed kernfs node.
func isGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}
