package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression of a layer blob.
type Compression string

// The compressions Decompress recognises.
const (
	// CompressionNone is a plain tar stream.
	CompressionNone Compression = "none"
	// CompressionGzip is a gzip stream (application/vnd.oci.image.layer.v1.tar+gzip).
	CompressionGzip Compression = "gzip"
	// CompressionZstd is a zstd stream (application/vnd.oci.image.layer.v1.tar+zstd).
	CompressionZstd Compression = "zstd"
)

// Magic bytes at the start of a compressed stream.
const (
	gzipMagic = "\x1f\x8b"
	zstdMagic = "\x28\xb5\x2f\xfd"
)

// zstdConcurrency is the number of blocks one zstd stream decodes in
// flight. One keeps the decoder synchronous in the read-ahead goroutine, so
// that several layers can decompress side by side without oversubscribing
// the CPUs.
const zstdConcurrency = 1

// Read-ahead of a compressed stream: buffers and their size.
const (
	aheadBufs    = 4
	aheadBufSize = 512 << 10
)

// Decompress sniffs the magic bytes of r (gzip 1f8b, zstd 28b52ffd, else
// plain tar) and returns the uncompressed stream and the compression found.
// An empty r is a plain (empty) stream.
//
// A compressed stream is decoded by a goroutine of its own, a few buffers
// ahead of the reader, so that decompression runs beside the writes of
// Unpack. Close stops it, waiting for the read of r in flight (close or
// cancel r first if that may stall), and releases the decoder; it does not
// close r, and nothing reads r once it has returned.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(len(zstdMagic))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", fmt.Errorf("sniff layer compression: %w", err)
	}
	switch {
	case bytes.HasPrefix(magic, []byte(gzipMagic)):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, "", fmt.Errorf("open gzip stream: %w", err)
		}
		return newReadahead(zr), CompressionGzip, nil
	case bytes.HasPrefix(magic, []byte(zstdMagic)):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(zstdConcurrency))
		if err != nil {
			return nil, "", fmt.Errorf("open zstd stream: %w", err)
		}
		return newReadahead(zr.IOReadCloser()), CompressionZstd, nil
	default:
		return io.NopCloser(br), CompressionNone, nil
	}
}

// readahead reads src in a goroutine into a ring of buffers.
type readahead struct {
	src     io.ReadCloser
	full    chan chunk  // filled buffers, in order; closed after the last
	free    chan []byte // buffers to fill
	stop    chan struct{}
	stopped chan struct{}
	buf     []byte // the buffer being read, to give back when done
	cur     []byte // its unread part
	err     error  // the error after cur
	closed  bool
}

// chunk is a filled buffer and the error that ended its read, if any.
type chunk struct {
	b   []byte
	err error
}

func newReadahead(src io.ReadCloser) *readahead {
	ra := &readahead{
		src:     src,
		full:    make(chan chunk, aheadBufs),
		free:    make(chan []byte, aheadBufs),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	for range aheadBufs {
		ra.free <- make([]byte, aheadBufSize)
	}
	go ra.fill()
	return ra
}

// fill runs in its own goroutine. full has room for every buffer, so its
// sends never block.
func (ra *readahead) fill() {
	defer close(ra.stopped)
	defer close(ra.full)
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.stop:
			return
		}
		n, err := io.ReadFull(ra.src, b)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		ra.full <- chunk{b: b[:n], err: err}
		if err != nil {
			return
		}
	}
}

// Read implements io.Reader.
func (ra *readahead) Read(p []byte) (int, error) {
	for len(ra.cur) == 0 && len(p) > 0 {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.buf != nil {
			ra.free <- ra.buf[:cap(ra.buf)]
			ra.buf = nil
		}
		c, ok := <-ra.full
		if !ok {
			return 0, io.ErrClosedPipe
		}
		ra.buf, ra.cur, ra.err = c.b, c.b, c.err
	}
	n := copy(p, ra.cur)
	ra.cur = ra.cur[n:]
	return n, nil
}

// Close stops the goroutine and closes the decoder.
func (ra *readahead) Close() error {
	if ra.closed {
		return nil
	}
	ra.closed = true
	ra.cur, ra.err = nil, io.ErrClosedPipe
	close(ra.stop)
	<-ra.stopped
	return ra.src.Close()
}
