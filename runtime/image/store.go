package image

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"
)

// Errors of the store, for errors.Is.
var (
	// ErrNotFound: no image matches the reference.
	ErrNotFound = errors.New("image not found")
	// ErrInUse: the image or layer is held by a running kernel.
	ErrInUse = errors.New("image in use")
	// ErrNotAvailable: the image is absent and may not be pulled
	// (auto_pull = none, or a local-only image).
	ErrNotAvailable = errors.New("image not available")
)

// Layer is one unpacked layer of an image.
type Layer struct {
	// DiffID is the digest of the uncompressed tar; it names the layer.
	DiffID string `json:"diff_id"`
	// Digest and Size describe the blob as the registry serves it
	// (empty for layers imported from a docker save archive).
	Digest    string `json:"digest,omitempty"`
	Size      int64  `json:"size,omitempty"`
	MediaType string `json:"media_type,omitempty"`
}

// Config is the part of the image config a kernel needs.
type Config struct {
	Env          []string          `json:"env,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	User         string            `json:"user,omitempty"`
	WorkingDir   string            `json:"working_dir,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	ExposedPorts []string          `json:"exposed_ports,omitempty"`
}

// Image is a complete image in the store.
type Image struct {
	// ID is the config digest ("sha256:..."), what the manager knows the
	// image by.
	ID             string    `json:"id"`
	ManifestDigest string    `json:"manifest_digest,omitempty"`
	RepoTags       []string  `json:"repo_tags,omitempty"`
	RepoDigests    []string  `json:"repo_digests,omitempty"`
	Architecture   string    `json:"architecture"`
	OS             string    `json:"os"`
	Layers         []Layer   `json:"layers"`
	Config         Config    `json:"config"`
	Created        time.Time `json:"created,omitzero"`
	Stored         time.Time `json:"stored"`
	// Size is the sum of the layers' uncompressed sizes.
	Size int64 `json:"size"`
}

// index is the store's catalogue, kept in index.json.
type index struct {
	Images map[string]*Image `json:"images"` // by ID
	Tags   map[string]string `json:"tags"`   // canonical reference -> ID
}

// Options configures a Store.
type Options struct {
	// Root is the store directory, e.g. /var/lib/backend.ai/images.
	Root   string
	Logger *slog.Logger
	// Parallel bounds how many layers download and unpack at once (default 4).
	Parallel int
	// NoChown unpacks without changing ownership (tests as non-root).
	NoChown bool
}

// Store is the image store. It is safe for concurrent use within a process;
// across processes (agent and CLI) the index is guarded by a file lock.
type Store struct {
	root     string
	log      *slog.Logger
	parallel int
	noChown  bool

	mu      sync.Mutex // guards index reads-modify-writes within the process
	layers  singleflight.Group
	pulls   singleflight.Group
	leaseMu sync.Mutex
}

// Open opens (creating if needed) the store at o.Root and removes what
// earlier interrupted unpacks left behind.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if !filepath.IsAbs(o.Root) {
		return nil, fmt.Errorf("open image store: root %q is not absolute", o.Root)
	}
	s := &Store{root: o.Root, log: o.Logger, parallel: o.Parallel, noChown: o.NoChown}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "layers/tmp", "l", "leases"} {
		if err := os.MkdirAll(filepath.Join(s.root, d), 0o700); err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	if err := s.withLock(ctx, func() error { return s.removeStaleTemp() }); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the store directory.
func (s *Store) Root() string { return s.root }

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.root, "layers", "sha256", strings.TrimPrefix(diffID, "sha256:"))
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.root, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// shortLink is the short name of a layer under l/, relative to the root.
func shortLink(diffID string) string {
	return "l/" + strings.TrimPrefix(diffID, "sha256:")[:12]
}

// hasLayer reports whether a complete layer is present.
func (s *Store) hasLayer(diffID string) bool {
	fi, err := os.Stat(s.layerDir(diffID))
	return err == nil && fi.IsDir()
}

// withLock runs fn holding the store's file lock (and the process mutex).
func (s *Store) withLock(ctx context.Context, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(s.root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open store lock: %w", err)
	}
	defer f.Close()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("lock image store: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock image store: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN) //nolint:errcheck // closing drops it anyway
	return fn()
}

// readIndexLocked reads index.json. Preconditions: the store lock is held.
func (s *Store) readIndexLocked() (*index, error) {
	idx := &index{Images: map[string]*Image{}, Tags: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(s.root, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if idx.Images == nil {
		idx.Images = map[string]*Image{}
	}
	if idx.Tags == nil {
		idx.Tags = map[string]string{}
	}
	return idx, nil
}

// writeIndexLocked replaces index.json atomically and durably.
// Preconditions: the store lock is held.
func (s *Store) writeIndexLocked(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image index: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.root, "index.json"), b, true); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file and renames it over path;
// with durable, the file and its directory are synced first.
func writeFileAtomic(path string, data []byte, durable bool) error {
	tmp := path + ".tmp-" + randomHex(4)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if durable {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// removeStaleTemp deletes leftovers of interrupted unpacks and writes.
// Preconditions: the store lock is held, and no unpack of this process is
// running (it is called from Open and GC only).
func (s *Store) removeStaleTemp() error {
	tmp := filepath.Join(s.root, "layers", "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("list unfinished unpacks: %w", err)
	}
	for _, e := range entries {
		// Unpacks in progress in another process hold a lock on their dir.
		p := filepath.Join(tmp, e.Name())
		if busy(p) {
			continue
		}
		s.log.Info("removing unfinished layer unpack", "path", p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove unfinished unpack: %w", err)
		}
	}
	blobs, _ := filepath.Glob(filepath.Join(s.root, "blobs", "sha256", "*.tmp-*"))
	idx, _ := filepath.Glob(filepath.Join(s.root, "index.json.tmp-*"))
	for _, p := range slices.Concat(blobs, idx) {
		_ = os.Remove(p)
	}
	return nil
}

// busy reports whether a temporary unpack directory is locked by a live
// unpack (its ".lock" file is flocked by the unpacking process).
func busy(dir string) bool {
	f, err := os.Open(filepath.Join(dir, ".lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}
