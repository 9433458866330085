package spec

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// mounts returns the kernel's mounts in the order libcontainer makes them:
// the kernel filesystems, the agent's binds, then the user's binds with
// parents before children.
func mounts(in Input) []specs.Mount {
	ms := intrinsicMounts(in)
	for _, m := range in.RawMounts {
		ms = append(ms, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: slices.Clone(m.Options)})
	}
	user := slices.Clone(in.Mounts)
	slices.SortStableFunc(user, func(a, b Mount) int {
		return cmp.Compare(depth(a.Target), depth(b.Target))
	})
	for _, m := range user {
		// nosuid and nodev: a vfolder is shared storage, and nothing on
		// it should gain privileges or reach devices.
		ms = append(ms, bind(m.Source, m.Target, m.ReadOnly, "nosuid", "nodev"))
	}
	return ms
}

// intrinsicMounts returns the mounts every kernel gets, before the user's.
func intrinsicMounts(in Input) []specs.Mount {
	shm := in.ShmSize
	if shm == 0 {
		shm = DefaultShmSize
	}
	ms := []specs.Mount{
		{
			Destination: "/proc", Type: "proc", Source: "proc",
			Options: []string{"nosuid", "noexec", "nodev"},
		},
		{
			Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
		},
		{
			Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
		},
		{
			Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shm, 10)},
		},
		{
			Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
			Options: []string{"nosuid", "noexec", "nodev"},
		},
		{
			Destination: "/sys", Type: "sysfs", Source: "sysfs",
			Options: []string{"nosuid", "noexec", "nodev", "ro"},
		},
		{
			Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
			Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
		},
		{
			Destination: "/tmp", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "nodev", "mode=1777"},
		},
	}
	for _, b := range []struct {
		src, dst string
		ro       bool
	}{
		{in.WorkDir, WorkTarget, false},
		{in.ConfigDir, ConfigTarget, true},
		{in.EtcHosts, "/etc/hosts", false},
		{in.EtcHostname, "/etc/hostname", false},
		{in.EtcResolv, "/etc/resolv.conf", false},
		{in.Localtime, "/etc/localtime", true},
		{in.InitPath, InitTarget, true},
		{in.RunnerPath, RunnerTarget, true},
		{in.StatusDir, StatusTarget, false},
	} {
		if b.src != "" {
			ms = append(ms, bind(b.src, b.dst, b.ro))
		}
	}
	return ms
}

// bind is a bind mount of src at dst with propagation private. A
// read-write bind is recursive; a read-only one is not, since only its
// top mount would become read-only.
func bind(src, dst string, ro bool, extra ...string) specs.Mount {
	opts := []string{"rbind", "rprivate"}
	if ro {
		opts = []string{"bind", "rprivate", "ro"}
	}
	return specs.Mount{
		Destination: dst,
		Type:        "bind",
		Source:      src,
		Options:     append(opts, extra...),
	}
}

// depth is the number of elements of a clean absolute path.
func depth(p string) int {
	return strings.Count(strings.TrimSuffix(p, "/"), "/")
}
