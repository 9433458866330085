package vm

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ulikunitz/xz"
)

// xzMagic starts every xz stream.
var xzMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}

// XZCommand is the xz-utils program that ExtractVmlinux falls back to.
const XZCommand = "xz"

// ExtractVmlinux writes the kernel that an xz-compressed bzImage carries to
// dst. It decompresses the first xz stream in bzImage that decodes, and
// ignores what follows the stream (the bzImage has a size word and more
// after it). It does not check that the result is an ELF file; see
// ExtractVmlinuxFile.
//
// Streams are decoded with github.com/ulikunitz/xz. That package knows only
// the LZMA2 filter, and x86 kernels are compressed with the x86 BCJ filter
// in front of it (Debian's are), so a stream that it rejects for its
// filters is decoded with `xz --single-stream -dc` (xz-utils) instead.
func ExtractVmlinux(ctx context.Context, dst io.Writer, bzImage []byte) error {
	var firstErr error
	for off := 0; ; {
		i := bytes.Index(bzImage[off:], xzMagic)
		if i < 0 {
			break
		}
		start := off + i
		off = start + 1
		n, err := decompressXZ(dst, bzImage[start:])
		if err != nil && n == 0 && isFilterErr(err) {
			n, err = decompressXZCommand(ctx, dst, bzImage[start:])
		}
		if err == nil {
			return nil
		}
		if n > 0 {
			// Output was written: another candidate cannot be tried.
			return fmt.Errorf("decompress kernel at offset %d: %w", start, err)
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("decompress kernel at offset %d: %w", start, err)
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return errors.New("decompress kernel: no xz stream in the image")
}

// isFilterErr reports whether the xz package rejected a stream for its
// filter chain ("unsupported filter count", "invalid filter id"); it
// exports no error values for these, so the text is matched.
func isFilterErr(err error) bool {
	return strings.Contains(err.Error(), "filter")
}

// decompressXZCommand decodes the first xz stream of data into dst with
// the xz program and returns the number of bytes written.
func decompressXZCommand(ctx context.Context, dst io.Writer, data []byte) (int64, error) {
	cw := &countingWriter{w: dst}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, XZCommand, "--single-stream", "--decompress", "--stdout")
	cmd.Stdin = bytes.NewReader(data)
	cmd.Stdout = cw
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return cw.n, fmt.Errorf("%s: %w: %s", XZCommand, err, tail(stderr.Bytes(), 500))
	}
	return cw.n, nil
}

// decompressXZ decodes one xz stream from the start of data into dst and
// returns the number of bytes written.
func decompressXZ(dst io.Writer, data []byte) (int64, error) {
	r, err := xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	// Plain Read and Write calls only: a ReaderFrom destination such as a
	// bufio.Writer would keep the trailing-data error for good.
	n, err := io.Copy(struct{ io.Writer }{dst}, struct{ io.Reader }{r})
	if err != nil && isTrailingDataErr(err) {
		// The stream ended and was verified; the reader then found the
		// bytes that follow it in the bzImage.
		err = nil
	}
	return n, err
}

// isTrailingDataErr reports whether err is the xz reader's complaint about
// data after a single stream. The package does not export it, so its text
// is matched.
func isTrailingDataErr(err error) bool {
	return strings.Contains(err.Error(), "unexpected data after stream")
}

// ExtractVmlinuxFile extracts the kernel of the bzImage at src into dst,
// through a temporary file renamed at the end, and checks that the result
// is a complete x86-64 ELF executable.
func ExtractVmlinuxFile(ctx context.Context, src, dst string) error {
	img, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read kernel image: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create vmlinux: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	w := bufio.NewWriterSize(f, 1<<20)
	if err := ExtractVmlinux(ctx, w, img); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write vmlinux: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write vmlinux: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("vmlinux: %w", err)
	}
	if err := checkVmlinux(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("rename vmlinux: %w", err)
	}
	return nil
}

// checkVmlinux makes sure path is an x86-64 ELF executable whose section
// headers (at the end of a vmlinux) are all inside the file.
func checkVmlinux(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("extracted vmlinux is not an ELF file: %w", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		return fmt.Errorf("extracted vmlinux is %v %v, want EM_X86_64 ET_EXEC", f.Machine, f.Type)
	}
	if len(f.Sections) == 0 {
		return errors.New("extracted vmlinux has no sections")
	}
	return nil
}
