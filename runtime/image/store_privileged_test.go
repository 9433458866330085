package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/registry"
	"github.com/baiagent/agent/test/testenv"
)

// envPullChild makes the test binary a child that pulls one image (used
// to kill a pull half way).
const envPullChild = "IMAGE_TEST_PULL_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(envPullChild); spec != "" {
		root, ref, _ := strings.Cut(spec, "|")
		s, err := Open(context.Background(), Options{Root: root})
		if err == nil {
			_, err = s.Pull(context.Background(), ref, PullOptions{Insecure: true})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func openStore(t *testing.T, root string) *Store {
	t.Helper()
	if root == "" {
		root = filepath.Join(t.TempDir(), "images")
	}
	s, err := Open(t.Context(), Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func configDigest(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func busybox(t *testing.T) v1.Image {
	t.Helper()
	img, err := fixtures.Busybox(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// assertConsistent checks that a failed pull left no partial state: no
// unpack in progress, no image recorded, only complete layers.
func assertConsistent(t *testing.T, s *Store, wantImages int) {
	t.Helper()
	tmp, _ := os.ReadDir(filepath.Join(s.root, "layers", "tmp"))
	if len(tmp) != 0 {
		t.Errorf("layers/tmp not empty after the pull ended: %v", tmp)
	}
	imgs, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != wantImages {
		t.Errorf("store has %d images, want %d", len(imgs), wantImages)
	}
}

func TestPrivilegedPullByTagAndDigest(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	img := busybox(t)
	manifestDigest := reg.Push(t, img, "bai/busybox:1.0")
	s := openStore(t, "")

	var fetched atomic.Int64
	got, err := s.Pull(t.Context(), reg.Ref("bai/busybox:1.0"), PullOptions{Insecure: true, Progress: func(p Progress) {
		if p.Done && !p.Cached {
			fetched.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != configDigest(t, img) {
		t.Fatalf("image ID %s, want the config digest %s", got.ID, configDigest(t, img))
	}
	if fetched.Load() != 1 || len(got.Layers) != 1 {
		t.Fatalf("fetched %d layers of %d", fetched.Load(), len(got.Layers))
	}
	if got.Config.Labels["ai.backend.kernelspec"] == "" || len(got.Config.Cmd) == 0 {
		t.Errorf("config not exposed: %+v", got.Config)
	}
	fetched.Store(0)
	byDigest, err := s.Pull(t.Context(), reg.Ref("bai/busybox@"+manifestDigest), PullOptions{Insecure: true, Progress: func(p Progress) {
		if p.Done && !p.Cached {
			fetched.Add(1)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if byDigest.ID != got.ID || fetched.Load() != 0 {
		t.Fatalf("pull by digest: ID %s (want %s), %d layers fetched again", byDigest.ID, got.ID, fetched.Load())
	}
	for _, ref := range []string{reg.Ref("bai/busybox:1.0"), got.ID, got.ID[7:19], reg.Ref("bai/busybox@" + manifestDigest)} {
		if g, err := s.Get(t.Context(), ref); err != nil || g.ID != got.ID {
			t.Errorf("Get(%s) = %v, %v", ref, g, err)
		}
	}
	if _, err := os.Readlink(filepath.Join(s.root, shortLink(got.Layers[0].DiffID))); err != nil {
		t.Errorf("short link missing: %v", err)
	}
	// check semantics (spec 6.2)
	for _, tc := range []struct {
		ref, digest string
		policy      AutoPull
		local       bool
		want        bool
		wantErr     error
	}{
		{reg.Ref("bai/busybox:1.0"), got.ID, AutoPullDigest, false, false, nil},
		{reg.Ref("bai/busybox:1.0"), "sha256:" + strings.Repeat("0", 64), AutoPullDigest, false, true, nil},
		{reg.Ref("bai/busybox:1.0"), "sha256:" + strings.Repeat("0", 64), AutoPullTag, false, false, nil},
		{reg.Ref("bai/other:1.0"), "", AutoPullTag, false, true, nil},
		{reg.Ref("bai/other:1.0"), "", AutoPullDigest, false, true, nil},
		{reg.Ref("bai/other:1.0"), "", AutoPullNone, false, false, ErrNotAvailable},
		{reg.Ref("bai/other:1.0"), "", AutoPullTag, true, false, ErrNotAvailable},
	} {
		need, err := s.NeedsPull(t.Context(), tc.ref, tc.digest, tc.policy, tc.local)
		if need != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("NeedsPull(%s, %s, %s, local=%v) = %v, %v; want %v, %v", tc.ref, tc.digest, tc.policy, tc.local, need, err, tc.want, tc.wantErr)
		}
	}
}

func TestPrivilegedPullAuth(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{Auth: true})
	reg.Push(t, busybox(t), "bai/busybox:auth")
	s := openStore(t, "")
	_, err := s.Pull(t.Context(), reg.Ref("bai/busybox:auth"), PullOptions{Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("anonymous pull from an auth registry: %v", err)
	}
	_, err = s.Pull(t.Context(), reg.Ref("bai/busybox:auth"), PullOptions{Insecure: true, Auth: Credentials{Username: reg.User, Password: "wrong"}})
	if err == nil {
		t.Fatal("pull with a wrong password succeeded")
	}
	assertConsistent(t, s, 0)
	if _, err := s.Pull(t.Context(), reg.Ref("bai/busybox:auth"), PullOptions{Insecure: true, Auth: Credentials{Username: reg.User, Password: reg.Password}}); err != nil {
		t.Fatal(err)
	}
}

func TestPrivilegedPullErrors(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	s := openStore(t, "")
	_, err := s.Pull(t.Context(), reg.Ref("bai/missing:1.0"), PullOptions{Insecure: true})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "bai/missing:1.0") {
		t.Errorf("pull of a missing image: %v", err)
	}
	host := reg.Host()
	reg.Stop()
	_, err = s.Pull(t.Context(), host+"/bai/busybox:1.0", PullOptions{Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("pull from a registry that is down: %v", err)
	}
	assertConsistent(t, s, 0)
}

// proxy sits in front of the registry to count, slow down or corrupt
// blob downloads.
type proxy struct {
	srv       *httptest.Server
	mu        sync.Mutex
	blobGets  map[string]int // by blob path
	delay     time.Duration  // per 32 KiB chunk of a blob
	corrupt   atomic.Bool
	truncated atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{blobGets: map[string]int{}}
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.Contains(resp.Request.URL.Path, "/blobs/sha256:") || resp.Request.Method != http.MethodGet {
			return nil
		}
		p.mu.Lock()
		p.blobGets[resp.Request.URL.Path]++
		p.mu.Unlock()
		resp.Body = &mangler{ReadCloser: resp.Body, p: p}
		if p.truncated.Load() {
			resp.Body = &truncator{ReadCloser: resp.Body, left: 1000}
		}
		return nil
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *proxy) host() string { return strings.TrimPrefix(p.srv.URL, "http://") }

type mangler struct {
	io.ReadCloser
	p *proxy
	n int
}

func (m *mangler) Read(b []byte) (int, error) {
	if len(b) > 32<<10 {
		b = b[:32<<10]
	}
	if m.p.delay > 0 {
		time.Sleep(m.p.delay)
	}
	n, err := m.ReadCloser.Read(b)
	if m.p.corrupt.Load() && n > 0 && m.n+n > 4096 && m.n <= 4096 {
		b[4096-m.n] ^= 0xff
	}
	m.n += n
	return n, err
}

type truncator struct {
	io.ReadCloser
	left int
}

func (tr *truncator) Read(b []byte) (int, error) {
	if tr.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(b) > tr.left {
		b = b[:tr.left]
	}
	n, err := tr.ReadCloser.Read(b)
	tr.left -= n
	return n, err
}

func TestPrivilegedCorruptAndTruncatedBlobs(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	reg.Push(t, busybox(t), "bai/busybox:1.0")
	px := newProxy(t, reg.Host())
	s := openStore(t, "")
	px.corrupt.Store(true)
	_, err := s.Pull(t.Context(), px.host()+"/bai/busybox:1.0", PullOptions{Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "layer sha256:") {
		t.Fatalf("pull of a corrupt blob: %v (want an error naming the layer)", err)
	}
	assertConsistent(t, s, 0)
	px.corrupt.Store(false)
	px.truncated.Store(true)
	_, err = s.Pull(t.Context(), px.host()+"/bai/busybox:1.0", PullOptions{Insecure: true})
	if err == nil || !strings.Contains(err.Error(), "bai/busybox:1.0") {
		t.Fatalf("pull of a truncated blob: %v", err)
	}
	assertConsistent(t, s, 0)
	entries, _ := os.ReadDir(filepath.Join(s.root, "layers", "sha256"))
	if len(entries) != 0 {
		t.Fatalf("a failed pull left layers: %v", entries)
	}
	px.truncated.Store(false)
	if _, err := s.Pull(t.Context(), px.host()+"/bai/busybox:1.0", PullOptions{Insecure: true}); err != nil {
		t.Fatalf("pull after the faults: %v", err)
	}
}

func TestPrivilegedConcurrentPullsShareDownloads(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	img := busybox(t)
	reg.Push(t, img, "bai/busybox:1.0")
	reg.Push(t, img, "bai/busybox:copy")
	px := newProxy(t, reg.Host())
	px.delay = 2 * time.Millisecond
	s := openStore(t, "")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		ref := px.host() + "/bai/busybox:1.0"
		if i%2 == 1 {
			ref = px.host() + "/bai/busybox:copy" // same layers, other tag
		}
		wg.Go(func() { _, errs[i] = s.Pull(t.Context(), ref, PullOptions{Insecure: true}) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := layers[0].Digest()
	px.mu.Lock()
	n := px.blobGets["/v2/bai/busybox/blobs/"+d.String()]
	px.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d downloads of the layer blob for 4 pulls at once, want 1", n)
	}
	got, err := s.Get(t.Context(), px.host()+"/bai/busybox:copy")
	if err != nil || len(got.RepoTags) != 2 {
		t.Fatalf("both tags should name one image: %+v, %v", got, err)
	}
}

func TestPrivilegedKilledMidPull(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	reg.Push(t, busybox(t), "bai/busybox:1.0")
	px := newProxy(t, reg.Host())
	px.delay = 20 * time.Millisecond // about 1.6 MB/s: the pull takes a while
	root := filepath.Join(t.TempDir(), "images")
	ref := px.host() + "/bai/busybox:1.0"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envPullChild+"="+root+"|"+ref)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(root, "layers", "tmp", "unpack-*", "fs", "bin"))
		if len(m) > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the child pull never started unpacking")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	// What the dead pull left must not look complete.
	if entries, _ := os.ReadDir(filepath.Join(root, "layers", "sha256")); len(entries) != 0 {
		t.Fatalf("killed pull left a complete-looking layer: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(root, "index.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("killed pull recorded an image: %v", err)
	}
	px.delay = 0
	s := openStore(t, root) // Open removes the dead unpack
	if _, err := s.Pull(t.Context(), ref, PullOptions{Insecure: true}); err != nil {
		t.Fatalf("re-pull: %v", err)
	}
	assertConsistent(t, s, 1)
}

func TestPrivilegedEscapingLayerRejected(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	evil, err := fixtures.Escaping(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, evil, "bai/evil:1.0")
	s := openStore(t, "")
	_, err = s.Pull(t.Context(), reg.Ref("bai/evil:1.0"), PullOptions{Insecure: true})
	if !errors.Is(err, ErrUnsafeEntry) || !strings.Contains(err.Error(), "bai/evil:1.0") || !strings.Contains(err.Error(), "layer sha256:") {
		t.Fatalf("pull of an escaping layer: %v", err)
	}
	assertConsistent(t, s, 0)
	_ = filepath.WalkDir(filepath.Dir(s.root), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "evil" {
			t.Errorf("the escaping entry was written: %s", p)
		}
		return nil
	})
}

func TestPrivilegedFullDisk(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	reg.Push(t, busybox(t), "bai/busybox:1.0")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=512k"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	s := openStore(t, filepath.Join(dir, "images"))
	_, err := s.Pull(t.Context(), reg.Ref("bai/busybox:1.0"), PullOptions{Insecure: true})
	if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "layer sha256:") {
		t.Fatalf("pull onto a full disk: %v", err)
	}
	assertConsistent(t, s, 0)
}

// mergedTree describes a rootfs as fixtures.WhiteoutExpected does.
func mergedTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "symlink:" + target
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			out[rel] = "file:" + string(b)
		default:
			out[rel] = "other:" + d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPrivilegedWhiteoutRootfs(t *testing.T) {
	testenv.RequirePrivileged(t)
	reg := registry.Start(t, registry.Options{})
	img, err := fixtures.Whiteout(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, img, "bai/whiteout:1.0")
	s := openStore(t, "")
	got, err := s.Pull(t.Context(), reg.Ref("bai/whiteout:1.0"), PullOptions{Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	rfs, err := s.Mount(t.Context(), "k-whiteout", got.ID, scratch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Unmount(context.Background(), "k-whiteout") })
	tree := mergedTree(t, rfs.Target)
	want := fixtures.WhiteoutExpected()
	for p, w := range want {
		if tree[p] != w {
			t.Errorf("%s: got %q, want %q", p, tree[p], w)
		}
	}
	for p, g := range tree {
		if _, ok := want[p]; !ok {
			t.Errorf("unexpected %s (%s) in the merged rootfs", p, g)
		}
	}
}

func TestPrivilegedLeasedLayersSurviveRemoveAndGC(t *testing.T) {
	testenv.RequirePrivileged(t)
	dir := t.TempDir()
	img := busybox(t)
	if err := fixtures.WriteLayout(img, filepath.Join(dir, "layout"), "bai/busybox:1.0"); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "")
	imgs, err := s.Import(t.Context(), filepath.Join(dir, "layout"), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := imgs[0].ID
	scratch := t.TempDir()
	rfs, err := s.Mount(t.Context(), "k1", id, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rfs.Target, "bin", "busybox")); err != nil {
		t.Fatalf("rootfs not mounted: %v", err)
	}
	if _, err := s.Remove(t.Context(), id); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove of an image in use: %v", err)
	}
	if removed, err := s.GC(t.Context()); err != nil || len(removed) != 0 {
		t.Fatalf("GC while in use removed %v, %v", removed, err)
	}
	if err := s.Unmount(t.Context(), "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(rfs.Target, "bin", "busybox")); err == nil {
		t.Fatal("rootfs still mounted after Unmount")
	}
	removed, err := s.Remove(t.Context(), id)
	if err != nil || len(removed) != 1 {
		t.Fatalf("remove after unmount: %v, %v", removed, err)
	}
	if _, err := s.Get(t.Context(), id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed image still found: %v", err)
	}
}

func TestPrivilegedImportFormats(t *testing.T) {
	testenv.RequirePrivileged(t)
	img := busybox(t)
	want := configDigest(t, img)
	dir := t.TempDir()
	layoutDir := filepath.Join(dir, "layout")
	if err := fixtures.WriteLayout(img, layoutDir, "bai/busybox:layout"); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.WriteOCIArchive(img, filepath.Join(dir, "oci.tar"), "bai/busybox:oci"); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.WriteDockerSave(img, filepath.Join(dir, "docker.tar"), "bai/busybox:docker"); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, "")
	for _, tc := range []struct{ path, tag, wantTag string }{
		{layoutDir, "", "bai/busybox:layout"},
		{filepath.Join(dir, "oci.tar"), "", "bai/busybox:oci"},
		{filepath.Join(dir, "docker.tar"), "", "bai/busybox:docker"},
		{filepath.Join(dir, "docker.tar"), "local/renamed:2", "local/renamed:2"},
	} {
		imgs, err := s.Import(t.Context(), tc.path, ImportOptions{Tag: tc.tag})
		if err != nil {
			t.Fatalf("import %s: %v", tc.path, err)
		}
		if len(imgs) != 1 || imgs[0].ID != want {
			t.Fatalf("import %s: %+v, want ID %s", tc.path, imgs, want)
		}
		wantName, _ := name.NewTag(tc.wantTag)
		if g, err := s.Get(t.Context(), tc.wantTag); err != nil || g.ID != want {
			t.Errorf("Get(%s) after import: %v (%s)", wantName, err, tc.path)
		}
	}
	if _, err := s.Import(t.Context(), filepath.Join(dir, "nothing.tar"), ImportOptions{}); err == nil {
		t.Error("import of a missing file succeeded")
	}
}
