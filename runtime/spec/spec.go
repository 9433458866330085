package spec

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/baiagent/agent/runtime/image"
)

// Paths inside a kernel's container.
const (
	// WorkTarget is the user's home, the scratch work directory (rw).
	WorkTarget = "/home/work"
	// ConfigTarget holds environ.txt, resource.txt and friends (ro).
	ConfigTarget = "/home/config"
	// InitTarget is where the agent's static init binary is bound (ro).
	InitTarget = "/opt/kernel/bai-init"
	// RunnerTarget is where the in-container kernel runner is bound (ro).
	RunnerTarget = "/opt/kernel/bai-krunner"
	// StatusTarget is the directory where the init writes the exit status (rw).
	StatusTarget = "/opt/kernel/status"
	// NotifyFD is the descriptor on which the init says "ok" once the
	// command runs (and which it closes either way): the runtime passes a
	// pipe there so that it waits for the start without polling.
	NotifyFD = 3
)

// Defaults applied by Build.
const (
	// DefaultCwd is the process's working directory when Input.Cwd is "".
	DefaultCwd = WorkTarget
	// DefaultPath is the PATH set when neither the image nor Input.Env has one.
	DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	// DefaultShmSize is the size of /dev/shm when Input.ShmSize is 0 (Docker's).
	DefaultShmSize = 64 << 20
	// CPUPeriod is the CFS period, in microseconds, of a CPU quota.
	CPUPeriod = 100000
	// NofileLimit is the soft and hard RLIMIT_NOFILE of a kernel.
	NofileLimit = 1048576
)

// ErrInvalidInput is wrapped by the errors Build returns for a bad Input.
var ErrInvalidInput = errors.New("invalid input")

// Mount is a bind mount of a host path into the kernel, such as a vfolder.
type Mount struct {
	// Source is the absolute host path.
	Source string
	// Target is the absolute path in the container. It may not be /, nor
	// lie under /proc, /sys or /dev, nor repeat another mount's target.
	Target string
	// ReadOnly binds Source read-only (and not recursively, so that no
	// read-write submount shows through).
	ReadOnly bool
}

// Input is what Build needs to know about a kernel.
type Input struct {
	// KernelID names the kernel: 1 to 128 of [A-Za-z0-9_.-], not
	// starting with a dot.
	KernelID string
	// Hostname of the container; "" = KernelID.
	Hostname string
	// Rootfs is the host path of the kernel's mounted overlay rootfs.
	Rootfs string
	// Image is the image's config: its Env is the base of the process's,
	// its Entrypoint and Cmd the command when Args is empty. Its User and
	// WorkingDir are not used (the kernel runs as UID:GID in Cwd).
	Image image.Config
	// Args is the user command; empty = Image.Entrypoint + Image.Cmd;
	// both empty is an error.
	Args []string
	// Env holds KEY=VALUE entries added to the image's env, replacing an
	// entry of the same key. HOSTNAME is set to Hostname unless given, and
	// PATH to DefaultPath unless given here or by the image.
	Env []string
	// Cwd is the process's working directory; "" = DefaultCwd.
	Cwd string
	// UID, GID and AdditionalGids are the process's user. 0/0 (root) is
	// the default: upstream's entrypoint drops privileges itself.
	UID, GID       uint32
	AdditionalGids []uint32
	// WorkDir and ConfigDir are host scratch paths bound at WorkTarget
	// (rw) and ConfigTarget (ro); "" = not bound.
	WorkDir, ConfigDir string
	// Mounts are extra binds (vfolders), mounted last, parents first.
	Mounts []Mount
	// ShmSize is the size of the /dev/shm tmpfs in bytes; 0 = DefaultShmSize.
	ShmSize int64
	// EtcHosts, EtcHostname and EtcResolv are host files bound read-write
	// at /etc/hosts, /etc/hostname and /etc/resolv.conf, as Docker does;
	// "" = not bound.
	EtcHosts, EtcHostname, EtcResolv string
	// Localtime is a host file bound read-only at /etc/localtime; "" = not bound.
	Localtime string
	// InitPath is the host path of the agent's static init, bound at
	// InitTarget. When set, the process is
	// [InitTarget --status-dir StatusTarget --notify-fd 3 -- args...] and StatusDir is
	// required; "" runs args directly.
	InitPath string
	// RunnerPath is the host path of the static kernel runner, bound at
	// RunnerTarget; "" = not bound.
	RunnerPath string
	// StatusDir is the host directory bound read-write at StatusTarget.
	StatusDir string
	// CgroupsPath is the kernel's absolute cgroup path, e.g.
	// "/backendai/<kernel-id>".
	CgroupsPath string
	// CPUs are the CPU ids of cpuset.cpus; nil = not set.
	CPUs []int
	// CPUQuota in cores (at least 0.01): the CFS quota is
	// CPUQuota*CPUPeriod per CPUPeriod; 0 = none.
	CPUQuota float64
	// MemoryBytes is the memory limit, with no swap; 0 = none.
	MemoryBytes int64
	// PidsLimit is the maximum number of tasks; 0 = none.
	PidsLimit int64
	// NetNSPath is a network namespace to join; "" = a new one with
	// loopback only.
	NetNSPath string
	// HostNetwork shares the host's network namespace (upstream's
	// network_config {"mode": "host"}); NetNSPath must then be empty.
	HostNetwork bool
	// NoSeccomp runs the kernel without a seccomp filter; the default is
	// DefaultSeccomp(DefaultCapabilities()).
	NoSeccomp bool
	// Devices are character devices made in the kernel's /dev (GPUs),
	// each also allowed (rwm) in the kernel's device cgroup.
	Devices []Device
	// RawMounts are binds with their own options (the GPU driver's
	// libraries, binaries, firmware), mounted after the agent's own and
	// before the user's.
	RawMounts []RawMount
	// MaskedPaths are hidden in addition to the defaults (other GPUs'
	// /proc/driver/nvidia/gpus entries).
	MaskedPaths []string
	// InitLDConfig makes the init run the image's ldconfig before the
	// command (libraries bound in by RawMounts).
	InitLDConfig bool
}

// Device is a character device node of the kernel.
type Device struct {
	Path         string
	Major, Minor int64
	FileMode     uint32
	UID, GID     uint32
}

// RawMount is a bind mount with explicit options.
type RawMount struct {
	Source, Target string
	Options        []string
}

// Build returns the runtime spec of the kernel described by in, or an
// error wrapping ErrInvalidInput that names the field at fault.
func Build(in Input) (*specs.Spec, error) {
	if err := validate(&in); err != nil {
		return nil, fmt.Errorf("build spec: %w", err)
	}
	args, err := processArgs(in)
	if err != nil {
		return nil, fmt.Errorf("build spec: %w", err)
	}
	env, err := processEnv(in)
	if err != nil {
		return nil, fmt.Errorf("build spec: %w", err)
	}

	caps := DefaultCapabilities()
	oomScoreAdj := 0
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: in.Rootfs},
		Process: &specs.Process{
			Terminal: false,
			User: specs.User{
				UID:            in.UID,
				GID:            in.GID,
				AdditionalGids: slices.Clone(in.AdditionalGids),
			},
			Args: args,
			Env:  env,
			Cwd:  in.Cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: slices.Clone(caps),
				Permitted: slices.Clone(caps),
			},
			Rlimits: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: NofileLimit, Soft: NofileLimit},
				{Type: "RLIMIT_MEMLOCK", Hard: math.MaxUint64, Soft: math.MaxUint64},
			},
			NoNewPrivileges: false, // the entrypoint's su-exec must work
			OOMScoreAdj:     &oomScoreAdj,
		},
		Hostname: in.Hostname,
		Mounts:   mounts(in),
		Linux: &specs.Linux{
			Resources:     resources(in),
			CgroupsPath:   in.CgroupsPath,
			Namespaces:    namespaces(in.NetNSPath, in.HostNetwork),
			MaskedPaths:   append(maskedPaths(), in.MaskedPaths...),
			Devices:       linuxDevices(in.Devices),
			ReadonlyPaths: readonlyPaths(),
		},
	}
	if !in.NoSeccomp {
		s.Linux.Seccomp = DefaultSeccomp(caps)
	}
	return s, nil
}

// processArgs returns the process's argv: the user command, wrapped by the
// init when there is one.
func processArgs(in Input) ([]string, error) {
	args := slices.Clone(in.Args)
	if len(args) == 0 {
		args = slices.Concat(in.Image.Entrypoint, in.Image.Cmd)
	}
	if len(args) == 0 {
		return nil, invalid("Args", "empty, and the image has neither entrypoint nor cmd")
	}
	if args[0] == "" {
		return nil, invalid("Args[0]", "empty program")
	}
	if in.InitPath == "" {
		return args, nil
	}
	init := []string{InitTarget, "--status-dir", StatusTarget, "--notify-fd", strconv.Itoa(NotifyFD)}
	if in.InitLDConfig {
		init = append(init, "--ldconfig")
	}
	return slices.Concat(init, []string{"--"}, args), nil
}

// processEnv merges HOSTNAME, the image's env and in.Env by key, keeping
// the first position of each key, and adds PATH when missing.
func processEnv(in Input) ([]string, error) {
	var (
		env []string
		pos = map[string]int{}
	)
	set := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := pos[k]; ok {
			env[i] = kv
			return
		}
		pos[k] = len(env)
		env = append(env, kv)
	}
	set("HOSTNAME=" + in.Hostname)
	for i, kv := range in.Image.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, invalid(fmt.Sprintf("Image.Env[%d]", i), "%q is not KEY=VALUE", kv)
		}
		set(kv)
	}
	for i, kv := range in.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, invalid(fmt.Sprintf("Env[%d]", i), "%q is not KEY=VALUE", kv)
		}
		set(kv)
	}
	if _, ok := pos["PATH"]; !ok {
		env = slices.Insert(env, 0, "PATH="+DefaultPath)
	}
	return env, nil
}

// namespaces returns the kernel's namespaces: all new but the network one
// when netns names one to join.
func namespaces(netns string, hostNetwork bool) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace},
		{Type: specs.MountNamespace},
		{Type: specs.UTSNamespace},
		{Type: specs.IPCNamespace},
		{Type: specs.CgroupNamespace},
	}
	if !hostNetwork {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: netns})
	}
	return ns
}

// resources returns the cgroup settings: CPU, memory, pids and the device
// rules.
func resources(in Input) *specs.LinuxResources {
	r := &specs.LinuxResources{Devices: deviceRules()}
	for _, d := range in.Devices {
		major, minor := d.Major, d.Minor
		r.Devices = append(r.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"})
	}
	if len(in.CPUs) > 0 || in.CPUQuota > 0 {
		r.CPU = &specs.LinuxCPU{}
	}
	if len(in.CPUs) > 0 {
		r.CPU.Cpus = cpuList(in.CPUs)
	}
	if in.CPUQuota > 0 {
		quota := int64(math.Round(in.CPUQuota * CPUPeriod))
		period := uint64(CPUPeriod)
		r.CPU.Quota, r.CPU.Period = &quota, &period
	}
	if in.MemoryBytes > 0 {
		limit, swap := in.MemoryBytes, in.MemoryBytes
		r.Memory = &specs.LinuxMemory{Limit: &limit, Swap: &swap}
	}
	if in.PidsLimit > 0 {
		limit := in.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r
}

// cpuList formats distinct CPU ids as cpuset.cpus does: "0-3,8,10-11".
func cpuList(cpus []int) string {
	ids := slices.Clone(cpus)
	slices.Sort(ids)
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ids[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(ids[j]))
		}
		i = j + 1
	}
	return b.String()
}

// deviceRules returns the device cgroup rules: deny everything, then allow
// mknod of any node (CAP_MKNOD is granted; opening stays denied) and full
// use of the standard devices: null, zero, full, random, urandom, tty,
// ptmx and the pseudo-terminals, and tun (which Docker and runc allow).
func deviceRules() []specs.LinuxDeviceCgroup {
	dev := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			r.Major = &major
		}
		if minor >= 0 {
			r.Minor = &minor
		}
		return r
	}
	const wildcard = -1
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		dev("c", wildcard, wildcard, "m"),
		dev("b", wildcard, wildcard, "m"),
		dev("c", 1, 3, "rwm"),          // /dev/null
		dev("c", 1, 5, "rwm"),          // /dev/zero
		dev("c", 1, 7, "rwm"),          // /dev/full
		dev("c", 1, 8, "rwm"),          // /dev/random
		dev("c", 1, 9, "rwm"),          // /dev/urandom
		dev("c", 5, 0, "rwm"),          // /dev/tty
		dev("c", 5, 2, "rwm"),          // /dev/ptmx
		dev("c", 136, wildcard, "rwm"), // /dev/pts/*
		dev("c", 10, 200, "rwm"),       // /dev/net/tun
	}
}

// maskedPaths returns Docker's default masked paths: kernel interfaces
// that leak host information or state.
// linuxDevices turns the kernel's extra devices into spec entries.
func linuxDevices(ds []Device) []specs.LinuxDevice {
	var out []specs.LinuxDevice
	for _, d := range ds {
		mode := os.FileMode(d.FileMode)
		uid, gid := d.UID, d.GID
		out = append(out, specs.LinuxDevice{Path: d.Path, Type: "c", Major: d.Major, Minor: d.Minor, FileMode: &mode, UID: &uid, GID: &gid})
	}
	return out
}

func maskedPaths() []string {
	return []string{
		"/proc/acpi",
		"/proc/asound",
		"/proc/interrupts",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/sys/devices/virtual/powercap",
		"/sys/firmware",
	}
}

// readonlyPaths returns Docker's default read-only paths.
func readonlyPaths() []string {
	return []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
}
