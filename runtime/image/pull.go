package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	goruntime "runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Credentials for a registry, as the manager's image registry config
// gives them. Empty means anonymous; go-containerregistry negotiates basic
// or token auth as the registry asks.
type Credentials struct {
	Username string
	Password string
}

// PullOptions configure a pull.
type PullOptions struct {
	Auth Credentials
	// Insecure allows plain HTTP; only for registries explicitly configured
	// as insecure.
	Insecure bool
	// Platform picks the image of a manifest list; zero means linux and
	// this host's architecture.
	Platform  v1.Platform
	Progress  ProgressFunc
	Transport http.RoundTripper
}

// ParseReference parses an image reference (tag or digest) the way pulls do.
func ParseReference(ref string, insecure bool) (name.Reference, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	return r, nil
}

// HostPlatform is linux on this host's architecture.
func HostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
}

// Pull fetches ref (a tag or digest reference) and stores it. A manifest
// list resolves to the image for o.Platform. Two concurrent pulls of the
// same reference share one pull; layers present already are not fetched.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	r, err := ParseReference(ref, o.Insecure)
	if err != nil {
		return nil, err
	}
	v, err, _ := s.pulls.Do(r.Name(), func() (any, error) { return s.pull(ctx, r, o) })
	if err != nil {
		return nil, err
	}
	return v.(*Image), nil
}

func (s *Store) pull(ctx context.Context, r name.Reference, o PullOptions) (*Image, error) {
	platform := o.Platform
	if platform.OS == "" {
		platform = HostPlatform()
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(platform)}
	if o.Auth != (Credentials{}) {
		opts = append(opts, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: o.Auth.Username, Password: o.Auth.Password})))
	} else {
		opts = append(opts, remote.WithAuth(authn.Anonymous))
	}
	if o.Transport != nil {
		opts = append(opts, remote.WithTransport(o.Transport))
	}
	s.log.Info("pulling image", "image", r.Name())
	img, err := remote.Image(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), describeRegistryError(err))
	}
	in := ingestOptions{ref: r.Name(), progress: o.Progress}
	if d, err := img.Digest(); err == nil {
		in.repoDigests = []string{r.Context().Name() + "@" + d.String()}
	}
	if _, isTag := r.(name.Tag); isTag {
		in.repoTags = []string{r.Name()}
	}
	rec, err := s.ingest(ctx, img, in)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), describeRegistryError(err))
	}
	s.log.Info("pulled image", "image", r.Name(), "id", rec.ID, "layers", len(rec.Layers))
	return rec, nil
}

// describeRegistryError keeps the registry's error but makes the common
// statuses plain.
func describeRegistryError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("registry refused the credentials (HTTP %d): %w", te.StatusCode, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w in the registry (HTTP 404): %w", ErrNotFound, err)
		}
	}
	return err
}

// AutoPull is the manager's pull policy for an image (spec 6.2).
type AutoPull string

// Pull policies.
const (
	AutoPullDigest AutoPull = "digest" // pull when absent or when the local ID differs
	AutoPullTag    AutoPull = "tag"    // pull only when absent
	AutoPullNone   AutoPull = "none"   // never pull
)

// NeedsPull decides, as upstream's check_image does, whether ref must be
// pulled: present with auto_pull=digest and a different ID → pull; present
// otherwise → no; absent with digest or tag → pull; absent with none →
// ErrNotAvailable. Local-only images are never pulled.
func (s *Store) NeedsPull(ctx context.Context, ref, digest string, policy AutoPull, isLocal bool) (bool, error) {
	img, err := s.Get(ctx, ref)
	switch {
	case err == nil:
		return !isLocal && policy == AutoPullDigest && digest != "" && img.ID != digest, nil
	case !errors.Is(err, ErrNotFound):
		return false, err
	case isLocal || policy == AutoPullNone:
		return false, fmt.Errorf("%w: %s (auto_pull=%s, local=%v)", ErrNotAvailable, ref, policy, isLocal)
	case policy == AutoPullDigest || policy == AutoPullTag:
		return true, nil
	}
	return false, fmt.Errorf("unknown auto_pull policy %q", policy)
}
