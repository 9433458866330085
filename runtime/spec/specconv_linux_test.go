//go:build linux

package spec

import (
	goruntime "runtime"
	"slices"
	"testing"

	lcdevices "github.com/opencontainers/cgroups/devices/config"
	lcconfigs "github.com/opencontainers/runc/libcontainer/configs"
	lcvalidate "github.com/opencontainers/runc/libcontainer/configs/validate"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"
)

// TestSpecconv converts the golden cases' specs as the runtime will, and
// checks what libcontainer gets, and that its validator accepts it. Only
// the conversion is tested: without -tags seccomp it succeeds too, though
// libcontainer would then refuse to start the container.
func TestSpecconv(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Rootfs = t.TempDir() // the validator stats it
			s, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: in.KernelID, Spec: s})
			if err != nil {
				t.Fatalf("CreateLibcontainerConfig: %v", err)
			}
			if err := lcvalidate.Validate(cfg); err != nil {
				t.Errorf("validate: %v", err)
			}

			if got, want := cfg.Cgroups.Path, "/backendai/"+testKernelID; got != want {
				t.Errorf("cgroup path %q, want %q", got, want)
			}
			if cfg.Cgroups.Name != "" || cfg.Cgroups.Parent != "" {
				t.Errorf("cgroup name %q parent %q, want none (absolute path)", cfg.Cgroups.Name, cfg.Cgroups.Parent)
			}
			caps := cfg.Capabilities
			if caps == nil || !slices.Equal(caps.Bounding, DefaultCapabilities()) ||
				!slices.Equal(caps.Effective, caps.Bounding) || !slices.Equal(caps.Permitted, caps.Bounding) ||
				len(caps.Inheritable) > 0 || len(caps.Ambient) > 0 {
				t.Errorf("capabilities %+v, want DefaultCapabilities bounding, effective and permitted", caps)
			}
			if cfg.NoNewPrivileges {
				t.Error("no_new_privs set; the entrypoint's su-exec needs it off")
			}
			checkSeccomp(t, cfg.Seccomp, !in.NoSeccomp)
			checkNamespaces(t, cfg, in.NetNSPath)
			checkMounts(t, cfg, in)
			if got := cfg.Hostname; got != s.Hostname || got == "" {
				t.Errorf("hostname %q, want %q", got, s.Hostname)
			}
			if !slices.Equal(cfg.MaskPaths, append(maskedPaths(), in.MaskedPaths...)) || !slices.Equal(cfg.ReadonlyPaths, readonlyPaths()) {
				t.Errorf("masked %q, read-only %q", cfg.MaskPaths, cfg.ReadonlyPaths)
			}
			devices := map[string]bool{}
			for _, d := range cfg.Devices {
				devices[d.Path] = true
			}
			for _, p := range []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"} {
				if !devices[p] {
					t.Errorf("device %s not created", p)
				}
			}
			if r := cfg.Cgroups.Resources; len(r.Devices) == 0 || r.Devices[0].Allow || r.Devices[0].Type != 'a' {
				t.Errorf("device rules do not start with deny-all: %+v", r.Devices)
			}
			// Extra devices (GPUs) are created and allowed.
			for _, d := range in.Devices {
				if !devices[d.Path] {
					t.Errorf("device %s not created", d.Path)
				}
				allowed := slices.ContainsFunc(cfg.Cgroups.Resources.Devices, func(r *lcdevices.Rule) bool {
					return r.Allow && r.Type == 'c' && r.Major == d.Major && r.Minor == d.Minor
				})
				if !allowed {
					t.Errorf("device %s %d:%d not allowed in the cgroup", d.Path, d.Major, d.Minor)
				}
			}
		})
	}
}

func TestSpecconvLimits(t *testing.T) {
	in := limitsInput()
	in.Rootfs = t.TempDir()
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{CgroupName: in.KernelID, Spec: s})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Cgroups.Resources
	if r.CpusetCpus != "0-3,8" || r.CpuQuota != 250000 || r.CpuPeriod != 100000 {
		t.Errorf("cpu: cpus %q quota %d period %d, want 0-3,8 250000 100000", r.CpusetCpus, r.CpuQuota, r.CpuPeriod)
	}
	if r.Memory != 4<<30 || r.MemorySwap != 4<<30 {
		t.Errorf("memory %d swap %d, want both %d", r.Memory, r.MemorySwap, 4<<30)
	}
	if r.PidsLimit == nil || *r.PidsLimit != 4096 {
		t.Errorf("pids limit %v, want 4096", r.PidsLimit)
	}
}

func checkSeccomp(t *testing.T, sc *lcconfigs.Seccomp, want bool) {
	t.Helper()
	if !want {
		if sc != nil {
			t.Errorf("seccomp %+v, want none", sc)
		}
		return
	}
	if sc == nil {
		t.Fatal("no seccomp config")
	}
	if sc.DefaultAction != lcconfigs.Errno || sc.DefaultErrnoRet == nil || *sc.DefaultErrnoRet != 1 {
		t.Errorf("seccomp default %v errno %v, want ERRNO(1)", sc.DefaultAction, sc.DefaultErrnoRet)
	}
	if want := []string{"amd64"}; goruntime.GOARCH == "amd64" && !slices.Equal(sc.Architectures, want) {
		t.Errorf("seccomp architectures %q, want %q", sc.Architectures, want)
	}
	allowed := map[string]bool{}
	for _, c := range sc.Syscalls {
		if c.Action == lcconfigs.Allow && len(c.Args) == 0 {
			allowed[c.Name] = true
		}
	}
	for _, name := range []string{"read", "write", "execve", "mmap", "futex", "exit_group"} {
		if !allowed[name] {
			t.Errorf("seccomp does not allow %s", name)
		}
	}
	for _, name := range []string{"mount", "unshare", "keyctl", "clone"} {
		if allowed[name] {
			t.Errorf("seccomp allows %s unconditionally", name)
		}
	}
}

func checkNamespaces(t *testing.T, cfg *lcconfigs.Config, netns string) {
	t.Helper()
	for _, ns := range []lcconfigs.NamespaceType{lcconfigs.NEWPID, lcconfigs.NEWNS, lcconfigs.NEWUTS, lcconfigs.NEWIPC, lcconfigs.NEWCGROUP} {
		if !cfg.Namespaces.IsPrivate(ns) {
			t.Errorf("namespace %s not private", ns)
		}
	}
	if cfg.Namespaces.Contains(lcconfigs.NEWUSER) {
		t.Error("user namespace set")
	}
	if got := cfg.Namespaces.PathOf(lcconfigs.NEWNET); got != netns || !cfg.Namespaces.Contains(lcconfigs.NEWNET) {
		t.Errorf("network namespace path %q, want %q", got, netns)
	}
	loopback := len(cfg.Networks) == 1 && cfg.Networks[0].Type == "loopback"
	if loopback != (netns == "") {
		t.Errorf("networks %+v with netns %q", cfg.Networks, netns)
	}
}

func checkMounts(t *testing.T, cfg *lcconfigs.Config, in Input) {
	t.Helper()
	byDest := map[string]*lcconfigs.Mount{}
	for _, m := range cfg.Mounts {
		byDest[m.Destination] = m
	}
	shm := byDest["/dev/shm"]
	wantShm := "mode=1777,size=67108864"
	if in.ShmSize != 0 {
		wantShm = "mode=1777,size=1073741824"
	}
	if shm == nil || shm.Device != "tmpfs" || shm.Data != wantShm || shm.Flags != unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_NODEV {
		t.Errorf("/dev/shm %+v, want tmpfs %s nosuid,noexec,nodev", shm, wantShm)
	}
	if m := byDest["/sys/fs/cgroup"]; m == nil || m.Device != "cgroup" || m.Flags&unix.MS_RDONLY == 0 {
		t.Errorf("/sys/fs/cgroup %+v, want a read-only cgroup mount", m)
	}
	if m := byDest["/tmp"]; m == nil || m.Device != "tmpfs" || m.Data != "mode=1777" || m.Flags != unix.MS_NOSUID|unix.MS_NODEV {
		t.Errorf("/tmp %+v, want tmpfs mode=1777 nosuid,nodev", m)
	}
	for _, um := range in.Mounts {
		m := byDest[um.Target]
		if m == nil {
			t.Errorf("mount %s missing", um.Target)
			continue
		}
		flags := unix.MS_BIND | unix.MS_NOSUID | unix.MS_NODEV
		if um.ReadOnly {
			flags |= unix.MS_RDONLY
		} else {
			flags |= unix.MS_REC
		}
		if m.Device != "bind" || m.Source != um.Source || m.Flags != flags || m.PropagationFlags[0] != unix.MS_PRIVATE|unix.MS_REC {
			t.Errorf("mount %s: %+v, want bind of %s flags %#x rprivate", um.Target, m, um.Source, flags)
		}
	}
	if in.WorkDir != "" {
		if m := byDest[WorkTarget]; m == nil || m.Flags != unix.MS_BIND|unix.MS_REC {
			t.Errorf("%s %+v, want a read-write rbind", WorkTarget, m)
		}
		if m := byDest[ConfigTarget]; m == nil || m.Flags != unix.MS_BIND|unix.MS_RDONLY {
			t.Errorf("%s %+v, want a read-only bind", ConfigTarget, m)
		}
	}
}
