package image

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/registry"
	"github.com/baiagent/agent/test/testenv"
)

// TestPrivilegedManyLayers mounts the rootfs of a 200-layer image: with
// absolute layer paths the overlay options would be ~16 KiB, four times
// the kernel's one-page limit.
func TestPrivilegedManyLayers(t *testing.T) {
	testenv.RequirePrivileged(t)
	img, err := random.Image(64, 200)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := fixtures.WriteLayout(img, filepath.Join(dir, "layout"), "bai/many:1.0"); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "")
	imgs, err := s.Import(t.Context(), filepath.Join(dir, "layout"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(imgs[0].Layers); n != 200 {
		t.Fatalf("imported %d layers", n)
	}
	rfs, err := s.Mount(t.Context(), "k-many", imgs[0].ID, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Unmount(t.Context(), "k-many") })
	tree := mergedTree(t, rfs.Target)
	files := 0
	for _, v := range tree {
		if strings.HasPrefix(v, "file:") {
			files++
		}
	}
	if files != 200 {
		t.Fatalf("merged rootfs shows %d files, want one from each of the 200 layers", files)
	}
}

func TestOverlayOptionsLimit(t *testing.T) {
	layers := make([]Layer, 300)
	for i := range layers {
		layers[i].DiffID = "sha256:" + strings.Repeat("0", 60) + string(rune('a'+i%26)) + "bcd"
	}
	if _, err := overlayData(layers[:200], "/var/lib/backend.ai/scratches/k/rootfs-upper", "/var/lib/backend.ai/scratches/k/rootfs-work"); err != nil {
		t.Fatalf("200 layers: %v", err)
	}
	if _, err := overlayData(layers, "/u", "/w"); err == nil || !strings.Contains(err.Error(), "300 layers") {
		t.Fatalf("300 layers: %v, want an error naming the limit", err)
	}
}

// TestPrivilegedManifestList pulls a tag that names a manifest list and
// gets the image of this host's platform.
func TestPrivilegedManifestList(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	host := busybox(t)
	other, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	foreign := v1.Platform{OS: "linux", Architecture: "riscv64"}
	if HostPlatform().Architecture == "riscv64" {
		foreign.Architecture = "s390x"
	}
	hp := HostPlatform()
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &foreign}},
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &hp}},
	)
	tag, err := name.NewTag(reg.Ref("bai/multi:1.0"), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx, remote.WithAuth(reg.Authenticator())); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "")
	got, err := s.Pull(t.Context(), reg.Ref("bai/multi:1.0"), PullOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := configDigest(t, host); got.ID != want {
		t.Fatalf("pulled %s from the manifest list, want the host platform's image %s", got.ID, want)
	}
	if _, err := s.Pull(t.Context(), reg.Ref("bai/multi:1.0"), PullOptions{Insecure: true, Platform: v1.Platform{OS: "linux", Architecture: "mips"}}); err == nil {
		t.Fatal("pull for a platform the list lacks succeeded")
	}
}
