package stats

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// copyTree copies testdata/name into a new temporary directory and
// returns it.
func copyTree(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// writeFile replaces root/rel.
func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeStatfs answers statfs from a table of mount points (in GiB);
// points missing from it fail.
type fakeStatfs map[string][2]int64

func (f fakeStatfs) statfs(p string) (diskUsage, error) {
	u, ok := f[p]
	if !ok {
		return diskUsage{}, &fs.PathError{Op: "statfs", Path: p, Err: fs.ErrNotExist}
	}
	gib := DecimalFromInt(1 << 30)
	return diskUsage{used: DecimalFromInt(u[0]).mul(gib), capacity: DecimalFromInt(u[1]).mul(gib)}, nil
}

// dumpNode writes s as sorted lines.
func dumpNode(b *strings.Builder, s NodeStats) {
	for _, key := range slices.Sorted(maps.Keys(s.Node)) {
		fmt.Fprintf(b, "node %s: %s\n", key, s.Node[key])
	}
	for _, key := range slices.Sorted(maps.Keys(s.Devices)) {
		for _, id := range slices.Sorted(maps.Keys(s.Devices[key])) {
			fmt.Fprintf(b, "device %s %s: %s\n", key, id, s.Devices[key][id])
		}
	}
}

func TestNodeSampleGolden(t *testing.T) {
	root := copyTree(t, "server")
	disks := fakeStatfs{
		"/":                    {50, 100},
		"/mnt/projects (bind)": {1024, 4096}, // /data itself fails
		"/home":                {10, 20},
		"/var/cache/scratches": {5, 10},
		"/tank":                {7, 8},
		"/mnt/usb disk":        {1, 2},
	}
	n := NewNode(NodeOptions{ProcRoot: root, ExcludeMountPrefixes: []string{"/var/lib/backend.ai/images", "/var/cache/scratches"}})
	n.statfs = disks.statfs
	var b strings.Builder
	sample := func(s float64) {
		t.Helper()
		stats, err := n.Sample(at(s))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "# t=%gs\n", s)
		dumpNode(&b, stats)
	}
	sample(0)

	// 30 s later: cpu0 busy all along (3000 ticks), cpu1 10% (300),
	// cpu2 idle, cpu3 5% (150); 3 MB in and 30 bytes out over
	// non-loopback interfaces, and much more over lo.
	writeFile(t, root, "stat", strings.NewReplacer(
		"cpu0 1393 280 283", "cpu0 2893 280 1783",
		"cpu1 1321 0 101", "cpu1 1521 0 201",
		"cpu3 991 0 100", "cpu3 1091 0 150",
	).Replace(readTestdata(t, "server/stat")))
	writeFile(t, root, "net/dev", strings.NewReplacer(
		"eno2:  1000000", "eno2:  4000000",
		"2000000    2000", "2000030    2000",
		"lo: 9000000000", "lo: 9900000000",
	).Replace(readTestdata(t, "server/net/dev")))
	writeFile(t, root, "meminfo", strings.Replace(readTestdata(t, "server/meminfo"), "49152000", "32768000", 1))
	sample(30)

	// The USB disk is gone.
	delete(disks, "/mnt/usb disk")
	sample(60)
	golden(t, "node.golden", b.String())
}

// readTestdata returns the content of a testdata file.
func readTestdata(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNodeSamplePartialFailure(t *testing.T) {
	root := copyTree(t, "server")
	n := NewNode(NodeOptions{ProcRoot: root})
	n.statfs = fakeStatfs{"/": {1, 2}}.statfs
	if _, err := n.Sample(at(0)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "net", "dev")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "meminfo", "garbage\n")
	s, err := n.Sample(at(30))
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want a missing net/dev and a malformed meminfo", err)
	}
	for _, want := range []string{"node net:", "node mem:", "meminfo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The failed sources keep their last values; the others moved on.
	if _, ok := s.Node[KeyNetRx]; !ok {
		t.Error("net_rx dropped after a failed read")
	}
	if got := s.Node[KeyMem]["current"]; got != "16777216000" {
		t.Errorf("mem = %v, want the previous 16777216000", got)
	}
	if got := s.Node[KeyCPUUtil]["capacity"]; got != "30000" {
		t.Errorf("cpu_util capacity = %v, want 30000", got)
	}
}

func TestNodeSampleMissingProc(t *testing.T) {
	n := NewNode(NodeOptions{ProcRoot: t.TempDir()})
	s, err := n.Sample(at(0))
	if err == nil || len(s.Node) != 0 {
		t.Errorf("empty proc root: %d metrics, err %v", len(s.Node), err)
	}
}

func TestNodeSampleThisHost(t *testing.T) {
	n := NewNode(NodeOptions{})
	if _, err := n.Sample(time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	s, err := n.Sample(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mem := s.Node[KeyMem]
	if c, _ := mem["capacity"].(string); c == "" || c == "0" {
		t.Errorf("mem = %s, want a total", mem)
	}
	if _, ok := s.Devices[KeyMem]["root"]; !ok {
		t.Error("mem has no device root")
	}
	if len(s.Devices[KeyCPUUtil]) == 0 {
		t.Error("no per-core cpu_util")
	}
	if _, ok := s.Devices[KeyCPUUtil]["0"]; !ok {
		t.Error("no cpu_util for core 0")
	}
	if c, _ := s.Node[KeyCPUUtil]["capacity"].(string); c == "" || c == "0" {
		t.Errorf("cpu_util capacity = %q, want the interval in ms", c)
	}
	if _, ok := s.Devices[KeyNetRx]["node"]; !ok {
		t.Error("net_rx has no device node")
	}
	// Where the host has a device-backed mount, disk reports it.
	candidates := hostDiskCandidates(t)
	if len(candidates) > 0 && len(s.Devices[KeyDisk]) == 0 {
		t.Errorf("disk reports nothing though %d mounts qualify", len(candidates))
	}
	for _, m := range candidates {
		if m.point == "/" {
			if _, ok := s.Devices[KeyDisk][m.source]; !ok {
				t.Errorf("disk lacks the root filesystem %s", m.source)
			}
		}
	}
	t.Logf("disks: %v", slices.Sorted(maps.Keys(s.Devices[KeyDisk])))
}

// hostDiskCandidates returns this host's mounts that qualify as disks.
func hostDiskCandidates(t *testing.T) []mount {
	t.Helper()
	types, err := parseFile("/proc/filesystems", parseFilesystems)
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := parseFile("/proc/self/mountinfo", parseMountinfo)
	if err != nil {
		t.Fatal(err)
	}
	return diskCandidates(mounts, types, nil)
}
