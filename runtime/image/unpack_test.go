package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// tarEntry is one entry of a test layer; Body is the content of a regular file.
type tarEntry struct {
	tar.Header
	Body string
}

var (
	mtime1 = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	mtime2 = time.Date(2022, 8, 9, 10, 11, 12, 0, time.UTC)
)

func tarFile(name, body string, mode int64) tarEntry {
	return tarEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: mtime2}, Body: body}
}

func tarDir(name string, mode int64) tarEntry {
	return tarEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: mtime1}}
}

func tarSymlink(name, target string) tarEntry {
	return tarEntry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: mtime1}}
}

func tarLink(name, target string) tarEntry {
	return tarEntry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: mtime1}}
}

// layerTar writes the entries as an uncompressed tar.
func layerTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		if h.PAXRecords != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.Body); err != nil {
			t.Fatalf("write body %s: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unpackEntries unpacks the entries into a fresh directory and returns it.
func unpackEntries(t *testing.T, entries ...tarEntry) (string, UnpackStats, error) {
	t.Helper()
	d := t.TempDir()
	st, err := Unpack(t.Context(), bytes.NewReader(layerTar(t, entries...)), d, UnpackOptions{NoChown: true})
	return d, st, err
}

func TestUnpackTypes(t *testing.T) {
	d, st, err := unpackEntries(t,
		tarDir("./", 0o751),
		tarDir("a/", 0o750),
		tarFile("a/f", "hello", 0o640),
		tarFile("a/suid", "x", 0o4755),
		tarFile("a/sticky", "", 0o1777),
		tarSymlink("a/l", "f"),
		tarSymlink("a/abs", "/etc/passwd"),
		tarLink("a/h", "a/f"),
		tarFile("b/c/implicit", "deep", 0o644),
		tarEntry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "a/fifo", Mode: 0o600, ModTime: mtime1}},
		tarDir("a/ro/", 0o500),
		tarFile("a/ro/inside", "y", 0o400),
		tarEntry{Header: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}}},
	)
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	want := UnpackStats{Entries: 13, Files: 5, Dirs: 3, Symlinks: 2, Hardlinks: 1, Devices: 1, Bytes: 11}
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	for _, c := range []struct {
		name  string
		mode  fs.FileMode
		mtime time.Time
		body  string
	}{
		{".", fs.ModeDir | 0o751, mtime1, ""},
		{"a", fs.ModeDir | 0o750, mtime1, ""},
		{"a/f", 0o640, mtime2, "hello"},
		{"a/suid", fs.ModeSetuid | 0o755, mtime2, "x"},
		{"a/sticky", fs.ModeSticky | 0o777, mtime2, ""},
		{"a/l", fs.ModeSymlink | 0o777, mtime1, ""},
		{"a/fifo", fs.ModeNamedPipe | 0o600, mtime1, ""},
		{"a/ro", fs.ModeDir | 0o500, mtime1, ""},
		{"a/ro/inside", 0o400, mtime2, "y"},
		{"b/c/implicit", 0o644, mtime2, "deep"},
	} {
		p := filepath.Join(d, c.name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if fi.Mode() != c.mode {
			t.Errorf("%s: mode %v, want %v", c.name, fi.Mode(), c.mode)
		}
		if !fi.ModTime().Equal(c.mtime) {
			t.Errorf("%s: mtime %v, want %v", c.name, fi.ModTime(), c.mtime)
		}
		if fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); string(b) != c.body {
				t.Errorf("%s: content %q, want %q", c.name, b, c.body)
			}
		}
	}
	for link, target := range map[string]string{"a/l": "f", "a/abs": "/etc/passwd"} {
		if got, err := os.Readlink(filepath.Join(d, link)); err != nil || got != target {
			t.Errorf("readlink %s = %q, %v; want %q", link, got, err, target)
		}
	}
	f, _ := os.Stat(filepath.Join(d, "a/f"))
	h, err := os.Stat(filepath.Join(d, "a/h"))
	if err != nil || !os.SameFile(f, h) {
		t.Errorf("a/h is not a hard link of a/f (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(d, "b")); err != nil || !fi.IsDir() {
		t.Errorf("implicit parent b: %v", err)
	}
	os.Chmod(filepath.Join(d, "a/ro"), 0o700) // let t.TempDir clean up as non-root
}

// TestUnpackUnsafe feeds escapes and checks that each fails with
// ErrUnsafeEntry and leaves everything beside the layer directory alone.
func TestUnpackUnsafe(t *testing.T) {
	for _, c := range []struct {
		name    string
		entries []tarEntry
	}{
		{"parent", []tarEntry{tarFile("../evil", "x", 0o644)}},
		{"absolute", []tarEntry{tarFile("/abs", "x", 0o644)}},
		{"climbs after a dir", []tarEntry{tarFile("a/../../evil", "x", 0o644)}},
		{"dotdot inside", []tarEntry{tarFile("a/../b", "x", 0o644)}},
		{"dotdot dir", []tarEntry{tarDir("../sibling/", 0o777)}},
		{"root as a file", []tarEntry{tarFile(".", "x", 0o644)}},
		{"empty name", []tarEntry{tarFile("", "x", 0o644)}},
		{"hardlink climbs", []tarEntry{tarLink("h", "../../etc/passwd")}},
		{"hardlink absolute", []tarEntry{tarLink("h", "/etc/passwd")}},
		{"hardlink root", []tarEntry{tarLink("h", "./")}},
		{"through link to /", []tarEntry{tarSymlink("link", "/"), tarFile("link/evil", "x", 0o644)}},
		{"through link climbing", []tarEntry{tarSymlink("link", "../.."), tarFile("link/evil", "x", 0o644)}},
		{"through link to parent", []tarEntry{tarSymlink("link", ".."), tarDir("link/sibling/x/", 0o755)}},
		{"through link to sibling", []tarEntry{tarSymlink("link", "../sibling"), tarFile("link/evil", "x", 0o644)}},
		{"through absolute link", []tarEntry{tarDir("sub/", 0o755), tarSymlink("abs", "/sub"), tarFile("abs/f", "x", 0o644)}},
		{"through nested link", []tarEntry{tarDir("a/", 0o755), tarSymlink("a/up", "../.."), tarFile("a/up/evil", "x", 0o644)}},
		{"hardlink through link", []tarEntry{tarSymlink("link", "../sibling"), tarLink("h", "link/target")}},
		{"whiteout of dotdot", []tarEntry{tarFile(".wh...", "", 0o644)}},
		{"whiteout through link", []tarEntry{tarSymlink("link", "../sibling"), tarFile("link/.wh.target", "", 0o644)}},
		{"opaque through link", []tarEntry{tarSymlink("link", "/"), tarFile("link/.wh..wh..opq", "", 0o644)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			layer := filepath.Join(parent, "layer")
			sibling := filepath.Join(parent, "sibling")
			for _, p := range []string{layer, sibling} {
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(sibling, "target"), []byte("keep"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Unpack(t.Context(), bytes.NewReader(layerTar(t, c.entries...)), layer, UnpackOptions{NoChown: true})
			if !errors.Is(err, ErrUnsafeEntry) {
				t.Errorf("Unpack = %v, want ErrUnsafeEntry", err)
			}
			if got := listTree(t, parent, "layer"); got != "sibling/\nsibling/target keep\n" {
				t.Errorf("outside the layer:\n%s", got)
			}
		})
	}
}

// listTree lists root (leaving out the top-level entry skip) as "path content"
// lines, directories with a trailing slash.
func listTree(t *testing.T, root, skip string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == skip {
			return filepath.SkipDir
		}
		switch {
		case de.IsDir():
			fmt.Fprintf(&b, "%s/\n", rel)
		case de.Type().IsRegular():
			body, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "%s %s\n", rel, body)
		default:
			fmt.Fprintf(&b, "%s %v\n", rel, de.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestUnpackSymlinks defines the behaviour around symlinks: they are created
// whatever they point to, a later entry of the same name replaces the link
// (never writing through it), and an entry below a link to a directory
// inside the layer lands in that directory.
func TestUnpackSymlinks(t *testing.T) {
	parent := t.TempDir()
	layer := filepath.Join(parent, "layer")
	outside := filepath.Join(parent, "outside")
	os.Mkdir(layer, 0o755)
	os.WriteFile(outside, []byte("keep"), 0o644)
	_, err := Unpack(t.Context(), bytes.NewReader(layerTar(t,
		tarSymlink("escape", "../outside"),
		tarSymlink("root", "/"),
		tarFile("escape", "replaced", 0o644),
		tarDir("sub/", 0o755),
		tarSymlink("in", "sub"),
		tarFile("in/f", "through", 0o644),
		tarDir("in/d/", 0o700),
	)), layer, UnpackOptions{NoChown: true})
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	want := "layer/\nlayer/escape replaced\nlayer/in L---------\nlayer/root L---------\nlayer/sub/\nlayer/sub/d/\nlayer/sub/f through\noutside keep\n"
	if got := listTree(t, parent, ""); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(filepath.Join(layer, "sub/d")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("sub/d: %v %v, want mode 0700", fi, err)
	}
}

// TestUnpackReplace checks that a later entry of the same name replaces the
// earlier one, whatever the types.
func TestUnpackReplace(t *testing.T) {
	d, _, err := unpackEntries(t,
		tarFile("f", "one", 0o644),
		tarLink("h", "f"),
		tarFile("f", "two", 0o600),
		tarDir("d/", 0o755),
		tarFile("d/x", "x", 0o644),
		tarFile("d", "file now", 0o644),
		tarFile("e", "file", 0o644),
		tarDir("e/", 0o711),
		tarFile("e/y", "y", 0o644),
		tarSymlink("s", "f"),
		tarFile("s", "not a link", 0o644),
		tarDir("keep/", 0o755),
		tarFile("keep/a", "a", 0o644),
		tarDir("keep/", 0o700),
	)
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	want := "d file now\ne/\ne/y y\nf two\nh one\nkeep/\nkeep/a a\ns not a link\n"
	if got := listTree(t, d, ""); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	for name, mode := range map[string]fs.FileMode{"f": 0o600, "e": fs.ModeDir | 0o711, "keep": fs.ModeDir | 0o700} {
		if fi, err := os.Lstat(filepath.Join(d, name)); err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v %v, want %v", name, fi.Mode(), err, mode)
		}
	}
}

// TestUnpackWhiteoutMeta checks the whiteout names that write nothing.
func TestUnpackWhiteoutMeta(t *testing.T) {
	d, st, err := unpackEntries(t, tarFile(".wh..wh.plnk", "", 0o644), tarDir("a/", 0o755), tarFile("a/.wh..wh.aufs", "", 0o644))
	if err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	if got := listTree(t, d, ""); got != "a/\n" {
		t.Errorf("tree:\n%s", got)
	}
	if st.Whiteouts != 0 || st.Opaques != 0 || st.Files != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestUnpackCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d := t.TempDir()
	_, err := Unpack(ctx, bytes.NewReader(layerTar(t, tarFile("f", "x", 0o644))), d, UnpackOptions{NoChown: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Unpack = %v, want context.Canceled", err)
	}
	if got := listTree(t, d, ""); got != "" {
		t.Errorf("written after cancel:\n%s", got)
	}
}

func TestUnpackBadTar(t *testing.T) {
	b := layerTar(t, tarFile("f", strings.Repeat("x", 2000), 0o644))
	_, err := Unpack(t.Context(), bytes.NewReader(b[:1000]), t.TempDir(), UnpackOptions{NoChown: true})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Unpack of a cut tar = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestDecompress(t *testing.T) {
	plain := layerTar(t, tarFile("f", strings.Repeat("content ", 1000), 0o644))
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(plain)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain)
	zw.Close()
	for _, c := range []struct {
		name string
		in   []byte
		want Compression
		out  []byte
	}{
		{"gzip", gz.Bytes(), CompressionGzip, plain},
		{"zstd", zs.Bytes(), CompressionZstd, plain},
		{"plain", plain, CompressionNone, plain},
		{"empty", nil, CompressionNone, nil},
		{"one byte", []byte{0x1f}, CompressionNone, []byte{0x1f}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc, comp, err := Decompress(bytes.NewReader(c.in))
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			defer rc.Close()
			if comp != c.want {
				t.Errorf("compression = %s, want %s", comp, c.want)
			}
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, c.out) {
				t.Errorf("read %d bytes (%v), want %d", len(got), err, len(c.out))
			}
		})
	}
	if _, _, err := Decompress(bytes.NewReader([]byte{0x1f, 0x8b, 0, 0})); err == nil {
		t.Error("Decompress of a broken gzip header: no error")
	}
}

// TestDecompressReadahead checks the goroutine that decodes ahead: errors
// reach the reader after the data before them, and Close before the end
// stops it and leaves the source alone.
func TestDecompressReadahead(t *testing.T) {
	big := make([]byte, 16<<20) // many buffers, compressed or not
	rand.NewChaCha8([32]byte{}).Read(big)
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(big)
	gw.Close()

	t.Run("corrupt", func(t *testing.T) {
		bad := bytes.Clone(gz.Bytes())
		bad[len(bad)-5] ^= 0xff // the CRC-32 of the trailer
		rc, _, err := Decompress(bytes.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if !errors.Is(err, gzip.ErrChecksum) || !bytes.Equal(got, big) {
			t.Errorf("read %d bytes, %v; want %d bytes, then %v", len(got), err, len(big), gzip.ErrChecksum)
		}
	})
	t.Run("close early", func(t *testing.T) {
		src := &readCounter{r: bytes.NewReader(gz.Bytes())}
		rc, _, err := Decompress(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		if err := rc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		n := src.n.Load()
		time.Sleep(10 * time.Millisecond)
		if src.n.Load() != n || n == int64(gz.Len()) {
			t.Errorf("source read %d of %d bytes, then %d after Close", n, gz.Len(), src.n.Load())
		}
		if _, err := rc.Read(make([]byte, 10)); err == nil {
			t.Error("Read after Close: no error")
		}
	})
}

// readCounter counts the bytes read from r.
type readCounter struct {
	r io.Reader
	n atomic.Int64
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// BenchmarkUnpack unpacks a synthetic layer of 2000 files, 100 MB in all,
// from its compressed form (and from plain tar, for the unpack alone).
func BenchmarkUnpack(b *testing.B) {
	plain, size := synthLayer(b, 2000, 100<<20)
	var gz, zs bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	gw.Write(plain)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(plain)
	zw.Close()
	for _, c := range []struct {
		name string
		blob []byte
	}{{"tar", plain}, {"gzip", gz.Bytes()}, {"zstd", zs.Bytes()}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			tmp := b.TempDir()
			i := 0
			for b.Loop() {
				d := filepath.Join(tmp, fmt.Sprint(i))
				i++
				if err := os.Mkdir(d, 0o755); err != nil {
					b.Fatal(err)
				}
				rc, _, err := Decompress(bytes.NewReader(c.blob))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Unpack(b.Context(), rc, d, UnpackOptions{NoChown: true}); err != nil {
					b.Fatal(err)
				}
				rc.Close()
				b.StopTimer()
				os.RemoveAll(d)
				b.StartTimer()
			}
		})
	}
}

// synthLayer makes a tar of n files in nested directories, size bytes of
// content in all, compressible about as well as binaries and text are.
func synthLayer(tb testing.TB, n int, size int64) ([]byte, int64) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := make([]string, 512)
	for i := range words {
		w := make([]byte, 2+rng.IntN(10))
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		words[i] = string(w)
	}
	var entries []tarEntry
	var total int64
	for i := range n {
		if i%50 == 0 {
			entries = append(entries, tarDir(fmt.Sprintf("usr/lib/d%d/", i/50), 0o755))
		}
		fsize := size / int64(n)
		if i%10 == 0 { // a few big files, many small ones
			fsize *= 5
		} else {
			fsize = fsize * 5 / 9
		}
		var body strings.Builder
		for int64(body.Len()) < fsize {
			if rng.IntN(4) == 0 {
				body.WriteByte(byte(rng.Uint32()))
			} else {
				body.WriteString(words[rng.IntN(len(words))])
			}
		}
		e := tarFile(fmt.Sprintf("usr/lib/d%d/f%d", i/50, i), body.String()[:fsize], 0o644)
		total += fsize
		entries = append(entries, e)
	}
	return layerTar(tb, entries...), total
}
