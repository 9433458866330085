package spec

import (
	goruntime "runtime"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// profileRules sorts the rules of p by how they decide a syscall.
type profileRules struct {
	always      map[string]bool  // allowed whatever the arguments
	conditional map[string]int   // allowed for some arguments: number of rules
	errno       map[string]uint  // refused with this errno by a rule of their own
	args        map[string][]int // rule indexes of conditional names
}

func rulesOf(t *testing.T, p *specs.LinuxSeccomp) profileRules {
	t.Helper()
	r := profileRules{
		always:      map[string]bool{},
		conditional: map[string]int{},
		errno:       map[string]uint{},
		args:        map[string][]int{},
	}
	for i, rule := range p.Syscalls {
		for _, name := range rule.Names {
			switch {
			case rule.Action == specs.ActAllow && len(rule.Args) == 0:
				if r.always[name] {
					t.Errorf("%s is allowed twice", name)
				}
				r.always[name] = true
			case rule.Action == specs.ActAllow:
				r.conditional[name]++
				r.args[name] = append(r.args[name], i)
			case rule.Action == specs.ActErrno && rule.ErrnoRet != nil:
				r.errno[name] = *rule.ErrnoRet
			default:
				t.Errorf("rule %d (%v): unexpected action %s", i, rule.Names, rule.Action)
			}
		}
	}
	return r
}

// deniedByDefault are syscalls no kernel with the default capabilities may make.
var deniedByDefault = []string{
	"mount", "umount", "umount2", "pivot_root", "reboot",
	"kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "swapon", "swapoff", "bpf", "perf_event_open",
	"keyctl", "add_key", "request_key", "unshare", "setns",
	"sethostname", "setdomainname", "fsopen", "fsmount", "move_mount",
	"open_tree", "open_by_handle_at", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "userfaultfd", "syslog", "acct", "settimeofday",
	"clock_settime", "iopl", "ioperm", "vhangup", "kcmp", "pidfd_getfd",
	"process_madvise", "quotactl", "lookup_dcookie", "uselib", "ustat",
	"sysfs", "_sysctl", "nfsservctl", "vm86", "vm86old", "create_module",
	"get_kernel_syms", "query_module", "clone3",
}

// allowedByDefault are syscalls every kernel needs (or Docker allows).
var allowedByDefault = []string{
	"read", "write", "openat", "close", "mmap", "munmap", "mprotect", "brk",
	"execve", "execveat", "fork", "vfork", "exit_group", "wait4", "futex",
	"rt_sigaction", "rt_sigreturn", "getpid", "socketpair", "connect",
	"accept4", "epoll_wait", "setuid", "setgroups", "capset", "prctl",
	"ptrace", "process_vm_readv", "chroot", "mbind", "set_mempolicy",
	"sched_setaffinity", "setpriority", "mlock", "arch_prctl", "seccomp",
	"memfd_create", "statx", "getrandom", "rseq", "pidfd_open",
}

func TestDefaultSeccompDefaultCaps(t *testing.T) {
	p := DefaultSeccomp(DefaultCapabilities())
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != 1 {
		t.Errorf("default action %s errno %v, want ERRNO(EPERM=1)", p.DefaultAction, p.DefaultErrnoRet)
	}
	wantArches := hostArchitectures(goruntime.GOARCH)
	if len(wantArches) == 0 || !slices.Equal(p.Architectures, wantArches) {
		t.Errorf("architectures %v, want %v", p.Architectures, wantArches)
	}
	r := rulesOf(t, p)
	for _, name := range deniedByDefault {
		if r.always[name] || r.conditional[name] > 0 {
			t.Errorf("%s is allowed", name)
		}
	}
	for _, name := range allowedByDefault {
		if !r.always[name] {
			t.Errorf("%s is not allowed", name)
		}
	}
	if got := r.errno["clone3"]; got != 38 {
		t.Errorf("clone3 fails with errno %d, want ENOSYS (38) so that libc falls back to clone", got)
	}

	// clone: only without namespace flags.
	if r.always["clone"] || r.conditional["clone"] != 1 {
		t.Fatalf("clone: always %v, %d conditional rules; want one conditional", r.always["clone"], r.conditional["clone"])
	}
	want := specs.LinuxSeccompArg{Index: 0, Value: 0x7e020000, ValueTwo: 0, Op: specs.OpMaskedEqual}
	if got := p.Syscalls[r.args["clone"][0]].Args; len(got) != 1 || got[0] != want {
		t.Errorf("clone condition %+v, want %+v", got, want)
	}

	// personality: the Linux domains and the query.
	var personas []uint64
	for _, i := range r.args["personality"] {
		a := p.Syscalls[i].Args
		if len(a) != 1 || a[0].Index != 0 || a[0].Op != specs.OpEqualTo {
			t.Errorf("personality condition %+v", a)
			continue
		}
		personas = append(personas, a[0].Value)
	}
	if want := []uint64{0, 8, 0x20000, 0x20008, 0xffffffff}; !slices.Equal(personas, want) {
		t.Errorf("personality values %#x, want %#x", personas, want)
	}

	// socket: the listed families, not AF_VSOCK (40) nor AF_ALG (38).
	families := map[uint64]bool{}
	for _, i := range r.args["socket"] {
		a := p.Syscalls[i].Args
		if len(a) != 1 || a[0].Index != 0 || a[0].Op != specs.OpEqualTo {
			t.Errorf("socket condition %+v", a)
			continue
		}
		families[a[0].Value] = true
	}
	for _, f := range []uint64{1, 2, 10, 16, 17} { // unix inet inet6 netlink packet
		if !families[f] {
			t.Errorf("socket family %d refused", f)
		}
	}
	for _, f := range []uint64{3, 4, 5, 38, 40, 46} { // ax25 ipx appletalk alg vsock, unknown
		if families[f] {
			t.Errorf("socket family %d allowed", f)
		}
	}
}

func TestDefaultSeccompCapabilityGates(t *testing.T) {
	for _, tc := range []struct {
		name         string
		caps         []string
		allowed      []string
		denied       []string
		cloneChecked bool
	}{
		{
			name:         "none",
			denied:       []string{"chroot", "mbind", "get_mempolicy", "mount"},
			allowed:      []string{"ptrace", "read"},
			cloneChecked: true,
		},
		{
			name:    "sys_admin",
			caps:    []string{"CAP_SYS_ADMIN"},
			allowed: []string{"mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "perf_event_open", "syslog", "sethostname"},
			denied:  []string{"reboot", "keyctl", "kexec_load", "chroot"},
		},
		{
			name:         "sys_ptrace",
			caps:         []string{"CAP_SYS_PTRACE"},
			allowed:      []string{"ptrace", "kcmp", "pidfd_getfd", "process_madvise"},
			denied:       []string{"mount", "unshare"},
			cloneChecked: true,
		},
		{
			name:         "bpf perfmon syslog",
			caps:         []string{"CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG"},
			allowed:      []string{"bpf", "perf_event_open", "syslog"},
			denied:       []string{"mount", "lookup_dcookie"},
			cloneChecked: true,
		},
		{
			name:         "boot module time",
			caps:         []string{"CAP_SYS_BOOT", "CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_SYS_RAWIO", "CAP_SYS_PACCT", "CAP_SYS_TTY_CONFIG", "CAP_DAC_READ_SEARCH"},
			allowed:      []string{"reboot", "init_module", "finit_module", "delete_module", "settimeofday", "clock_settime", "iopl", "ioperm", "acct", "vhangup", "open_by_handle_at"},
			denied:       []string{"kexec_load", "swapon"},
			cloneChecked: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rulesOf(t, DefaultSeccomp(tc.caps))
			for _, name := range tc.allowed {
				if !r.always[name] {
					t.Errorf("%s is not allowed", name)
				}
			}
			for _, name := range tc.denied {
				if r.always[name] || r.conditional[name] > 0 {
					t.Errorf("%s is allowed", name)
				}
			}
			if got := r.conditional["clone"] == 1 && r.errno["clone3"] == 38; got != tc.cloneChecked {
				t.Errorf("clone filtered by flags and clone3 ENOSYS: %v, want %v", got, tc.cloneChecked)
			}
		})
	}
}

func TestDefaultSeccompIsFresh(t *testing.T) {
	a := DefaultSeccomp(DefaultCapabilities())
	a.Syscalls[0].Names[0] = "changed"
	a.Architectures[0] = "changed"
	b := DefaultSeccomp(DefaultCapabilities())
	if b.Syscalls[0].Names[0] == "changed" || b.Architectures[0] == "changed" {
		t.Error("DefaultSeccomp returns shared slices")
	}
	c := DefaultCapabilities()
	c[0] = "changed"
	if DefaultCapabilities()[0] == "changed" {
		t.Error("DefaultCapabilities returns a shared slice")
	}
}

func TestDefaultCapabilities(t *testing.T) {
	docker := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
	want := append(docker, "CAP_IPC_LOCK", "CAP_SYS_NICE")
	slices.Sort(want)
	if got := DefaultCapabilities(); !slices.Equal(got, want) {
		t.Errorf("DefaultCapabilities() = %v, want %v", got, want)
	}
}

func TestHostArchitectures(t *testing.T) {
	if got := hostArchitectures("amd64"); !slices.Equal(got, []specs.Arch{specs.ArchX86_64}) {
		t.Errorf("amd64: %v", got)
	}
	if got := hostArchitectures("arm64"); !slices.Equal(got, []specs.Arch{specs.ArchAARCH64}) {
		t.Errorf("arm64: %v", got)
	}
}
