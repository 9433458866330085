package registry_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/registry"
	"github.com/baiagent/agent/test/testenv"
)

func TestPrivilegedRegistry(t *testing.T) {
	testenv.RequirePrivileged(t)
	img, err := fixtures.Busybox(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		auth bool
	}{
		{"anonymous", false},
		{"auth", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := registry.Start(t, registry.Options{Auth: tc.auth})
			if got := r.Push(t, img, "lablup/busybox:latest"); got != want.String() {
				t.Errorf("Push returned %s, want %s", got, want)
			}
			ref, err := name.ParseReference(r.Ref("lablup/busybox:latest"), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			pulled, err := remote.Image(ref, remote.WithAuth(r.Authenticator()), remote.WithContext(t.Context()))
			if err != nil {
				t.Fatalf("pull %s: %v", ref, err)
			}
			if got, _ := pulled.Digest(); got != want {
				t.Errorf("pulled digest %s, want %s", got, want)
			}
			cf, err := pulled.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if got := cf.Config.Labels["ai.backend.kernelspec"]; got != "1" {
				t.Errorf("pulled config label ai.backend.kernelspec = %q, want 1", got)
			}

			resp, err := http.Get("http://" + r.Host() + "/v2/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !tc.auth {
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET /v2/ without auth: %s, want 200", resp.Status)
				}
				return
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET /v2/ without credentials: %s, want 401", resp.Status)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="test"` {
				t.Errorf("WWW-Authenticate = %q, want Basic realm=\"test\"", got)
			}
			for _, a := range []authn.Authenticator{authn.Anonymous, &authn.Basic{Username: r.User, Password: "wrong"}} {
				_, err = remote.Image(ref, remote.WithAuth(a), remote.WithContext(t.Context()))
				if terr, ok := errors.AsType[*transport.Error](err); !ok || terr.StatusCode != http.StatusUnauthorized {
					t.Errorf("pull with %T: %v, want a 401 transport error", a, err)
				}
			}
		})
	}

	t.Run("stop and restart", func(t *testing.T) {
		r := registry.Start(t, registry.Options{})
		r.Push(t, img, "busybox:1")
		ref, err := name.ParseReference(r.Ref("busybox:1"), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		r.Stop()
		if _, err := remote.Head(ref, remote.WithContext(t.Context())); err == nil {
			t.Fatal("HEAD on a stopped registry succeeded")
		}
		r.Restart(t)
		d, err := remote.Head(ref, remote.WithContext(t.Context()))
		if err != nil {
			t.Fatalf("HEAD after restart: %v", err)
		}
		if d.Digest != want {
			t.Errorf("digest after restart %s, want %s", d.Digest, want)
		}
	})
}
