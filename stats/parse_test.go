package stats

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// open opens a testdata file.
func open(t testing.TB, rel string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseProcStat(t *testing.T) {
	cpus, err := parseProcStat(open(t, "server/stat"))
	if err != nil {
		t.Fatal(err)
	}
	want := []cpuTicks{{1393, 283}, {1321, 101}, {1000, 100}, {991, 100}}
	if !slices.Equal(cpus, want) {
		t.Errorf("got %v, want %v", cpus, want)
	}
	if got := cpus[0].busyMs().String(); got != "16760" { // 1676 ticks of 10 ms
		t.Errorf("busy ms = %s, want 16760", got)
	}

	cpus, err = parseProcStat(open(t, "debian-vm/stat"))
	if err != nil || len(cpus) != 2 {
		t.Errorf("debian-vm: %d cpus, %v; want 2", len(cpus), err)
	}
}

func TestParseProcStatErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no cpu lines":   "cpu  1 2 3 4\nintr 5\n",
		"short line":     "cpu0 1 2\n",
		"bad user":       "cpu0 x 0 1 2\n",
		"bad system":     "cpu0 1 0 -1 2\n",
		"overflow":       "cpu0 18446744073709551616 0 1 2\n",
		"empty":          "",
		"only aggregate": "cpu 1 2 3 4 5\n",
	} {
		_, err := parseProcStat(strings.NewReader(in))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	// Lines that only look like CPUs are skipped.
	cpus, err := parseProcStat(strings.NewReader("cpux 1 2 3\ncpu7 5 0 6 0\n"))
	if err != nil || !slices.Equal(cpus, []cpuTicks{{5, 6}}) {
		t.Errorf("got %v %v", cpus, err)
	}
}

func TestParseMeminfo(t *testing.T) {
	m, err := parseMeminfo(open(t, "server/meminfo"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (memUsage{used: (65536000 - 49152000) * 1024, total: 65536000 * 1024}); m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	for _, tc := range []struct {
		name, in string
		want     memUsage
	}{
		{"no MemAvailable", "MemTotal: 100 kB\nMemFree: 10 kB\nCached: 30 kB\n", memUsage{used: 60 * 1024, total: 100 * 1024}},
		{"zero MemAvailable", "MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 0 kB\nCached: 30 kB\n", memUsage{used: 60 * 1024, total: 100 * 1024}},
		{"available above total", "MemTotal: 100 kB\nMemFree: 20 kB\nMemAvailable: 500 kB\n", memUsage{used: 80 * 1024, total: 100 * 1024}},
		{"free above total", "MemTotal: 100 kB\nMemFree: 200 kB\nMemAvailable: 500 kB\n", memUsage{used: 0, total: 100 * 1024}},
		{"unitless lines ignored", "HugePages_Total: 4\nMemTotal: 8 kB\nMemAvailable: 8 kB\n", memUsage{used: 0, total: 8 * 1024}},
	} {
		got, err := parseMeminfo(strings.NewReader(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestParseMeminfoErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no total":  "MemFree: 1 kB\n",
		"bad value": "MemTotal: x kB\n",
		"bad unit":  "MemTotal: 1 MB\n",
		"overflow":  "MemTotal: 18446744073709551615 kB\n",
		"too many":  "MemTotal: 1 kB extra\n",
	} {
		if _, err := parseMeminfo(strings.NewReader(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseNetDev(t *testing.T) {
	n, err := parseNetDev(open(t, "server/net/dev"))
	if err != nil {
		t.Fatal(err)
	}
	// eno1 + eno2 + bai0, not lo; eno1's rx is at the uint64 limit and
	// the sum goes past it.
	if got := n.rx.String(); got != "18446744073715551615" {
		t.Errorf("rx = %s", got)
	}
	if got := n.tx.String(); got != "400008000000" {
		t.Errorf("tx = %s", got)
	}
	n, err = parseNetDev(open(t, "debian-vm/net/dev"))
	if err != nil || n.rx.Sign() <= 0 {
		t.Errorf("debian-vm: rx %s, %v", n.rx, err)
	}
	// The old format without a space after the colon.
	n, err = parseNetDev(strings.NewReader("eth0:12 0 0 0 0 0 0 0 34 0 0 0 0 0 0 0\n"))
	if err != nil || n.rx.String() != "12" || n.tx.String() != "34" {
		t.Errorf("compact line: %s %s %v", n.rx, n.tx, err)
	}
}

func TestParseNetDevErrors(t *testing.T) {
	for name, in := range map[string]string{
		"short":  "eth0: 1 2 3\n",
		"bad rx": "eth0: x 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n",
		"bad tx": "eth0: 1 0 0 0 0 0 0 0 -1 0 0 0 0 0 0 0\n",
	} {
		if _, err := parseNetDev(strings.NewReader(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	mounts, err := parseMountinfo(open(t, "server/self/mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 22 {
		t.Errorf("%d mounts, want 22", len(mounts))
	}
	for _, want := range []mount{
		{point: "/", source: "/dev/nvme0n1p2", fstype: "ext4"},
		{point: "/mnt/projects (bind)", source: "/dev/sdb1", fstype: "xfs"},
		{point: "/mnt/usb disk", source: "/dev/sde1", fstype: "fuseblk"},
		{point: "/mnt/empty", source: "", fstype: "ext4"},
		{point: "/tank", source: "tank", fstype: "zfs"},
	} {
		if !slices.Contains(mounts, want) {
			t.Errorf("missing %+v", want)
		}
	}
	if _, err := parseMountinfo(open(t, "debian-vm/self/mountinfo")); err != nil {
		t.Errorf("debian-vm: %v", err)
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for name, in := range map[string]string{
		"no separator":    "22 1 259:2 / / rw shared:1 ext4 /dev/x rw\n",
		"nothing after -": "22 1 259:2 / / rw - ext4\n",
		"short":           "22 1 259:2 / /\n",
	} {
		if _, err := parseMountinfo(strings.NewReader(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestUnescapeOctal(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:          "/plain",
		`/a\040b`:         "/a b",
		`/tab\011x`:       "/tab\tx",
		`/nl\012`:         "/nl\n",
		`/bs\134x`:        `/bs\x`,
		`/not\8xy`:        `/not\8xy`,
		`/high\477`:       `/high\477`,
		`/short\04`:       `/short\04`,
		`\`:               `\`,
		`\040\040`:        "  ",
		`/mixed\040\\040`: `/mixed \ `,
	} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseFilesystems(t *testing.T) {
	types, err := parseFilesystems(open(t, "server/filesystems"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range types {
		got = append(got, k)
	}
	slices.Sort(got)
	want := []string{"btrfs", "ext4", "fuseblk", "iso9660", "squashfs", "vfat", "xfs", "zfs"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
