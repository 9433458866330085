package netns

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baiagent/agent/test/testenv"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestResolvConf(t *testing.T) {
	in := "# generated\nsearch example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n" +
		"nameserver ::1\nnameserver 127.1.2.3\nnameserver fe80::1%eth0\nnameserver 2001:db8::1\noptions edns0\n"
	want := "# generated\nsearch example.org\nnameserver 10.0.0.2\n" +
		"nameserver fe80::1%eth0\nnameserver 2001:db8::1\noptions edns0\n"
	if got := string(ResolvConf([]byte(in))); got != want {
		t.Errorf("ResolvConf =\n%s\nwant\n%s", got, want)
	}
	if got := string(ResolvConf(nil)); got != "" {
		t.Errorf("ResolvConf(nil) = %q", got)
	}
}

// nsInode returns the inode of the network namespace file path.
func nsInode(t testing.TB, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestPrivilegedPinnedNamespace(t *testing.T) {
	testenv.RequirePrivileged(t)
	pin := filepath.Join(t.TempDir(), "ns1")
	t.Cleanup(func() { Remove(pin) })
	hostIno := nsInode(t, "/proc/self/ns/net")
	if err := NewPinned(pin); err != nil {
		t.Fatal(err)
	}
	if err := NewPinned(pin); !errors.Is(err, os.ErrExist) {
		t.Errorf("second NewPinned: err = %v, want ErrExist", err)
	}
	if ino := nsInode(t, pin); ino == hostIno {
		t.Fatal("pin refers to the host namespace")
	}
	if got := nsInode(t, "/proc/thread-self/ns/net"); got != hostIno {
		t.Fatal("calling thread left the host namespace")
	}
	f, err := Open(pin)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open("/proc/self/status"); err == nil {
		t.Error("Open of a non-namespace file succeeded")
	}
	var inside []string
	err = Do(pin, func() error {
		if nsInode(t, "/proc/thread-self/ns/net") != nsInode(t, pin) {
			return errors.New("fn does not run in the namespace")
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		links, err := h.LinkList()
		for _, l := range links {
			inside = append(inside, l.Attrs().Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(inside, ",") != "lo" {
		t.Errorf("links in new namespace = %v, want [lo]", inside)
	}
	if err := Remove(pin); err != nil {
		t.Fatal(err)
	}
	if err := Remove(pin); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if mounted(t, pin) {
		t.Error("pin still mounted after Remove")
	}
}

// mounted reports whether path or a path under it is a mount point in /proc/self/mountinfo.
func mounted(t testing.TB, path string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], path) {
			return true
		}
	}
	return false
}
