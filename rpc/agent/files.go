package agent

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/runtime"
)

// maxDownloadBytes is upstream's limit of download_file (1 MiB).
const maxDownloadBytes = 1 << 20

// workDir is the host directory of the kernel's /home/work.
func (s *Service) workDir(id string) (string, error) {
	st, err := s.o.Kernels.Get(id)
	if err != nil {
		return "", err
	}
	if st.Scratch.Root == "" {
		return "", fmt.Errorf("kernel %s: %w: no scratch directory", id, runtime.ErrFailedPrecondition)
	}
	return filepath.Join(st.Scratch.Root, id, "work"), nil
}

// inWork turns a path given by the manager (relative to /home/work, or
// absolute under it) into a path relative to the work dir; anything that
// leaves it is refused. os.Root then refuses symlinks that point out.
func inWork(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w: %q", errPermission, p)
	}
	if path.IsAbs(p) {
		rel, ok := strings.CutPrefix(path.Clean(p), "/home/work")
		if !ok || (rel != "" && rel[0] != '/') {
			return "", fmt.Errorf("%w: %q", errPermission, p)
		}
		p = strings.TrimPrefix(rel, "/")
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q", errPermission, p)
	}
	return c, nil
}

// openWork opens the kernel's work dir as an os.Root.
func (s *Service) openWork(c codec.Call) (*os.Root, string, error) {
	id, err := c.String(0, "kernel_id")
	if err != nil {
		return nil, "", err
	}
	dir, err := s.workDir(id)
	if err != nil {
		return nil, "", err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", fmt.Errorf("open work dir of kernel %s: %w", id, err)
	}
	return root, id, nil
}

// workPath opens the work dir of the call's kernel and checks its
// filepath argument: the path as given and relative to the work dir.
func (s *Service) workPath(c codec.Call) (root *os.Root, given, rel string, err error) {
	given, err = c.String(1, "filepath")
	if err != nil {
		return nil, "", "", err
	}
	if rel, err = inWork(given); err != nil {
		return nil, "", "", err
	}
	if root, _, err = s.openWork(c); err != nil {
		return nil, "", "", err
	}
	return root, given, rel, nil
}

// confined maps os.Root's escape errors to PermissionError.
func confined(err error) error {
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%w: %w", errPermission, err)
	}
	return err
}

// uploadFile is upload_file(kernel_id, filename, filedata): the file is
// written under the kernel's work dir, parent dirs made as needed.
func (s *Service) uploadFile(_ context.Context, c codec.Call) (any, error) {
	name, err := c.String(1, "filename")
	if err != nil {
		return nil, err
	}
	data, err := c.Bytes(2, "filedata")
	if err != nil {
		return nil, err
	}
	rel, err := inWork(name)
	if err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, fmt.Errorf("%w: upload needs a file name", codec.ErrArgument)
	}
	root, id, err := s.openWork(c)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// What the upload makes belongs to the work dir's owner (the kernel's
	// work user), as a file the user saved would.
	uid, gid := -1, -1
	if st, err := root.Stat("."); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	}
	if dir := path.Dir(rel); dir != "." {
		if err := mkdirOwned(root, dir, uid, gid); err != nil {
			return nil, confined(fmt.Errorf("upload to kernel %s: %w", id, err))
		}
	}
	f, err := root.OpenFile(rel, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, confined(fmt.Errorf("upload to kernel %s: %w", id, err))
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && uid >= 0 {
		err = root.Lchown(rel, uid, gid)
	}
	if err != nil {
		return nil, fmt.Errorf("upload to kernel %s: %w", id, err)
	}
	return nil, nil
}

// mkdirOwned makes the missing directories of dir (0755) and gives only
// those to uid:gid; existing ones (a vfolder's mount point) keep theirs.
func mkdirOwned(root *os.Root, dir string, uid, gid int) error {
	p := ""
	for _, part := range strings.Split(dir, "/") {
		p = path.Join(p, part)
		if _, err := root.Lstat(p); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := root.Mkdir(p, 0o755); err != nil {
			return err
		}
		if uid >= 0 {
			if err := root.Lchown(p, uid, gid); err != nil {
				return err
			}
		}
	}
	return nil
}

// downloadFile is download_file(kernel_id, filepath): a tar archive of
// the file or directory, at most 1 MiB of content.
func (s *Service) downloadFile(_ context.Context, c codec.Call) (any, error) {
	root, p, rel, err := s.workPath(c)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	total := int64(0)
	base := path.Base(rel)
	walkErr := fs.WalkDir(root.FS(), rel, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // links and devices stay out
		}
		arc := base
		if name != rel {
			arc = path.Join(base, strings.TrimPrefix(name, rel+"/"))
		}
		if rel == "." {
			arc = strings.TrimPrefix(name, "./")
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = arc
		if info.IsDir() {
			hdr.Name += "/"
		}
		total += info.Size()
		if total > maxDownloadBytes {
			return fmt.Errorf("%w: %s is larger than 1 MiB", errTooLarge, p)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := root.Open(name)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, f, info.Size())
			f.Close()
			return err
		}
		return nil
	})
	if walkErr != nil {
		return nil, confined(walkErr)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// errTooLarge is a download over the limit.
var errTooLarge = errors.New("file too large")

// downloadSingle is download_single(kernel_id, filepath): one file's
// bytes, at most 1 MiB.
func (s *Service) downloadSingle(_ context.Context, c codec.Call) (any, error) {
	root, p, rel, err := s.workPath(c)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, confined(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", codec.ErrArgument, p)
	}
	if info.Size() > maxDownloadBytes {
		return nil, fmt.Errorf("%w: %s is larger than 1 MiB", errTooLarge, p)
	}
	return io.ReadAll(io.LimitReader(f, maxDownloadBytes))
}
