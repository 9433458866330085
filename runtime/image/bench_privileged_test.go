package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/registry"
	"github.com/baiagent/agent/test/testenv"
)

// BenchmarkPrivilegedPullVsSkopeoUmoci pulls and unpacks the ~300 MB
// multi-layer bench image from a loopback registry into an empty store,
// and in the same run does what a Docker-free stack of Debian tools does
// for the same result: `skopeo copy` to an OCI layout, then `umoci unpack`.
// It reports both times and their ratio (make bench).
func BenchmarkPrivilegedPullVsSkopeoUmoci(b *testing.B) {
	testenv.RequirePrivileged(b)
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Fatalf("%s is needed for the baseline (make deps installs it): %v", tool, err)
		}
	}
	img, err := fixtures.Bench(b.Context(), "")
	if err != nil {
		b.Fatal(err)
	}
	reg := registry.Start(b, registry.Options{})
	reg.Push(b, img, "bai/bench:1.0")
	ref := reg.Ref("bai/bench:1.0")
	var ours, theirs []time.Duration
	for b.Loop() {
		dir, err := os.MkdirTemp("/var/tmp", "bench-pull-")
		if err != nil {
			b.Fatal(err)
		}
		s, err := Open(b.Context(), Options{Root: filepath.Join(dir, "images")})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := s.Pull(b.Context(), ref, PullOptions{Insecure: true}); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(start))

		start = time.Now()
		layout := filepath.Join(dir, "oci")
		run(b, "skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+layout+":bench")
		run(b, "umoci", "unpack", "--image", layout+":bench", filepath.Join(dir, "bundle"))
		theirs = append(theirs, time.Since(start))
		_ = os.RemoveAll(dir)
	}
	o, t := median(ours), median(theirs)
	b.ReportMetric(o.Seconds()*1000, "ms-ours")
	b.ReportMetric(t.Seconds()*1000, "ms-skopeo+umoci")
	b.ReportMetric(t.Seconds()/o.Seconds(), "x-faster")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPrivilegedRootfsSecondKernel measures the rootfs of a kernel
// whose image is present: lease, directories and the overlay mount, with
// no layer unpacked again.
func BenchmarkPrivilegedRootfsSecondKernel(b *testing.B) {
	testenv.RequirePrivileged(b)
	img, err := fixtures.Whiteout(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := fixtures.WriteLayout(img, filepath.Join(dir, "layout"), "bai/whiteout:1.0"); err != nil {
		b.Fatal(err)
	}
	s, err := Open(b.Context(), Options{Root: filepath.Join(dir, "images")})
	if err != nil {
		b.Fatal(err)
	}
	imgs, err := s.Import(b.Context(), filepath.Join(dir, "layout"), ImportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	layersBefore, _ := os.ReadDir(filepath.Join(dir, "images", "layers", "sha256"))
	var times []time.Duration
	i := 0
	for b.Loop() {
		id := fmt.Sprintf("k%d", i)
		i++
		start := time.Now()
		if _, err := s.Mount(b.Context(), id, imgs[0].ID, filepath.Join(dir, "scratch", id)); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		b.StopTimer()
		if err := s.Unmount(b.Context(), id); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	layersAfter, _ := os.ReadDir(filepath.Join(dir, "images", "layers", "sha256"))
	if len(layersAfter) != len(layersBefore) {
		b.Fatalf("layers went from %d to %d", len(layersBefore), len(layersAfter))
	}
	b.ReportMetric(float64(median(times).Microseconds())/1000, "ms-median-mount")
	b.ReportMetric(float64(len(imgs[0].Layers)), "layers")
}

func run(b *testing.B, name string, args ...string) {
	b.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
