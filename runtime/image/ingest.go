package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// Progress reports the state of one layer of a pull or import.
type Progress struct {
	// Ref is the image reference being pulled or imported.
	Ref string
	// Layer is the layer's diff ID.
	Layer string
	// Current and Total count the layer's bytes read from the source (the
	// compressed blob for a pull). Total is 0 when unknown.
	Current, Total int64
	// Done is set on the last report of a layer; Cached when the layer was
	// already in the store and nothing was read.
	Done, Cached bool
}

// ProgressFunc receives progress reports; it may be called concurrently
// from several goroutines and must be quick.
type ProgressFunc func(Progress)

// ingestOptions describe how to take an image's layers.
type ingestOptions struct {
	ref      string
	progress ProgressFunc
	// uncompressed reads layers through Uncompressed() instead of
	// Compressed(): for docker save archives, whose layers are plain tars
	// and whose compressed form go-containerregistry would have to compute.
	uncompressed bool
	repoTags     []string
	repoDigests  []string
}

// ingest stores every missing layer of img, then its manifest and config,
// and finally records the image under the given tags. Nothing is recorded
// unless every layer is complete.
func (s *Store) ingest(ctx context.Context, img v1.Image, o ingestOptions) (*Image, error) {
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("read config digest: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read image config: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("parse image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image has %d layers but its config lists %d diff IDs", len(layers), len(cfg.RootFS.DiffIDs))
	}
	rec := &Image{
		ID: cfgName.String(), Architecture: cfg.Architecture, OS: cfg.OS,
		Created: cfg.Created.Time, Stored: time.Now().UTC(),
		Config: Config{
			Env: cfg.Config.Env, Entrypoint: cfg.Config.Entrypoint, Cmd: cfg.Config.Cmd, User: cfg.Config.User,
			WorkingDir: cfg.Config.WorkingDir, Labels: cfg.Config.Labels,
		},
	}
	for p := range cfg.Config.ExposedPorts {
		rec.Config.ExposedPorts = append(rec.Config.ExposedPorts, p)
	}
	sort.Strings(rec.Config.ExposedPorts)
	rec.Layers = make([]Layer, len(layers))
	for i, l := range layers {
		rec.Layers[i].DiffID = cfg.RootFS.DiffIDs[i].String()
		if mt, err := l.MediaType(); err == nil {
			rec.Layers[i].MediaType = string(mt)
		}
		if !o.uncompressed {
			if d, err := l.Digest(); err == nil {
				rec.Layers[i].Digest = d.String()
			}
			if n, err := l.Size(); err == nil {
				rec.Layers[i].Size = n
			}
		}
	}

	sizes := make([]int64, len(layers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.parallel)
	for i, l := range layers {
		meta := rec.Layers[i]
		g.Go(func() error {
			n, err := s.ensureLayer(gctx, l, meta, o)
			if err != nil {
				return fmt.Errorf("image %s: layer %s: %w", o.ref, meta.DiffID, err)
			}
			sizes[i] = n
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, n := range sizes {
		rec.Size += n
	}

	if err := s.putBlob(cfgName.String(), rawCfg); err != nil {
		return nil, err
	}
	if raw, err := img.RawManifest(); err == nil {
		if d, err := img.Digest(); err == nil {
			rec.ManifestDigest = d.String()
			if err := s.putBlob(d.String(), raw); err != nil {
				return nil, err
			}
		}
	}
	rec.RepoTags = o.repoTags
	rec.RepoDigests = o.repoDigests
	return s.record(ctx, rec)
}

// record adds rec to the index, moving its tags off any image that had
// them. It returns the stored record (merged with an existing one).
func (s *Store) record(ctx context.Context, rec *Image) (*Image, error) {
	var out *Image
	err := s.withLock(ctx, func() error {
		idx, err := s.readIndexLocked()
		if err != nil {
			return err
		}
		// Layers might have been collected between unpack and now.
		for _, l := range rec.Layers {
			if !s.hasLayer(l.DiffID) {
				return fmt.Errorf("layer %s vanished before the image was recorded", l.DiffID)
			}
		}
		if old, ok := idx.Images[rec.ID]; ok {
			rec.RepoTags = mergeSorted(old.RepoTags, rec.RepoTags)
			rec.RepoDigests = mergeSorted(old.RepoDigests, rec.RepoDigests)
		}
		for _, t := range rec.RepoTags {
			if prev, ok := idx.Tags[t]; ok && prev != rec.ID {
				if p := idx.Images[prev]; p != nil {
					p.RepoTags = slices.DeleteFunc(p.RepoTags, func(x string) bool { return x == t })
				}
			}
			idx.Tags[t] = rec.ID
		}
		idx.Images[rec.ID] = rec
		out = rec
		return s.writeIndexLocked(idx)
	})
	return out, err
}

func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// putBlob stores a small blob (manifest or config) by digest.
func (s *Store) putBlob(digest string, data []byte) error {
	sum := sha256.Sum256(data)
	if "sha256:"+hex.EncodeToString(sum[:]) != digest {
		return fmt.Errorf("blob %s: content digest mismatch", digest)
	}
	p := s.blobPath(digest)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := writeFileAtomic(p, data, true); err != nil {
		return fmt.Errorf("store blob %s: %w", digest, err)
	}
	return nil
}

// ensureLayer makes sure a complete unpacked layer exists, sharing the work
// with any concurrent ensureLayer of the same diff ID. It returns the
// layer's unpacked size.
func (s *Store) ensureLayer(ctx context.Context, l v1.Layer, meta Layer, o ingestOptions) (int64, error) {
	report := func(p Progress) {
		if o.progress != nil {
			p.Ref, p.Layer = o.ref, meta.DiffID
			o.progress(p)
		}
	}
	if s.hasLayer(meta.DiffID) {
		report(Progress{Done: true, Cached: true, Total: meta.Size, Current: meta.Size})
		return dirSize(s.layerDir(meta.DiffID))
	}
	v, err, _ := s.layers.Do(meta.DiffID, func() (any, error) {
		if s.hasLayer(meta.DiffID) {
			return dirSize(s.layerDir(meta.DiffID))
		}
		return s.unpackLayer(ctx, l, meta, o.uncompressed, report)
	})
	if err != nil {
		return 0, err
	}
	report(Progress{Done: true, Total: meta.Size, Current: meta.Size})
	return v.(int64), nil
}

// unpackLayer reads a layer blob, checks its digests and unpacks it into a
// temporary directory that is renamed into place only when complete.
func (s *Store) unpackLayer(ctx context.Context, l v1.Layer, meta Layer, uncompressed bool, report ProgressFunc) (size int64, err error) {
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "layers", "tmp"), "unpack-")
	if err != nil {
		return 0, fmt.Errorf("make unpack directory: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("remove unpack directory: %w", rerr)
		}
	}()
	// The lock tells another process's GC that this unpack is alive.
	lock, err := os.Create(filepath.Join(tmp, ".lock"))
	if err != nil {
		return 0, fmt.Errorf("lock unpack directory: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return 0, fmt.Errorf("lock unpack directory: %w", err)
	}
	fsDir := filepath.Join(tmp, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return 0, fmt.Errorf("make unpack directory: %w", err)
	}

	var src io.ReadCloser
	if uncompressed {
		src, err = l.Uncompressed()
	} else {
		src, err = l.Compressed()
	}
	if err != nil {
		return 0, fmt.Errorf("open layer: %w", err)
	}
	defer src.Close()
	counted := &countingReader{r: src, total: meta.Size, report: report}
	var tarStream io.Reader = counted
	if !uncompressed {
		dec, _, err := Decompress(counted)
		if err != nil {
			return 0, fmt.Errorf("decompress layer: %w", err)
		}
		defer dec.Close()
		tarStream = dec
	}
	h := sha256.New()
	tee := io.TeeReader(tarStream, h)
	stats, err := Unpack(ctx, tee, fsDir, UnpackOptions{NoChown: s.noChown})
	if err != nil {
		return 0, err
	}
	// The tar reader stops at the end-of-archive marker; the diff ID and
	// the blob digest (checked by go-containerregistry at EOF) cover every
	// byte, so read the rest.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return 0, fmt.Errorf("read layer: %w", err)
	}
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return 0, fmt.Errorf("read layer: %w", err)
	}
	if err := checkDigest(h, meta.DiffID); err != nil {
		return 0, err
	}
	if err := src.Close(); err != nil {
		return 0, fmt.Errorf("verify layer blob: %w", err)
	}
	if err := syncTree(fsDir); err != nil {
		return 0, fmt.Errorf("sync layer: %w", err)
	}
	final := s.layerDir(meta.DiffID)
	if err := os.Rename(fsDir, final); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
			return stats.Bytes, nil // another process finished it first
		}
		return 0, fmt.Errorf("move layer into place: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return 0, fmt.Errorf("sync layer directory: %w", err)
	}
	return stats.Bytes, s.linkLayer(meta.DiffID)
}

// linkLayer creates the layer's short symlink under l/.
func (s *Store) linkLayer(diffID string) error {
	link := filepath.Join(s.root, shortLink(diffID))
	target := filepath.Join("..", "layers", "sha256", strings.TrimPrefix(diffID, "sha256:"))
	if cur, err := os.Readlink(link); err == nil {
		if cur == target {
			return nil
		}
		return fmt.Errorf("short link %s already points to %s", link, cur)
	}
	if err := os.Symlink(target, link); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("link layer: %w", err)
	}
	return nil
}

func checkDigest(h hash.Hash, want string) error {
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if got != want {
		return fmt.Errorf("layer content digest %s does not match diff ID %s", got, want)
	}
	return nil
}

// syncTree makes a freshly unpacked tree durable with one syncfs of its
// filesystem, which is much cheaper than an fsync per file.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// countingReader counts bytes and reports progress at most every 1 MiB.
type countingReader struct {
	r       io.Reader
	n, last int64
	total   int64
	report  ProgressFunc
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.report != nil && (c.n-c.last >= 1<<20 || (err == io.EOF && c.n != c.last)) {
		c.last = c.n
		c.report(Progress{Current: c.n, Total: c.total})
	}
	return n, err
}

// dirSize sums the sizes of regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
}
