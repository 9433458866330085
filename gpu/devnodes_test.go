package gpu

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadCharMajors(t *testing.T) {
	// Block devices reuse numbers and names; only character ones count.
	in := "Character devices:\n  1 mem\n  5 /dev/tty\n195 nvidia-frontend\n" +
		"507 nvidia-uvm\n508 nvidia-caps\n\nBlock devices:\n  7 loop\n259 blkext\n508 nvidia-uvm\n"
	got, err := ReadCharMajors(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"mem": 1, "/dev/tty": 5, "nvidia-frontend": 195, "nvidia-uvm": 507, "nvidia-caps": 508}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ReadCharMajors (-want +got):\n%s", diff)
	}

	for _, bad := range []string{"Character devices:\nx mem\n", "Character devices:\n12\n"} {
		if _, err := ReadCharMajors(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadCharMajors(%q): no error", bad)
		}
	}
}

// fakeDevRoot makes a /dev and /proc with the named nodes as regular
// files and the given /proc/devices.
func fakeDevRoot(t *testing.T, procDevices string, nodes ...string) (dev, proc string) {
	t.Helper()
	root := t.TempDir()
	dev, proc = filepath.Join(root, "dev"), filepath.Join(root, "proc")
	for _, n := range nodes {
		mustWrite(t, filepath.Join(dev, n), "", 0o666)
	}
	mustWrite(t, filepath.Join(proc, "devices"), procDevices, 0o444)
	return dev, proc
}

func TestDeviceNodes(t *testing.T) {
	const procDevices = "Character devices:\n195 nvidia-frontend\n507 nvidia-uvm\n508 nvidia-caps\n"
	dev, proc := fakeDevRoot(t, procDevices,
		"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset", "nvidia2", "nvidia5", "nvidia-caps/nvidia-cap30", "nvidia-caps/nvidia-cap31")
	caps, err := parseCapabilities([]string{"compute,graphics"})
	if err != nil {
		t.Fatal(err)
	}
	devs := []Device{
		{UUID: "GPU-b", Minor: 5},
		{UUID: "MIG-a", Minor: 2, MIG: &MIGDevice{ParentMinor: 2, GI: 3, CI: 0, CapMinors: []int{30, 31}}},
		{UUID: "MIG-c", Minor: 2, MIG: &MIGDevice{ParentMinor: 2, GI: 3, CI: 1, CapMinors: []int{30}}},
	}
	nodes, err := deviceNodes(dev, proc, devs, caps)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes {
		got = append(got, n.Path+" "+strconv.FormatInt(n.Major, 10)+":"+strconv.FormatInt(n.Minor, 10))
	}
	want := []string{
		"/dev/nvidiactl 195:255",
		"/dev/nvidia-uvm 507:0",
		"/dev/nvidia-uvm-tools 507:1",
		"/dev/nvidia-modeset 195:254",
		"/dev/nvidia5 195:5",
		"/dev/nvidia2 195:2",
		"/dev/nvidia-caps/nvidia-cap30 508:30",
		"/dev/nvidia-caps/nvidia-cap31 508:31",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deviceNodes (-want +got):\n%s", diff)
	}
	if nodes[0].FileMode != 0o666 {
		t.Errorf("FileMode %o, want the host file's 0666", nodes[0].FileMode)
	}
}

func TestDeviceNodesModuleNotLoaded(t *testing.T) {
	dev, proc := fakeDevRoot(t, "Character devices:\n195 nvidia-frontend\n", "nvidiactl", "nvidia0")
	compute, _ := parseCapabilities([]string{"compute"})
	utility, _ := parseCapabilities([]string{"utility"})
	devs := []Device{{UUID: "GPU-a", Minor: 0}}

	_, err := deviceNodes(dev, proc, devs, compute)
	if !errors.Is(err, ErrHostSetup) || !strings.Contains(err.Error(), `"nvidia-uvm"`) {
		t.Errorf("compute without nvidia-uvm loaded: %v", err)
	}
	// Utility does not need UVM.
	if _, err := deviceNodes(dev, proc, devs, utility); err != nil {
		t.Errorf("utility without nvidia-uvm loaded: %v", err)
	}
	mig := []Device{{UUID: "MIG-a", MIG: &MIGDevice{CapMinors: []int{1}}}}
	if _, err := deviceNodes(dev, proc, mig, utility); !errors.Is(err, ErrHostSetup) || !strings.Contains(err.Error(), `"nvidia-caps"`) {
		t.Errorf("MIG without nvidia-caps loaded: %v", err)
	}
	noCaps := []Device{{UUID: "MIG-a", MIG: &MIGDevice{}}}
	dev2, proc2 := fakeDevRoot(t, "Character devices:\n508 nvidia-caps\n", "nvidiactl", "nvidia0")
	if _, err := deviceNodes(dev2, proc2, noCaps, utility); err == nil || !strings.Contains(err.Error(), "MIG-a") {
		t.Errorf("MIG device without caps: %v", err)
	}
}

// TestStatDeviceNodeRealDevice checks the number check on a real
// character device: /dev/null (1:3) linked in as nvidiactl.
func TestStatDeviceNodeRealDevice(t *testing.T) {
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Skip("no character device /dev/null here")
	}
	dev := t.TempDir()
	mustSymlink(t, "/dev/null", filepath.Join(dev, "nvidiactl"))
	if _, err := statDeviceNode(dev, "/dev/nvidiactl", nvidiaMajor, nvidiactlMinor); !errors.Is(err, ErrHostSetup) || !strings.Contains(err.Error(), "is 1:3, want 195:255") {
		t.Errorf("wrong numbers: %v", err)
	}
	n, err := statDeviceNode(dev, "/dev/nvidiactl", 1, 3)
	if err != nil {
		t.Fatalf("right numbers: %v", err)
	}
	if n.FileMode != 0o666 || n.Path != "/dev/nvidiactl" {
		t.Errorf("node %+v", n)
	}
	if err := os.Mkdir(filepath.Join(dev, "nvidia0"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := statDeviceNode(dev, "/dev/nvidia0", nvidiaMajor, 0); !errors.Is(err, ErrHostSetup) || !strings.Contains(err.Error(), "not a character device") {
		t.Errorf("directory as a node: %v", err)
	}
}
