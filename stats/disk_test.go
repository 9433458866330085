package stats

import (
	"errors"
	"slices"
	"testing"
)

func TestDiskCandidates(t *testing.T) {
	mounts, err := parseMountinfo(open(t, "server/self/mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	types, err := parseFilesystems(open(t, "server/filesystems"))
	if err != nil {
		t.Fatal(err)
	}
	exclude := []string{"/var/lib/backend.ai/images", "/var/cache/scratches/"}
	var got []string
	for _, m := range diskCandidates(mounts, types, exclude) {
		got = append(got, m.point)
	}
	want := []string{
		"/",
		"/data",
		"/mnt/projects (bind)", // same source as /data: merged after statfs
		"/home",
		"/var/lib/backend.ai",  // same source as /home; the excluded dir's parent
		"/var/cache/scratches", // an excluded directory itself counts
		"/tank",                // zfs, though nodev
		"/mnt/usb disk",
		"/mnt/broken",
	}
	if !slices.Equal(got, want) {
		t.Errorf("candidates:\n got %q\nwant %q", got, want)
	}
}

func TestUnderAny(t *testing.T) {
	for _, tc := range []struct {
		p    string
		dirs []string
		want bool
	}{
		{"/var/lib/x/y", []string{"/var/lib/x"}, true},
		{"/var/lib/x", []string{"/var/lib/x"}, false},
		{"/var/lib/xy", []string{"/var/lib/x"}, false},
		{"/var/lib/x/y", []string{"/var/lib/x/"}, true},
		{"/var/lib/x/y", []string{"", "/other"}, false},
		{"/a", []string{"/"}, true},
		{"/", []string{"/"}, false},
	} {
		if got := underAny(tc.p, tc.dirs); got != tc.want {
			t.Errorf("underAny(%q, %q) = %v, want %v", tc.p, tc.dirs, got, tc.want)
		}
	}
}

func TestDiskUsagesFirstReadableSourceWins(t *testing.T) {
	candidates := []mount{
		{point: "/data", source: "/dev/sdb1"},
		{point: "/bind", source: "/dev/sdb1"},
		{point: "/again", source: "/dev/sdb1"},
		{point: "/", source: "/dev/sda1"},
	}
	var calls []string
	stat := func(p string) (diskUsage, error) {
		calls = append(calls, p)
		if p == "/data" {
			return diskUsage{}, errors.New("stale")
		}
		return diskUsage{used: DecimalFromInt(1), capacity: DecimalFromInt(2)}, nil
	}
	got := diskUsages(candidates, stat)
	if len(got) != 2 {
		t.Errorf("got %v, want two sources", got)
	}
	if want := []string{"/data", "/bind", "/"}; !slices.Equal(calls, want) {
		t.Errorf("statfs calls %q, want %q", calls, want)
	}
}

func TestStatfsRoot(t *testing.T) {
	u, err := statfs("/")
	if err != nil {
		t.Fatal(err)
	}
	if u.capacity.Sign() <= 0 || u.used.Cmp(u.capacity) > 0 {
		t.Errorf("statfs(/) used %s capacity %s", u.used, u.capacity)
	}
	if _, err := statfs("/nonexistent/dir"); err == nil {
		t.Error("statfs of a missing path succeeded")
	}
}
