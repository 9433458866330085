package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// List returns every image, newest first.
func (s *Store) List(ctx context.Context) ([]*Image, error) {
	var out []*Image
	err := s.withLock(ctx, func() error {
		idx, err := s.readIndexLocked()
		if err != nil {
			return err
		}
		for _, img := range idx.Images {
			out = append(out, img)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Stored.Equal(out[j].Stored) {
			return out[i].Stored.After(out[j].Stored)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// Get finds an image by tag or digest reference, by ID (sha256:...), or by
// a unique prefix of the ID's hex of at least 12 digits.
func (s *Store) Get(ctx context.Context, ref string) (*Image, error) {
	var out *Image
	err := s.withLock(ctx, func() error {
		idx, err := s.readIndexLocked()
		if err != nil {
			return err
		}
		id, err := resolveLocked(idx, ref)
		if err != nil {
			return err
		}
		out = idx.Images[id]
		return nil
	})
	return out, err
}

// resolveLocked maps a user's reference to an image ID.
func resolveLocked(idx *index, ref string) (string, error) {
	if _, ok := idx.Images[ref]; ok {
		return ref, nil
	}
	hexPart := strings.TrimPrefix(ref, "sha256:")
	if len(hexPart) >= 12 && isHex(hexPart) {
		var match []string
		for id := range idx.Images {
			if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), hexPart) {
				match = append(match, id)
			}
		}
		if len(match) == 1 {
			return match[0], nil
		}
		if len(match) > 1 {
			return "", fmt.Errorf("image ID prefix %s is ambiguous", ref)
		}
	}
	r, err := ParseReference(ref, false)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if id, ok := idx.Tags[r.Name()]; ok {
		return id, nil
	}
	for id, img := range idx.Images {
		if slices.Contains(img.RepoDigests, r.Name()) {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrNotFound, ref)
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Remove deletes a tag, or a whole image when ref is an ID or the image's
// last tag, and then the layers no other image or kernel uses. An image
// whose layers a running kernel holds is refused with ErrInUse.
func (s *Store) Remove(ctx context.Context, ref string) (removedLayers []string, err error) {
	err = s.withLock(ctx, func() error {
		idx, err := s.readIndexLocked()
		if err != nil {
			return err
		}
		id, err := resolveLocked(idx, ref)
		if err != nil {
			return err
		}
		img := idx.Images[id]
		if r, perr := ParseReference(ref, false); perr == nil && idx.Tags[r.Name()] == id && len(img.RepoTags) > 1 {
			// Just untag.
			delete(idx.Tags, r.Name())
			img.RepoTags = slices.DeleteFunc(img.RepoTags, func(t string) bool { return t == r.Name() })
			return s.writeIndexLocked(idx)
		}
		held, err := s.heldLayers()
		if err != nil {
			return err
		}
		for _, l := range img.Layers {
			if held[l.DiffID] {
				return fmt.Errorf("remove %s: %w: layer %s is held by a running kernel", ref, ErrInUse, l.DiffID)
			}
		}
		for _, t := range img.RepoTags {
			delete(idx.Tags, t)
		}
		delete(idx.Images, id)
		if err := s.writeIndexLocked(idx); err != nil {
			return err
		}
		removedLayers, err = s.collectLocked(idx, held)
		return err
	})
	return removedLayers, err
}

// GC removes layers that no image uses and no kernel holds, blobs no image
// refers to, and leftovers of interrupted unpacks. It returns the removed
// layers' diff IDs.
func (s *Store) GC(ctx context.Context) ([]string, error) {
	var removed []string
	err := s.withLock(ctx, func() error {
		if err := s.removeStaleTemp(); err != nil {
			return err
		}
		idx, err := s.readIndexLocked()
		if err != nil {
			return err
		}
		held, err := s.heldLayers()
		if err != nil {
			return err
		}
		removed, err = s.collectLocked(idx, held)
		return err
	})
	return removed, err
}

// collectLocked deletes unused layers, their short links and unused blobs.
// Preconditions: the store lock is held.
func (s *Store) collectLocked(idx *index, held map[string]bool) ([]string, error) {
	used := map[string]bool{}
	blobs := map[string]bool{}
	for _, img := range idx.Images {
		for _, l := range img.Layers {
			used[l.DiffID] = true
		}
		blobs[img.ID] = true
		blobs[img.ManifestDigest] = true
	}
	entries, err := os.ReadDir(filepath.Join(s.root, "layers", "sha256"))
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	var removed []string
	for _, e := range entries {
		id := "sha256:" + e.Name()
		if used[id] || held[id] {
			continue
		}
		// Move it out of the layer namespace first: an interrupted removal
		// must not leave a half-deleted directory that looks complete.
		dead := filepath.Join(s.root, "layers", "tmp", "gc-"+e.Name())
		if err := os.Rename(s.layerDir(id), dead); err != nil {
			return removed, fmt.Errorf("remove layer %s: %w", id, err)
		}
		_ = os.Remove(filepath.Join(s.root, shortLink(id)))
		if err := os.RemoveAll(dead); err != nil {
			return removed, fmt.Errorf("remove layer %s: %w", id, err)
		}
		removed = append(removed, id)
	}
	bl, err := os.ReadDir(filepath.Join(s.root, "blobs", "sha256"))
	if err != nil {
		return removed, fmt.Errorf("list blobs: %w", err)
	}
	for _, e := range bl {
		if !blobs["sha256:"+e.Name()] {
			_ = os.Remove(filepath.Join(s.root, "blobs", "sha256", e.Name()))
		}
	}
	return removed, nil
}

// lease is what a kernel's rootfs holds.
type lease struct {
	KernelID string   `json:"kernel_id"`
	Image    string   `json:"image"`
	Layers   []string `json:"layers"`
	Target   string   `json:"target"`
}

// heldLayers returns the layers that leases hold.
func (s *Store) heldLayers() (map[string]bool, error) {
	held := map[string]bool{}
	entries, err := os.ReadDir(filepath.Join(s.root, "leases"))
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.root, "leases", e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read lease: %w", err)
		}
		var l lease
		if err := json.Unmarshal(b, &l); err != nil {
			// A lease we cannot read still protects nothing we know of;
			// keep everything rather than guess.
			return nil, fmt.Errorf("read lease %s: %w", e.Name(), err)
		}
		for _, d := range l.Layers {
			held[d] = true
		}
	}
	return held, nil
}
