package spec

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/opencontainers/runtime-spec/specs-go"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/baiagent/agent/runtime/image"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testKernelID = "3f0c9a52-1b7e-4d0e-9a51-6f2b8c1d0e47"

// busybox is the config of a busybox-like image.
func busybox() image.Config {
	return image.Config{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"sh"},
	}
}

// defaultInput is a kernel as the agent starts one: every agent bind, no
// limits.
func defaultInput() Input {
	scratch := "/var/lib/backend.ai/scratches/" + testKernelID
	return Input{
		KernelID:    testKernelID,
		Hostname:    "main1",
		Rootfs:      scratch + "/rootfs",
		Image:       busybox(),
		WorkDir:     scratch + "/work",
		ConfigDir:   scratch + "/config",
		EtcHosts:    scratch + "/etc/hosts",
		EtcHostname: scratch + "/etc/hostname",
		EtcResolv:   scratch + "/etc/resolv.conf",
		Localtime:   "/etc/localtime",
		InitPath:    "/usr/local/libexec/backendai-agent/bai-init",
		StatusDir:   scratch + "/status",
		CgroupsPath: "/backendai/" + testKernelID,
	}
}

// limitsInput adds vfolders, resource limits, a network namespace, a user
// and a command to defaultInput.
func limitsInput() Input {
	in := defaultInput()
	in.Image = image.Config{
		Env:        []string{"PATH=/opt/conda/bin:/usr/bin:/bin", "LANG=C.UTF-8", "PYTHONUNBUFFERED=1"},
		Entrypoint: []string{"/opt/kernel/entrypoint.sh"},
		Cmd:        []string{"python", "-m", "ai.backend.kernel"},
		User:       "work",
		WorkingDir: "/workspace",
	}
	in.Args = []string{"/opt/kernel/entrypoint.sh", "/opt/backend.ai/bin/python", "-m", "ai.backend.kernel", "--debug", "python"}
	in.Env = []string{"LANG=en_US.UTF-8", "BACKENDAI_KERNEL_ID=" + testKernelID, "LOCAL_USER_ID=1100", "LOCAL_GROUP_ID=1100"}
	in.UID, in.GID, in.AdditionalGids = 1100, 1100, []uint32{1002, 44}
	in.Mounts = []Mount{
		{Source: "/vfroot/local/ab/cd/data/models", Target: "/home/work/data/models", ReadOnly: true},
		{Source: "/vfroot/local/ab/cd/data", Target: "/home/work/data"},
		{Source: "/vfroot/local/12/34/shared", Target: "/mnt/shared", ReadOnly: true},
	}
	in.ShmSize = 1 << 30
	in.CPUs = []int{8, 3, 0, 2, 1}
	in.CPUQuota = 2.5
	in.MemoryBytes = 4 << 30
	in.PidsLimit = 4096
	in.NetNSPath = "/run/backend.ai/netns/" + testKernelID
	return in
}

// noSeccompInput is a bare kernel: no agent binds, no init, no seccomp.
func noSeccompInput() Input {
	return Input{
		KernelID:    testKernelID,
		Rootfs:      "/var/lib/backend.ai/scratches/" + testKernelID + "/rootfs",
		Image:       busybox(),
		Args:        []string{"sleep", "3600"},
		CgroupsPath: "/backendai/" + testKernelID,
		NoSeccomp:   true,
	}
}

// gpuInput is a kernel with one GPU bound (what runtime.gpuSpec adds from
// gpu.Edits): device nodes with cgroup rules, driver files, ldconfig, the
// other GPU masked.
func gpuInput() Input {
	in := defaultInput()
	in.Devices = []Device{
		{Path: "/dev/nvidiactl", Major: 195, Minor: 255, FileMode: 0o666},
		{Path: "/dev/nvidia-uvm", Major: 507, Minor: 0, FileMode: 0o666},
		{Path: "/dev/nvidia1", Major: 195, Minor: 1, FileMode: 0o666},
	}
	in.RawMounts = []RawMount{{Source: "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15", Target: "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
		Options: []string{"ro", "nosuid", "nodev", "bind"}}}
	in.Env = append(in.Env, "NVIDIA_VISIBLE_DEVICES=void", "CUDA_VISIBLE_DEVICES=0")
	in.MaskedPaths = []string{"/proc/driver/nvidia/gpus/0000:07:00.0"}
	in.InitLDConfig = true
	return in
}

// goldenCases are the inputs whose whole spec is kept in testdata.
func goldenCases() []struct {
	name string
	in   Input
} {
	return []struct {
		name string
		in   Input
	}{
		{"default", defaultInput()},
		{"limits", limitsInput()},
		{"noseccomp", noSeccompInput()},
		{"gpu", gpuInput()},
	}
}

func TestBuildGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Build(tc.in)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			checkGolden(t, filepath.Join("testdata", tc.name+".json"), s)
		})
	}
}

// checkGolden compares v, as indented JSON, with the file at path, or
// rewrites the file under -update.
func checkGolden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run '%s' -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run '%s' -update rewrites it):\n%s", path, t.Name(), firstDiff(want, got))
	}
}

// firstDiff shows the first differing line of want and got, with context.
func firstDiff(want, got []byte) string {
	w := strings.Split(string(want), "\n")
	g := strings.Split(string(got), "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	from := max(0, i-3)
	var b strings.Builder
	fmt.Fprintf(&b, "line %d:\n--- want\n%s\n+++ got\n%s", i+1,
		strings.Join(w[from:min(len(w), i+4)], "\n"), strings.Join(g[from:min(len(g), i+4)], "\n"))
	return b.String()
}

func TestBuildDoesNotChangeInput(t *testing.T) {
	in := limitsInput()
	in.Mounts[1].Target = "/home/work/data/"
	before := limitsInput()
	before.Mounts[1].Target = "/home/work/data/"
	if _, err := Build(in); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, before) {
		t.Errorf("Build changed its input:\n%+v\nwant\n%+v", in, before)
	}
}

func TestBuildArgs(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		image     image.Config
		init      bool
		want      []string
		wantError string
	}{
		{name: "args win", args: []string{"a", "b"}, image: image.Config{Entrypoint: []string{"e"}, Cmd: []string{"c"}}, want: []string{"a", "b"}},
		{name: "entrypoint and cmd", image: image.Config{Entrypoint: []string{"e", "-x"}, Cmd: []string{"c"}}, want: []string{"e", "-x", "c"}},
		{name: "cmd only", image: image.Config{Cmd: []string{"c"}}, want: []string{"c"}},
		{name: "wrapped by init", args: []string{"a"}, init: true, want: []string{InitTarget, "--status-dir", StatusTarget, "--notify-fd", "3", "--", "a"}},
		{name: "nothing to run", wantError: "Args: empty"},
		{name: "empty program", args: []string{"", "x"}, wantError: "Args[0]: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := noSeccompInput()
			in.Args, in.Image = tc.args, tc.image
			if tc.init {
				in.InitPath, in.StatusDir = "/bin/init", "/run/status"
			}
			s, err := Build(in)
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("Build: error %v, want one containing %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Args, tc.want) {
				t.Errorf("args %q, want %q", s.Process.Args, tc.want)
			}
		})
	}
}

func TestBuildEnv(t *testing.T) {
	for _, tc := range []struct {
		name       string
		image, env []string
		want       []string
	}{
		{
			name: "default path",
			want: []string{"PATH=" + DefaultPath, "HOSTNAME=h"},
		},
		{
			name:  "image path kept, user overrides in place",
			image: []string{"A=1", "PATH=/bin", "B=2"},
			env:   []string{"B=3", "C=4", "A="},
			want:  []string{"HOSTNAME=h", "A=", "PATH=/bin", "B=3", "C=4"},
		},
		{
			name: "user path and hostname",
			env:  []string{"PATH=/x", "HOSTNAME=other", "V=a=b"},
			want: []string{"HOSTNAME=other", "PATH=/x", "V=a=b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := noSeccompInput()
			in.Hostname, in.Image.Env, in.Env = "h", tc.image, tc.env
			s, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Process.Env, tc.want) {
				t.Errorf("env %q, want %q", s.Process.Env, tc.want)
			}
		})
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{[]int{0}, "0"},
		{[]int{3, 1, 2, 0}, "0-3"},
		{[]int{0, 2, 4}, "0,2,4"},
		{[]int{10, 11, 0, 1, 2, 8}, "0-2,8,10-11"},
	} {
		if got := cpuList(tc.in); got != tc.want {
			t.Errorf("cpuList(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHostNetworkHasNoNetNamespace(t *testing.T) {
	in := defaultInput()
	in.HostNetwork = true
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			t.Fatalf("host network kernel has a network namespace: %+v", s.Linux.Namespaces)
		}
	}
	in.NetNSPath = "/run/netns/x"
	if _, err := Build(in); err == nil {
		t.Fatal("HostNetwork with a NetNSPath accepted")
	}
}
