package spec

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestBuildRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Input)
		want   string // the start of the error after "build spec: "
	}{
		{"no kernel id", func(in *Input) { in.KernelID = "" }, `KernelID: "": empty`},
		{"kernel id with slash", func(in *Input) { in.KernelID = "a/b" }, `KernelID: "a/b": has '/'`},
		{"kernel id dot-dot", func(in *Input) { in.KernelID = ".." }, `KernelID: "..": starts with a dot`},
		{"kernel id too long", func(in *Input) { in.KernelID = strings.Repeat("a", 65) }, "KernelID: "},
		{"hostname with space", func(in *Input) { in.Hostname = "main 1" }, `Hostname: "main 1": has ' '`},
		{"hostname ends with hyphen", func(in *Input) { in.Hostname = "main-" }, `Hostname: "main-": starts or ends`},
		{"no rootfs", func(in *Input) { in.Rootfs = "" }, "Rootfs: required"},
		{"relative rootfs", func(in *Input) { in.Rootfs = "rootfs" }, `Rootfs: "rootfs": not absolute`},
		{"rootfs with dot-dot", func(in *Input) { in.Rootfs = "/a/../b" }, `Rootfs: "/a/../b": contains ".."`},
		{"relative cwd", func(in *Input) { in.Cwd = "work" }, `Cwd: "work": not absolute`},
		{"relative work dir", func(in *Input) { in.WorkDir = "work" }, "WorkDir: "},
		{"relative config dir", func(in *Input) { in.ConfigDir = "./config" }, "ConfigDir: "},
		{"relative hosts", func(in *Input) { in.EtcHosts = "hosts" }, "EtcHosts: "},
		{"relative hostname file", func(in *Input) { in.EtcHostname = "hostname" }, "EtcHostname: "},
		{"relative resolv.conf", func(in *Input) { in.EtcResolv = "resolv.conf" }, "EtcResolv: "},
		{"relative localtime", func(in *Input) { in.Localtime = "localtime" }, "Localtime: "},
		{"relative init", func(in *Input) { in.InitPath = "bai-init" }, "InitPath: "},
		{"relative status dir", func(in *Input) { in.StatusDir = "status" }, "StatusDir: "},
		{"init without status dir", func(in *Input) { in.StatusDir = "" }, "StatusDir: required when InitPath is set"},
		{"relative netns", func(in *Input) { in.NetNSPath = "netns/x" }, "NetNSPath: "},
		{"nul in path", func(in *Input) { in.WorkDir = "/a\x00b" }, `WorkDir: "/a\x00b": contains a NUL byte`},
		{"no cgroups path", func(in *Input) { in.CgroupsPath = "" }, "CgroupsPath: required"},
		{"relative cgroups path", func(in *Input) { in.CgroupsPath = "backendai/x" }, `CgroupsPath: "backendai/x": not absolute`},
		{"root cgroup", func(in *Input) { in.CgroupsPath = "//" }, "CgroupsPath: the root cgroup"},
		{"cgroups path escaping", func(in *Input) { in.CgroupsPath = "/backendai/../x" }, "CgroupsPath: "},
		{"mount without source", func(in *Input) { in.Mounts = []Mount{{Target: "/data"}} }, "Mounts[0].Source: required"},
		{"mount relative source", func(in *Input) { in.Mounts = []Mount{{Source: "data", Target: "/data"}} }, `Mounts[0].Source: "data": not absolute`},
		{"mount without target", func(in *Input) { in.Mounts = []Mount{{Source: "/data"}} }, "Mounts[0].Target: required"},
		{"mount relative target", func(in *Input) { in.Mounts = []Mount{{Source: "/data", Target: "data"}} }, `Mounts[0].Target: "data": not absolute`},
		{"mount target dot-dot", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: "/home/work/../../etc"}} }, `Mounts[0].Target: "/home/work/../../etc": contains ".."`},
		{"mount on proc", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: "/proc/sys"}} }, `Mounts[0].Target: "/proc/sys" is on /proc`},
		{"mount on sys", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: "/sys"}} }, `Mounts[0].Target: "/sys" is on /sys`},
		{"mount on dev", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: "/dev/shm/x"}} }, `Mounts[0].Target: "/dev/shm/x" is on /dev`},
		{"mount on root", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: "/"}} }, `Mounts[0].Target: "/" would hide /proc`},
		{"mount hiding work", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: "/home"}} }, `Mounts[0].Target: "/home" would hide /home/work`},
		{"mount over work", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: "/home/work/"}} }, `Mounts[0].Target: "/home/work/" is already mounted by the agent`},
		{"mount over init", func(in *Input) { in.Mounts = []Mount{{Source: "/d", Target: InitTarget}} }, `Mounts[0].Target: "/opt/kernel/bai-init" is already mounted by the agent`},
		{"mount twice", func(in *Input) {
			in.Mounts = []Mount{{Source: "/a", Target: "/data"}, {Source: "/b", Target: "/data/./"}}
		}, `Mounts[1].Target: "/data/./" repeats Mounts[0]`},
		{"negative shm", func(in *Input) { in.ShmSize = -1 }, "ShmSize: negative"},
		{"negative cpu", func(in *Input) { in.CPUs = []int{0, -1} }, "CPUs: negative id -1"},
		{"cpu twice", func(in *Input) { in.CPUs = []int{1, 2, 1} }, "CPUs: id 1 given twice"},
		{"negative quota", func(in *Input) { in.CPUQuota = -1 }, "CPUQuota: -1 is not"},
		{"nan quota", func(in *Input) { in.CPUQuota = math.NaN() }, "CPUQuota: NaN is not"},
		{"infinite quota", func(in *Input) { in.CPUQuota = math.Inf(1) }, "CPUQuota: +Inf is not"},
		{"tiny quota", func(in *Input) { in.CPUQuota = 0.001 }, "CPUQuota: 0.001 cores is below"},
		{"negative memory", func(in *Input) { in.MemoryBytes = -1 }, "MemoryBytes: negative"},
		{"negative pids", func(in *Input) { in.PidsLimit = -1 }, "PidsLimit: negative"},
		{"env without equals", func(in *Input) { in.Env = []string{"A=1", "B"} }, `Env[1]: "B" is not KEY=VALUE`},
		{"env without key", func(in *Input) { in.Env = []string{"=1"} }, `Env[0]: "=1" is not KEY=VALUE`},
		{"image env without equals", func(in *Input) { in.Image.Env = []string{"X"} }, `Image.Env[0]: "X" is not KEY=VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := defaultInput()
			tc.change(&in)
			s, err := Build(in)
			if err == nil {
				t.Fatalf("Build succeeded (%d mounts), want an error starting %q", len(s.Mounts), tc.want)
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error %q does not wrap ErrInvalidInput", err)
			}
			if want := "build spec: " + tc.want; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want one starting %q", err, want)
			}
		})
	}
}

func TestBuildAcceptsMountsUnderAgentBinds(t *testing.T) {
	in := defaultInput()
	in.Mounts = []Mount{
		{Source: "/vf/a", Target: "/home/work/a/"},
		{Source: "/vf/ssh", Target: "/home/work/.ssh", ReadOnly: true},
		{Source: "/vf/t", Target: "/tmp/x"},
	}
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, m := range s.Mounts[len(s.Mounts)-3:] {
		targets = append(targets, m.Destination)
	}
	if want := "/tmp/x /home/work/a /home/work/.ssh"; strings.Join(targets, " ") != want {
		t.Errorf("user mount targets %q, want %q", targets, want)
	}
}
