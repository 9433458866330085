package gpu

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DeviceNode is a character device node a kernel gets, at the same path
// as on the host. The runtime lists it in the spec's linux.devices (type
// "c") and allows "c Major:Minor rwm" in linux.resources.devices, so that
// both runc's device filter and systemd (with the systemd cgroup driver)
// know it: GPU access then survives a `systemctl daemon-reload`, which
// out-of-band injection does not (runc#3671).
type DeviceNode struct {
	// Path is the node's path in the kernel, e.g. "/dev/nvidia0".
	Path         string
	Major, Minor int64
	// FileMode is the host node's permission bits (0666 for most NVIDIA
	// nodes, 0444 for the MIG caps): the kernel's node is made the same.
	FileMode uint32
	// UID and GID own the host node (the driver's DeviceFileUID/GID).
	UID, GID uint32
}

// Device numbers of the NVIDIA driver. The main driver registers the fixed
// major 195 (NV_MAJOR_DEVICE_NUMBER); nvidia-uvm and nvidia-caps get a
// dynamic one, read from /proc/devices at each binding.
const (
	nvidiaMajor        = 195
	nvidiactlMinor     = 255
	nvidiaModesetMinor = 254
	uvmMinor           = 0
	uvmToolsMinor      = 1

	procDevicesUVM  = "nvidia-uvm"
	procDevicesCaps = "nvidia-caps"
)

// ErrHostSetup is wrapped by errors that mean the host lacks something a
// binding needs: a device node, a driver file, libcuda. The runtime
// reports it as a failed precondition of the node, not of the request.
var ErrHostSetup = errors.New("GPU host setup incomplete")

// ReadCharMajors parses /proc/devices and returns the major of each
// character device driver by name. Block devices, listed after, have their
// own numbers and are ignored.
func ReadCharMajors(r io.Reader) (map[string]int64, error) {
	majors := make(map[string]int64)
	sc := bufio.NewScanner(r)
	inChar := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			continue
		case line == "Character devices:":
			inChar = true
			continue
		case strings.HasSuffix(line, "devices:"):
			inChar = false
			continue
		case !inChar:
			continue
		}
		num, name, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("parse devices line %q", line)
		}
		major, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse devices line %q: %w", line, err)
		}
		majors[strings.TrimSpace(name)] = major
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read devices: %w", err)
	}
	return majors, nil
}

// readCharMajors reads <procRoot>/devices.
func readCharMajors(procRoot string) (map[string]int64, error) {
	f, err := os.Open(filepath.Join(procRoot, "devices"))
	if err != nil {
		return nil, fmt.Errorf("read device majors: %w", err)
	}
	defer f.Close()
	return ReadCharMajors(f)
}

// deviceNodes returns the nodes devs need under caps, checked against the
// host's /dev at devRoot, in a stable order: nvidiactl, the UVM nodes
// (compute), nvidia-modeset (graphics or display), each GPU's node in devs
// order (a MIG device's parent once), then the MIG access caps.
func deviceNodes(devRoot, procRoot string, devs []Device, caps capSet) ([]DeviceNode, error) {
	type want struct {
		path         string
		major, minor int64
	}
	wants := []want{{"/dev/nvidiactl", nvidiaMajor, nvidiactlMinor}}

	needUVM := caps.has(CapCompute)
	needCaps := false
	for _, d := range devs {
		if d.MIG != nil {
			needCaps = true
		}
	}
	var majors map[string]int64
	if needUVM || needCaps {
		var err error
		if majors, err = readCharMajors(procRoot); err != nil {
			return nil, err
		}
	}
	major := func(name string) (int64, error) {
		m, ok := majors[name]
		if !ok {
			// The module is loaded on demand (nvidia-modprobe -u for UVM);
			// the agent loads it at start, so its absence is a host fault.
			return 0, fmt.Errorf("%w: no %q in /proc/devices (module not loaded)", ErrHostSetup, name)
		}
		return m, nil
	}

	if needUVM {
		m, err := major(procDevicesUVM)
		if err != nil {
			return nil, err
		}
		wants = append(wants, want{"/dev/nvidia-uvm", m, uvmMinor}, want{"/dev/nvidia-uvm-tools", m, uvmToolsMinor})
	}
	if caps.has(CapGraphics) || caps.has(CapDisplay) {
		wants = append(wants, want{"/dev/nvidia-modeset", nvidiaMajor, nvidiaModesetMinor})
	}
	seenGPU := make(map[int]bool, len(devs))
	for _, d := range devs {
		minor := d.Minor
		if d.MIG != nil {
			minor = d.MIG.ParentMinor
		}
		if seenGPU[minor] {
			continue
		}
		seenGPU[minor] = true
		wants = append(wants, want{"/dev/nvidia" + strconv.Itoa(minor), nvidiaMajor, int64(minor)})
	}
	if needCaps {
		m, err := major(procDevicesCaps)
		if err != nil {
			return nil, err
		}
		seenCap := make(map[int]bool)
		for _, d := range devs {
			if d.MIG == nil {
				continue
			}
			if len(d.MIG.CapMinors) == 0 {
				return nil, fmt.Errorf("MIG device %s: no access caps", d.UUID)
			}
			for _, c := range d.MIG.CapMinors {
				if !seenCap[c] {
					seenCap[c] = true
					wants = append(wants, want{"/dev/nvidia-caps/nvidia-cap" + strconv.Itoa(c), m, int64(c)})
				}
			}
		}
	}

	nodes := make([]DeviceNode, 0, len(wants))
	for _, w := range wants {
		n, err := statDeviceNode(devRoot, w.path, w.major, w.minor)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// statDeviceNode checks that the host has the node path (a path under
// /dev) under devRoot with the expected numbers and returns it. A regular
// file is accepted in its place without a number check: that is how tests
// stand in for device nodes without root.
func statDeviceNode(devRoot, path string, major, minor int64) (DeviceNode, error) {
	host := filepath.Join(devRoot, strings.TrimPrefix(path, "/dev/"))
	fi, err := os.Stat(host)
	if errors.Is(err, fs.ErrNotExist) {
		return DeviceNode{}, fmt.Errorf("%w: device node %s missing: %w", ErrHostSetup, path, err)
	}
	if err != nil {
		return DeviceNode{}, fmt.Errorf("device node %s: %w", path, err)
	}
	n := DeviceNode{Path: path, Major: major, Minor: minor, FileMode: uint32(fi.Mode().Perm())}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok {
		n.UID, n.GID = st.Uid, st.Gid
	}
	switch {
	case fi.Mode()&fs.ModeCharDevice != 0:
		if !ok {
			return DeviceNode{}, fmt.Errorf("device node %s: no stat data", path)
		}
		gotMajor, gotMinor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
		if gotMajor != major || gotMinor != minor {
			return DeviceNode{}, fmt.Errorf("%w: device node %s is %d:%d, want %d:%d",
				ErrHostSetup, path, gotMajor, gotMinor, major, minor)
		}
	case fi.Mode().IsRegular():
	default:
		return DeviceNode{}, fmt.Errorf("%w: device node %s is not a character device (%s)", ErrHostSetup, path, fi.Mode().Type())
	}
	return n, nil
}
