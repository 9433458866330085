package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// ImportOptions configure an import.
type ImportOptions struct {
	// Tag names the imported image; required when the source names none,
	// and it replaces the source's names otherwise (single image only).
	Tag      string
	Progress ProgressFunc
}

// Import stores the images of a local source: a `docker save` tar, an OCI
// archive (a tar of an OCI image layout), or an OCI image layout directory.
func (s *Store) Import(ctx context.Context, path string, o ImportOptions) ([]*Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	if fi.IsDir() {
		return s.importLayout(ctx, path, o)
	}
	kind, err := sniffArchive(path)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	switch kind {
	case "docker":
		return s.importDockerSave(ctx, path, o)
	case "oci":
		dir, err := os.MkdirTemp(filepath.Join(s.root, "layers", "tmp"), "import-")
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		defer os.RemoveAll(dir)
		if err := extractArchive(path, dir); err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		return s.importLayout(ctx, dir, o)
	}
	return nil, fmt.Errorf("import %s: neither a docker save archive nor an OCI archive (no manifest.json or oci-layout)", path)
}

// sniffArchive tells a docker save tar ("docker") from an OCI archive
// ("oci") by the files at its top.
func sniffArchive(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	kind := ""
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return kind, nil
		}
		if err != nil {
			return "", fmt.Errorf("read archive: %w", err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "oci-layout":
			return "oci", nil
		case "manifest.json":
			kind = "docker" // an OCI archive may carry one too; keep looking
		}
	}
}

// extractArchive unpacks an OCI archive's regular files into dir. It only
// accepts plain relative names: blobs/..., index.json, oci-layout.
func extractArchive(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		n := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if filepath.IsAbs(n) || n == ".." || strings.HasPrefix(n, "../") {
			return fmt.Errorf("archive entry %q: %w", h.Name, ErrUnsafeEntry)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(n, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := root.MkdirAll(filepath.Dir(n), 0o755); err != nil {
				return err
			}
			out, err := root.OpenFile(n, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("extract %s: %w", n, err)
			}
		}
	}
}

func (s *Store) importLayout(ctx context.Context, dir string, o ImportOptions) ([]*Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("import %s: not an OCI layout: %w", dir, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	type entry struct {
		img  v1.Image
		name string
	}
	var entries []entry
	for _, desc := range im.Manifests {
		tag := desc.Annotations["org.opencontainers.image.ref.name"]
		if !desc.MediaType.IsImage() {
			// A nested index: take the host platform's image.
			idx, err := ii.ImageIndex(desc.Digest)
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", dir, err)
			}
			img, err := imageForPlatform(idx, HostPlatform())
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", dir, err)
			}
			entries = append(entries, entry{img, tag})
			continue
		}
		img, err := ii.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		entries = append(entries, entry{img, tag})
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("import %s: the layout holds no image", dir)
	}
	if o.Tag != "" && len(entries) > 1 {
		return nil, fmt.Errorf("import %s: --tag needs a single image, the layout holds %d", dir, len(entries))
	}
	var out []*Image
	for _, e := range entries {
		tags, err := importTags(e.name, o.Tag)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		rec, err := s.ingest(ctx, e.img, ingestOptions{ref: dir, progress: o.Progress, repoTags: tags})
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", dir, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// imageForPlatform picks an image of an index by platform.
func imageForPlatform(idx v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.OS == p.OS && d.Platform.Architecture == p.Architecture {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image for %s/%s in the index", p.OS, p.Architecture)
}

// importTags turns a layout's ref.name annotation (a full reference or
// just a tag) and the --tag option into canonical names.
func importTags(annotation, override string) ([]string, error) {
	n := override
	if n == "" {
		n = annotation
	}
	if n == "" {
		return nil, nil
	}
	r, err := name.NewTag(n)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", n, err)
	}
	return []string{r.Name()}, nil
}

func (s *Store) importDockerSave(ctx context.Context, path string, o ImportOptions) ([]*Image, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return nil, fmt.Errorf("import %s: read manifest.json: %w", path, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("import %s: manifest.json lists no image", path)
	}
	if o.Tag != "" && len(m) > 1 {
		return nil, fmt.Errorf("import %s: --tag needs a single image, the archive holds %d", path, len(m))
	}
	var out []*Image
	for i, d := range m {
		var tag *name.Tag
		if len(d.RepoTags) > 0 {
			t, err := name.NewTag(d.RepoTags[0])
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", path, err)
			}
			tag = &t
		} else if len(m) > 1 {
			return nil, fmt.Errorf("import %s: image %d has no tag; import it alone with --tag", path, i)
		}
		img, err := tarball.ImageFromPath(path, tag)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		var tags []string
		if o.Tag != "" {
			tags, err = importTags("", o.Tag)
			if err != nil {
				return nil, fmt.Errorf("import %s: %w", path, err)
			}
		} else {
			for _, t := range d.RepoTags {
				nt, err := importTags(t, "")
				if err != nil {
					return nil, fmt.Errorf("import %s: %w", path, err)
				}
				tags = append(tags, nt...)
			}
		}
		rec, err := s.ingest(ctx, img, ingestOptions{ref: path, progress: o.Progress, uncompressed: true, repoTags: tags})
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", path, err)
		}
		out = append(out, rec)
	}
	return out, nil
}
