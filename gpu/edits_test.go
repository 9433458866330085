package gpu

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeDriverVersion is the driver the fake host has installed.
const fakeDriverVersion = "550.54.15"

// fakeBusIDs are the fake host's GPUs, a DGX A100's layout.
var fakeBusIDs = [...]string{
	"0000:07:00.0", "0000:0f:00.0", "0000:47:00.0", "0000:4e:00.0",
	"0000:87:00.0", "0000:90:00.0", "0000:b7:00.0", "0000:bd:00.0",
}

type fakeHostOptions struct {
	// GPUs is how many of fakeBusIDs the host has (nodes and proc entries).
	GPUs int
	// MIG gives GPU 0 two MIG devices with their caps nodes and files.
	MIG bool
	// NoLibcuda leaves libcuda out of the ld cache directory.
	NoLibcuda bool
	// Omit lists host paths (relative to the root) to leave out.
	Omit []string
}

// fakeHost is a host tree in a temporary directory: device nodes as
// regular files, procfs files, driver libraries (real ELF shared objects
// where ldconfig must see them) under a real ld cache, programs, firmware
// and the persistenced socket.
type fakeHost struct {
	root   string
	roots  HostRoots
	driver Driver
}

// fakeLib is a library of the fake host. An empty soname makes a file
// that is not ELF (a stand-in outside the ld cache); machine patches the
// ELF header to another architecture.
type fakeLib struct {
	dir, name, soname string
	links             []string
	machine           uint16
}

func fakeLibs(o fakeHostOptions) []fakeLib {
	const ldDir, lib64, lib32, old = "usr/lib/x86_64-linux-gnu", "usr/local/nvidia/lib64", "usr/local/nvidia/lib", "opt/old-driver/lib"
	v := fakeDriverVersion
	libs := []fakeLib{
		{ldDir, "libnvidia-ml.so." + v, "libnvidia-ml.so.1", []string{"libnvidia-ml.so.1"}, 0},
		{ldDir, "libnvidia-ptxjitcompiler.so." + v, "libnvidia-ptxjitcompiler.so.1", []string{"libnvidia-ptxjitcompiler.so.1"}, 0},
		{ldDir, "libnvidia-nvvm.so." + v, "libnvidia-nvvm.so.4", []string{"libnvidia-nvvm.so.4"}, 0},
		// Some driver libraries are their own SONAME.
		{ldDir, "libnvidia-gpucomp.so." + v, "libnvidia-gpucomp.so." + v, nil, 0},
		{ldDir, "libnvcuvid.so." + v, "libnvcuvid.so.1", []string{"libnvcuvid.so.1"}, 0},
		{ldDir, "libnvidia-opticalflow.so." + v, "libnvidia-opticalflow.so.1", []string{"libnvidia-opticalflow.so.1"}, 0},
		{ldDir, "libnvidia-glcore.so." + v, "libnvidia-glcore.so." + v, nil, 0},
		{ldDir, "libEGL_nvidia.so." + v, "libEGL_nvidia.so.0", []string{"libEGL_nvidia.so.0"}, 0},
		{ldDir, "libGLX_nvidia.so." + v, "libGLX_nvidia.so.0", []string{"libGLX_nvidia.so.0"}, 0},
		// Decoys: a leftover of an older driver, and a library not of the
		// driver at all.
		{ldDir, "libnvidia-opencl.so.535.104.05", "libnvidia-opencl.so.1", []string{"libnvidia-opencl.so.1"}, 0},
		{ldDir, "libz.so.1.2.13", "libz.so.1", []string{"libz.so.1"}, 0},
		// An older driver's libcuda, first in the ld cache: a second
		// libcuda.so.1 entry, ahead of the current one.
		{old, "libcuda.so.535.104.05", "libcuda.so.1", []string{"libcuda.so.1"}, 0},
		// Outside the ld cache.
		{lib64, "libnvidia-cfg.so." + v, "libnvidia-cfg.so.1", []string{"libnvidia-cfg.so.1"}, 0},
		{lib64, "libcuda.so.535.104.05", "", nil, 0},
		{lib32, "libnvidia-fbc.so." + v, "libnvidia-fbc.so.1", nil, uint16(183)}, // EM_AARCH64
	}
	if !o.NoLibcuda {
		libs = append(libs, fakeLib{ldDir, "libcuda.so." + v, "libcuda.so.1", []string{"libcuda.so.1", "libcuda.so"}, 0})
	}
	return libs
}

// newFakeHost builds a fake host. It needs a C compiler to make the ELF
// libraries, and uses the real ldconfig for the ld cache when there is one.
func newFakeHost(tb testing.TB, o fakeHostOptions) *fakeHost {
	tb.Helper()
	cc := requireTool(tb, "gcc")
	root := tb.TempDir()
	h := &fakeHost{
		root: root,
		roots: HostRoots{
			Dev:          filepath.Join(root, "dev"),
			Proc:         filepath.Join(root, "proc"),
			Sys:          filepath.Join(root, "sys"),
			LDCache:      filepath.Join(root, "etc/ld.so.cache"),
			LibDirs:      []string{filepath.Join(root, "usr/local/nvidia/lib64"), filepath.Join(root, "usr/local/nvidia/lib")},
			BinDirs:      []string{filepath.Join(root, "usr/local/nvidia/bin"), filepath.Join(root, "usr/bin")},
			FirmwareRoot: filepath.Join(root, "lib/firmware"),
			Run:          filepath.Join(root, "run"),
		},
		driver: Driver{Version: fakeDriverVersion, CUDAVersion: "12.4"},
	}
	files := map[string]string{ // path → content; mode 0666 unless below
		"dev/nvidiactl":        "",
		"dev/nvidia-uvm":       "",
		"dev/nvidia-uvm-tools": "",
		"dev/nvidia-modeset":   "",
		"proc/devices": "Character devices:\n  1 mem\n  4 /dev/vc/0\n195 nvidia-frontend\n" +
			"507 nvidia-uvm\n508 nvidia-caps\n\nBlock devices:\n  7 loop\n  8 sd\n259 blkext\n",
		"proc/driver/nvidia/params": "ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 1\n" +
			"DeviceFileUID: 0\nDeviceFileGID: 0\nDeviceFileMode: 438\n",
		"proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n" +
			"GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
		"proc/driver/nvidia/registry":                  "Binary: \"\"\n",
		"lib/firmware/nvidia/550.54.15/gsp_ga10x.bin":  "gsp",
		"lib/firmware/nvidia/550.54.15/gsp_tu10x.bin":  "gsp",
		"lib/firmware/nvidia/535.104.05/gsp_ga10x.bin": "old gsp",
		"run/nvidia-persistenced/socket":               "",
		"usr/bin/nvidia-smi":                           "#!/bin/sh\n",
		"usr/bin/nvidia-debugdump":                     "#!/bin/sh\n",
		"usr/bin/nvidia-persistenced":                  "#!/bin/sh\n",
		"usr/bin/nvidia-cuda-mps-control":              "#!/bin/sh\n",
		"usr/local/nvidia/bin/nvidia-cuda-mps-server":  "#!/bin/sh\n",
	}
	for i := range o.GPUs {
		files["dev/nvidia"+strconv.Itoa(i)] = ""
		files["proc/driver/nvidia/gpus/"+fakeBusIDs[i]+"/information"] = "Model: \t\t NVIDIA A100-SXM4-40GB\nBus Location: \t " + fakeBusIDs[i] + "\n"
	}
	if o.MIG {
		for _, gi := range []struct{ gi, giMinor, ciMinor int }{{1, 12, 13}, {2, 21, 22}} {
			base := fmt.Sprintf("proc/driver/nvidia/capabilities/gpu0/mig/gi%d/", gi.gi)
			files[base+"access"] = fmt.Sprintf("DeviceFileMinor: %d\nDeviceFileMode: 292\nDeviceFileModify: 1\n", gi.giMinor)
			files[base+"ci0/access"] = fmt.Sprintf("DeviceFileMinor: %d\nDeviceFileMode: 292\nDeviceFileModify: 1\n", gi.ciMinor)
			files[fmt.Sprintf("dev/nvidia-caps/nvidia-cap%d", gi.giMinor)] = ""
			files[fmt.Sprintf("dev/nvidia-caps/nvidia-cap%d", gi.ciMinor)] = ""
		}
	}
	for _, p := range o.Omit {
		delete(files, p)
	}
	for p, content := range files {
		mode := os.FileMode(0o666)
		switch {
		case strings.HasPrefix(p, "dev/nvidia-caps/"):
			mode = 0o444
		case strings.Contains(p, "/bin/"):
			mode = 0o755
		case !strings.HasPrefix(p, "dev/"):
			mode = 0o644
		}
		mustWrite(tb, filepath.Join(root, p), content, mode)
	}

	// The libraries: one ELF template with a long placeholder SONAME,
	// copied and patched per library (one compiler run per host).
	const placeholder = "libplaceholder-soname-padding-xxxxxxxxxxxxxxxxxxxxxxxx.so.9"
	tmplDir := tb.TempDir()
	src := filepath.Join(tmplDir, "t.c")
	mustWrite(tb, src, "int nv_fake_symbol(void) { return 42; }\n", 0o644)
	tmpl := filepath.Join(tmplDir, "tmpl.so")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-Wl,-soname,"+placeholder, "-o", tmpl, src).CombinedOutput(); err != nil {
		tb.Fatalf("build ELF template: %v\n%s", err, out)
	}
	elfTmpl, err := os.ReadFile(tmpl)
	if err != nil {
		tb.Fatal(err)
	}
	if bytes.Count(elfTmpl, []byte(placeholder)) != 1 {
		tb.Fatalf("ELF template holds its SONAME %d times", bytes.Count(elfTmpl, []byte(placeholder)))
	}
	var cacheEntries []LDCacheEntry // for hosts without ldconfig
	for _, l := range fakeLibs(o) {
		dir := filepath.Join(root, l.dir)
		content := []byte("stand-in for " + l.name)
		if l.soname != "" {
			name := append([]byte(l.soname), make([]byte, len(placeholder)-len(l.soname))...)
			content = bytes.Replace(elfTmpl, []byte(placeholder), name, 1)
			if l.machine != 0 {
				content[18], content[19] = byte(l.machine), byte(l.machine>>8)
			}
		}
		mustWrite(tb, filepath.Join(dir, l.name), string(content), 0o755)
		for _, link := range l.links {
			target := l.name
			if link != l.soname { // a development link points at the SONAME
				target = l.soname
			}
			mustSymlink(tb, target, filepath.Join(dir, link))
		}
		if l.soname != "" && l.machine == 0 && !strings.HasPrefix(l.dir, "usr/local/nvidia") {
			cacheEntries = append(cacheEntries, LDCacheEntry{Key: l.soname, Path: filepath.Join(dir, l.soname), Flags: flagsX8664})
		}
	}

	conf := filepath.Join(root, "etc/ld.so.conf")
	// The old driver's directory first: its libcuda.so.1 is the ld cache's
	// first, the one the host's loader would pick.
	mustWrite(tb, conf, filepath.Join(root, "opt/old-driver/lib")+"\n"+filepath.Join(root, "usr/lib/x86_64-linux-gnu")+"\n", 0o644)
	if ldconfig, err := exec.LookPath("ldconfig"); err == nil {
		// -X: no links are made, so the host's own library directories,
		// which ldconfig always scans too, stay untouched.
		if out, err := exec.Command(ldconfig, "-X", "-C", h.roots.LDCache, "-f", conf).CombinedOutput(); err != nil {
			tb.Fatalf("ldconfig: %v\n%s", err, out)
		}
		libs, err := FindDriverLibraries(h.roots.LDCache, nil, fakeDriverVersion)
		if err != nil {
			tb.Fatal(err)
		}
		for _, l := range libs {
			if !strings.HasPrefix(l.Path, root) {
				tb.Skipf("this host has a real driver %s library (%s) that would show in the fake host", fakeDriverVersion, l.Path)
			}
		}
	} else {
		mustWrite(tb, h.roots.LDCache, string(encodeLDCache(cacheEntries, ldCacheNew)), 0o644)
	}
	return h
}

// devices returns the first n GPUs of the fake host.
func (h *fakeHost) devices(n int) []Device {
	devs := make([]Device, n)
	for i := range devs {
		devs[i] = Device{
			Index: i, NVMLIndex: i,
			UUID: fmt.Sprintf("GPU-%08d-1111-2222-3333-444444444444", i),
			Name: "NVIDIA A100-SXM4-40GB", BusID: fakeBusIDs[i], Minor: i,
			MemoryBytes: 40 << 30, SMs: 108, NUMANode: i / 4, ComputeCapability: "8.0",
		}
	}
	return devs
}

// migDevices returns the two MIG devices of the fake host's GPU 0.
func (h *fakeHost) migDevices() []Device {
	parent := h.devices(1)[0]
	mig := func(i, gi, giMinor, ciMinor int, mem uint64) Device {
		d := parent
		d.Index = i
		d.UUID = fmt.Sprintf("MIG-%08d-aaaa-bbbb-cccc-dddddddddddd", i)
		d.Name = "NVIDIA A100-SXM4-40GB MIG 3g.20gb"
		d.MemoryBytes = mem
		d.SMs = 42
		d.MIG = &MIGDevice{ParentMinor: 0, GI: gi, CI: 0, CapMinors: []int{giMinor, ciMinor}}
		return d
	}
	return []Device{mig(0, 1, 12, 13, 19968<<20), mig(1, 2, 21, 22, 19968<<20)}
}

func (h *fakeHost) binder(tb testing.TB) *Binder {
	tb.Helper()
	b, err := NewBinder(h.roots, h.driver)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// placeholders replaces the fake host's root in s by "$HOST".
func (h *fakeHost) placeholders(s string) string { return strings.ReplaceAll(s, h.root, "$HOST") }

// editsView is Edits as the golden files hold it: procfs file contents as
// text, and the fake nodes' owner (the test's user) shown as root's.
type editsView struct {
	DeviceNodes []DeviceNode
	Mounts      []Mount
	Symlinks    []Symlink
	ProcDriver  *procDriverView
	Env         []string
	LDConfig    bool
	LibDirs     []string
	NoLibraries []string
}

type procDriverView struct {
	HostDir    string
	Files      map[string]string
	GPUs       []string
	MIGCaps    []string
	HiddenGPUs []string
}

func (h *fakeHost) golden(tb testing.TB, e Edits) []byte {
	tb.Helper()
	v := editsView{
		DeviceNodes: slices.Clone(e.DeviceNodes), Mounts: e.Mounts, Symlinks: e.Symlinks,
		Env: e.Env, LDConfig: e.LDConfig, LibDirs: e.LibDirs, NoLibraries: e.NoLibraries,
	}
	for i := range v.DeviceNodes {
		if v.DeviceNodes[i].UID == uint32(os.Getuid()) && v.DeviceNodes[i].GID == uint32(os.Getgid()) {
			v.DeviceNodes[i].UID, v.DeviceNodes[i].GID = 0, 0
		}
	}
	if p := e.ProcDriver; p != nil {
		v.ProcDriver = &procDriverView{HostDir: p.HostDir, GPUs: p.GPUs, MIGCaps: p.MIGCaps, HiddenGPUs: p.HiddenGPUs, Files: map[string]string{}}
		for k, b := range p.Files {
			v.ProcDriver.Files[k] = string(b)
		}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(h.placeholders(string(out)) + "\n")
}

func TestEditsGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		gpus int
		mig  bool
		caps []string
	}{
		{name: "0gpu", gpus: 0},
		{name: "1gpu", gpus: 1},
		{name: "2gpu_all", gpus: 2, caps: []string{"all"}},
		{name: "mig", mig: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHost(t, fakeHostOptions{GPUs: 4, MIG: tc.mig})
			devs := h.devices(tc.gpus)
			if tc.mig {
				devs = h.migDevices()
			}
			e, err := h.binder(t).Edits(devs, tc.caps)
			if err != nil {
				t.Fatal(err)
			}
			got := h.golden(t, e)
			path := filepath.Join("testdata", "edits_"+tc.name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Edits differ from %s (-want +got; -update rewrites):\n%s", path, diff)
			}
		})
	}
}

// TestEditsCapabilities checks what each capability selection brings.
func TestEditsCapabilities(t *testing.T) {
	h := newFakeHost(t, fakeHostOptions{GPUs: 2})
	b := h.binder(t)
	devs := h.devices(1)
	for _, tc := range []struct {
		name       string
		caps       []string
		wantMounts []string // targets, a subset
		noMounts   []string
		wantNodes  []string
		noNodes    []string
		wantEnv    string
		noLibs     []string
	}{
		{
			name:       "default",
			wantMounts: []string{"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15", "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15", "/usr/bin/nvidia-smi", "/usr/bin/nvidia-cuda-mps-server"},
			noMounts:   []string{"/usr/lib/x86_64-linux-gnu/libnvcuvid.so.550.54.15"},
			wantNodes:  []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia0"},
			noNodes:    []string{"/dev/nvidia-modeset", "/dev/nvidia1"},
			wantEnv:    "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
		},
		{
			name:       "utility only",
			caps:       []string{"utility"},
			wantMounts: []string{"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15", "/usr/bin/nvidia-smi", "/run/nvidia-persistenced/socket"},
			noMounts:   []string{"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15", "/usr/bin/nvidia-cuda-mps-control"},
			wantNodes:  []string{"/dev/nvidiactl", "/dev/nvidia0"},
			noNodes:    []string{"/dev/nvidia-uvm", "/dev/nvidia-modeset"},
			wantEnv:    "NVIDIA_DRIVER_CAPABILITIES=utility",
		},
		{
			name:       "compute only",
			caps:       []string{" compute "},
			wantMounts: []string{"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"},
			noMounts:   []string{"/usr/bin/nvidia-smi", "/run/nvidia-persistenced/socket"},
			wantEnv:    "NVIDIA_DRIVER_CAPABILITIES=compute",
		},
		{
			name:       "graphics",
			caps:       []string{"graphics,utility"},
			wantMounts: []string{"/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.550.54.15"},
			noMounts:   []string{"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"},
			wantNodes:  []string{"/dev/nvidia-modeset"},
			noNodes:    []string{"/dev/nvidia-uvm"},
			wantEnv:    "NVIDIA_DRIVER_CAPABILITIES=graphics,utility",
		},
		{
			name:      "display",
			caps:      []string{"display"},
			wantNodes: []string{"/dev/nvidia-modeset"},
			wantEnv:   "NVIDIA_DRIVER_CAPABILITIES=display",
		},
		{
			name:    "ngx has no library here",
			caps:    []string{"ngx", "video"},
			wantEnv: "NVIDIA_DRIVER_CAPABILITIES=ngx,video",
			noLibs:  []string{"ngx"},
		},
		{
			name:    "all",
			caps:    []string{"all"},
			wantEnv: "NVIDIA_DRIVER_CAPABILITIES=compat32,compute,display,graphics,ngx,utility,video",
			noLibs:  []string{"ngx"},
		},
		{
			name:    "empty values mean the default",
			caps:    []string{"", " , "},
			wantEnv: "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := b.Edits(devs, tc.caps)
			if err != nil {
				t.Fatal(err)
			}
			var targets, nodes []string
			for _, m := range e.Mounts {
				targets = append(targets, m.Target)
			}
			for _, n := range e.DeviceNodes {
				nodes = append(nodes, n.Path)
			}
			for _, m := range tc.wantMounts {
				if !slices.Contains(targets, m) {
					t.Errorf("no mount at %s; mounts: %v", m, targets)
				}
			}
			for _, m := range tc.noMounts {
				if slices.Contains(targets, m) {
					t.Errorf("unexpected mount at %s", m)
				}
			}
			for _, n := range tc.wantNodes {
				if !slices.Contains(nodes, n) {
					t.Errorf("no node %s; nodes: %v", n, nodes)
				}
			}
			for _, n := range tc.noNodes {
				if slices.Contains(nodes, n) {
					t.Errorf("unexpected node %s", n)
				}
			}
			if !slices.Contains(e.Env, tc.wantEnv) {
				t.Errorf("env %v lacks %s", e.Env, tc.wantEnv)
			}
			if diff := cmp.Diff(tc.noLibs, e.NoLibraries); diff != "" {
				t.Errorf("NoLibraries (-want +got):\n%s", diff)
			}
			if e.LDConfig != (len(e.LibDirs) > 0) {
				t.Errorf("LDConfig %v with LibDirs %v", e.LDConfig, e.LibDirs)
			}
		})
	}
}

func TestEditsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    fakeHostOptions
		devs    func(h *fakeHost) []Device
		caps    []string
		want    string
		wantErr error
	}{
		{
			name: "invalid capability", caps: []string{"compute,gpus"},
			want: `"gpus"`, wantErr: ErrInvalidCapability,
		},
		{
			name: "invalid capability without GPUs", caps: []string{"everything"},
			devs: func(*fakeHost) []Device { return nil },
			want: `"everything"`, wantErr: ErrInvalidCapability,
		},
		{
			name: "missing nvidiactl", opts: fakeHostOptions{Omit: []string{"dev/nvidiactl"}},
			want: "/dev/nvidiactl", wantErr: ErrHostSetup,
		},
		{
			name: "missing GPU node", opts: fakeHostOptions{Omit: []string{"dev/nvidia0"}},
			want: "/dev/nvidia0", wantErr: ErrHostSetup,
		},
		{
			name: "missing uvm node", opts: fakeHostOptions{Omit: []string{"dev/nvidia-uvm-tools"}},
			want: "/dev/nvidia-uvm-tools", wantErr: ErrHostSetup,
		},
		{
			name: "missing modeset with graphics", opts: fakeHostOptions{Omit: []string{"dev/nvidia-modeset"}},
			caps: []string{"graphics"}, want: "/dev/nvidia-modeset", wantErr: ErrHostSetup,
		},
		{
			name: "no /proc/devices", opts: fakeHostOptions{Omit: []string{"proc/devices"}},
			want: "devices",
		},
		{
			name: "compute without libcuda", opts: fakeHostOptions{NoLibcuda: true},
			want: "libcuda.so.550.54.15", wantErr: ErrHostSetup,
		},
		{
			name: "missing params", opts: fakeHostOptions{Omit: []string{"proc/driver/nvidia/params"}},
			want: "params", wantErr: ErrHostSetup,
		},
		{
			name: "missing MIG cap node", opts: fakeHostOptions{MIG: true, Omit: []string{"dev/nvidia-caps/nvidia-cap13"}},
			devs: func(h *fakeHost) []Device { return h.migDevices() },
			want: "/dev/nvidia-caps/nvidia-cap13", wantErr: ErrHostSetup,
		},
		{
			name: "missing MIG access file", opts: fakeHostOptions{MIG: true, Omit: []string{"proc/driver/nvidia/capabilities/gpu0/mig/gi2/ci0/access"}},
			devs: func(h *fakeHost) []Device { return h.migDevices() },
			want: "gi2/ci0/access", wantErr: ErrHostSetup,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.GPUs = 1
			h := newFakeHost(t, tc.opts)
			devs := h.devices(1)
			if tc.devs != nil {
				devs = tc.devs(h)
			}
			_, err := h.binder(t).Edits(devs, tc.caps)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Edits: %v, want an error naming %q", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Edits: %v, want it to wrap %v", err, tc.wantErr)
			}
		})
	}
}

func TestEditsUtilityWithoutLibcuda(t *testing.T) {
	h := newFakeHost(t, fakeHostOptions{GPUs: 1, NoLibcuda: true})
	e, err := h.binder(t).Edits(h.devices(1), []string{"utility"})
	if err != nil {
		t.Fatalf("utility needs no libcuda: %v", err)
	}
	if len(e.Mounts) == 0 {
		t.Error("no mounts")
	}
}

func TestEditsDoNotShareState(t *testing.T) {
	h := newFakeHost(t, fakeHostOptions{GPUs: 2})
	b := h.binder(t)
	first, err := b.Edits(h.devices(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := h.golden(t, first)
	first.Mounts[0].Options[0] = "rw"
	first.ProcDriver.Files["params"][0] = 'X'
	second, err := b.Edits(h.devices(2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(h.golden(t, second))); diff != "" {
		t.Errorf("changing one Edits changed the next (-want +got):\n%s", diff)
	}
}

func TestNewBinderErrors(t *testing.T) {
	if _, err := NewBinder(DefaultHostRoots(), Driver{}); err == nil {
		t.Error("no error without a driver version")
	}
	if _, err := NewBinder(HostRoots{}, Driver{Version: fakeDriverVersion}); err == nil {
		t.Error("no error without /dev and /proc roots")
	}
}

func TestFirmwareFromCustomPath(t *testing.T) {
	h := newFakeHost(t, fakeHostOptions{GPUs: 1})
	custom := filepath.Join(h.root, "custom-fw")
	mustWrite(t, filepath.Join(custom, "nvidia", fakeDriverVersion, "gsp_ga10x.bin"), "custom", 0o644)
	mustWrite(t, filepath.Join(h.roots.Sys, "module/firmware_class/parameters/path"), custom+"\n", 0o644)
	e, err := h.binder(t).Edits(h.devices(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	var fw []string
	for _, m := range e.Mounts {
		if strings.HasPrefix(m.Target, "/lib/firmware/") {
			fw = append(fw, h.placeholders(m.Source)+" "+m.Target)
		}
	}
	want := []string{"$HOST/custom-fw/nvidia/550.54.15/gsp_ga10x.bin /lib/firmware/nvidia/550.54.15/gsp_ga10x.bin"}
	if diff := cmp.Diff(want, fw); diff != "" {
		t.Errorf("firmware mounts (-want +got):\n%s", diff)
	}
}

func TestContainerLibDirFor(t *testing.T) {
	for host, want := range map[string]string{
		"/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15":                "/usr/lib/x86_64-linux-gnu",
		"/usr/lib64/libcuda.so.550.54.15":                               "/usr/lib64",
		"/lib/x86_64-linux-gnu/libcuda.so.550.54.15":                    "/lib/x86_64-linux-gnu",
		"/usr/lib/x86_64-linux-gnu/nvidia/current/libcuda.so.550.54.15": "/usr/lib/x86_64-linux-gnu",
		"/usr/local/nvidia/lib64/libcuda.so.550.54.15":                  "/usr/lib/x86_64-linux-gnu",
		"/run/nvidia/driver/usr/lib64/libcuda.so.550.54.15":             "/usr/lib/x86_64-linux-gnu",
	} {
		if got := containerLibDirFor(host); got != want {
			t.Errorf("containerLibDirFor(%s) = %s, want %s", host, got, want)
		}
	}
}

func TestDisableDeviceFileModification(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"A: 1\nModifyDeviceFiles: 1\nB: 2\n", "A: 1\nModifyDeviceFiles: 0\nB: 2\n"},
		{"ModifyDeviceFiles: 0\n", "ModifyDeviceFiles: 0\n"},
		{"A: 1", "A: 1\nModifyDeviceFiles: 0\n"},
		{"", "ModifyDeviceFiles: 0\n"},
	} {
		if got := string(disableDeviceFileModification([]byte(tc.in))); got != tc.want {
			t.Errorf("disableDeviceFileModification(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestBinarySize checks the GPU_CONFIG sizes against values upstream's
// BinarySize formats with "s" (computed with its Python code).
func TestBinarySize(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0"},
		{512, "512"},
		{1023, "1023"},
		{1024, "1k"},
		{1536, "1.5k"},
		{1152, "1.12k"},    // 1.125: half to even
		{1408, "1.38k"},    // 1.375: half to even
		{1048575, "1024k"}, // 1023.999 rounds up
		{1048064, "1023.5k"},
		{40 << 30, "40g"},
		{42505273344, "39.59g"},
		{85520809984, "79.65g"},
		{19968 << 20, "19.5g"},
		{1<<30 - 1, "1024m"},
		{1 << 40, "1t"},
		{1<<64 - 1, "16e"},
	} {
		if got := binarySize(tc.n); got != tc.want {
			t.Errorf("binarySize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func BenchmarkEdits(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(strconv.Itoa(n)+"gpu", func(b *testing.B) {
			h := newFakeHost(b, fakeHostOptions{GPUs: 8})
			binder := h.binder(b)
			devs := h.devices(n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := binder.Edits(devs, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// requireTool returns the path of an external program the test needs,
// skipping the test where it is not installed.
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("%s not installed: %v", name, err)
	}
	return p
}

func mustWrite(tb testing.TB, path, content string, mode os.FileMode) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		tb.Fatal(err)
	}
	// WriteFile's mode passes through the umask; the goldens need it exact.
	if err := os.Chmod(path, mode); err != nil {
		tb.Fatal(err)
	}
}

func mustSymlink(tb testing.TB, target, link string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkNewBinder(b *testing.B) {
	h := newFakeHost(b, fakeHostOptions{GPUs: 8})
	for b.Loop() {
		if _, err := NewBinder(h.roots, h.driver); err != nil {
			b.Fatal(err)
		}
	}
}
