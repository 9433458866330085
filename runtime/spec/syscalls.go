package spec

// The syscall tables of the default seccomp profile (see DefaultSeccomp).
// They are facts about Linux, grouped by topic; each table is returned by a
// function so that no caller can change the profile for the others.

// commonSyscalls returns the syscalls every kernel may make, whatever its
// capabilities. A name this host's libseccomp does not know (a 32-bit-only
// or a newer syscall) is skipped by runc when it loads the filter.
func commonSyscalls() [][]string {
	return [][]string{
		// Reading and writing file descriptors.
		{
			"read", "readv", "pread64", "preadv", "preadv2",
			"write", "writev", "pwrite64", "pwritev", "pwritev2",
			"open", "openat", "openat2", "creat", "close", "close_range",
			"dup", "dup2", "dup3", "lseek", "_llseek", "fcntl", "fcntl64",
			"ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs",
			"sync_file_range", "fallocate", "fadvise64", "fadvise64_64",
			"readahead", "sendfile", "sendfile64", "splice", "tee",
			"vmsplice", "copy_file_range", "truncate", "truncate64",
			"ftruncate", "ftruncate64", "pipe", "pipe2", "cachestat",
		},
		// File metadata, directories and links.
		{
			"access", "faccessat", "faccessat2",
			"stat", "stat64", "lstat", "lstat64", "fstat", "fstat64",
			"fstatat64", "newfstatat", "statx", "statfs", "statfs64",
			"fstatfs", "fstatfs64", "statmount", "listmount",
			"getdents", "getdents64", "getcwd", "chdir", "fchdir",
			"mkdir", "mkdirat", "mknod", "mknodat", "rmdir",
			"rename", "renameat", "renameat2", "link", "linkat",
			"symlink", "symlinkat", "unlink", "unlinkat",
			"readlink", "readlinkat", "umask",
			"chmod", "fchmod", "fchmodat", "fchmodat2",
			"chown", "chown32", "fchown", "fchown32", "fchownat",
			"lchown", "lchown32",
			"utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
			"name_to_handle_at",
		},
		// Extended attributes.
		{
			"getxattr", "lgetxattr", "fgetxattr", "getxattrat",
			"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
			"listxattr", "llistxattr", "flistxattr", "listxattrat",
			"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
		},
		// Waiting for events.
		{
			"poll", "ppoll", "ppoll_time64",
			"select", "_newselect", "pselect6", "pselect6_time64",
			"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
			"epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2",
			"eventfd", "eventfd2", "signalfd", "signalfd4",
			"timerfd_create", "timerfd_gettime", "timerfd_gettime64",
			"timerfd_settime", "timerfd_settime64",
			"inotify_init", "inotify_init1", "inotify_add_watch",
			"inotify_rm_watch", "fanotify_mark",
		},
		// POSIX asynchronous I/O (io_uring is left out, see DefaultSeccomp).
		{
			"io_setup", "io_destroy", "io_submit", "io_cancel",
			"io_getevents", "io_pgetevents", "io_pgetevents_time64",
		},
		// Memory.
		{
			"brk", "mmap", "mmap2", "munmap", "mremap", "mprotect",
			"madvise", "mincore", "msync", "remap_file_pages",
			"mlock", "mlock2", "mlockall", "munlock", "munlockall",
			"membarrier", "memfd_create", "memfd_secret",
			"pkey_alloc", "pkey_free", "pkey_mprotect",
			"map_shadow_stack", "mseal", "process_mrelease",
		},
		// Processes and threads (clone and clone3 are decided apart).
		{
			"fork", "vfork", "execve", "execveat", "exit", "exit_group",
			"wait4", "waitid", "waitpid",
			"getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid",
			"getsid", "setsid", "set_tid_address",
			"set_robust_list", "get_robust_list", "rseq",
			"set_thread_area", "get_thread_area", "prctl",
			"capget", "capset", "seccomp",
			"landlock_create_ruleset", "landlock_add_rule",
			"landlock_restrict_self",
			"pidfd_open", "pidfd_send_signal", "restart_syscall",
			"uretprobe", "riscv_hwprobe",
		},
		// Credentials (the kernel checks CAP_SETUID/CAP_SETGID itself).
		{
			"getuid", "getuid32", "geteuid", "geteuid32",
			"getgid", "getgid32", "getegid", "getegid32",
			"getresuid", "getresuid32", "getresgid", "getresgid32",
			"getgroups", "getgroups32", "setgroups", "setgroups32",
			"setuid", "setuid32", "setgid", "setgid32",
			"setreuid", "setreuid32", "setregid", "setregid32",
			"setresuid", "setresuid32", "setresgid", "setresgid32",
			"setfsuid", "setfsuid32", "setfsgid", "setfsgid32",
		},
		// Scheduling, priorities and limits (the kernel checks
		// CAP_SYS_NICE and CAP_SYS_RESOURCE where they matter).
		{
			"sched_yield", "sched_getaffinity", "sched_setaffinity",
			"sched_getattr", "sched_setattr",
			"sched_getparam", "sched_setparam",
			"sched_getscheduler", "sched_setscheduler",
			"sched_get_priority_max", "sched_get_priority_min",
			"sched_rr_get_interval", "sched_rr_get_interval_time64",
			"getpriority", "setpriority", "ioprio_get", "ioprio_set",
			"getrlimit", "ugetrlimit", "setrlimit", "prlimit64",
			"getrusage", "getcpu",
		},
		// Signals.
		{
			"kill", "tkill", "tgkill",
			"rt_sigaction", "rt_sigprocmask", "rt_sigpending",
			"rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigreturn",
			"rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
			"sigaltstack", "sigprocmask", "sigreturn", "pause", "alarm",
		},
		// Clocks and timers (setting the clock needs CAP_SYS_TIME, below).
		{
			"time", "gettimeofday", "times",
			"clock_gettime", "clock_gettime64",
			"clock_getres", "clock_getres_time64",
			"clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
			"adjtimex", "clock_adjtime", "clock_adjtime64",
			"getitimer", "setitimer",
			"timer_create", "timer_delete", "timer_getoverrun",
			"timer_gettime", "timer_gettime64",
			"timer_settime", "timer_settime64",
		},
		// Futexes.
		{
			"futex", "futex_time64", "futex_waitv",
			"futex_wait", "futex_wake", "futex_requeue",
		},
		// System V and POSIX IPC (the container has its own IPC namespace).
		{
			"ipc", "msgget", "msgsnd", "msgrcv", "msgctl",
			"semget", "semop", "semtimedop", "semtimedop_time64", "semctl",
			"shmget", "shmat", "shmdt", "shmctl",
			"mq_open", "mq_unlink", "mq_notify", "mq_getsetattr",
			"mq_timedsend", "mq_timedsend_time64",
			"mq_timedreceive", "mq_timedreceive_time64",
		},
		// Sockets (socket itself is filtered by family, see socketFamilies).
		{
			"socketpair", "socketcall", "bind", "connect", "listen",
			"accept", "accept4", "getsockname", "getpeername",
			"getsockopt", "setsockopt", "shutdown",
			"send", "sendto", "sendmsg", "sendmmsg",
			"recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
		},
		// System information and randomness.
		{"uname", "sysinfo", "getrandom"},
		// Tracing: safe since Linux 4.8, where seccomp is checked again
		// after a tracer changes a syscall.
		{"ptrace", "process_vm_readv", "process_vm_writev"},
		// Architecture-private calls: x86 (amd64, x32, i386) and ARM.
		{
			"arch_prctl", "modify_ldt",
			"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
			"breakpoint", "cacheflush", "set_tls",
		},
	}
}

// capSyscalls returns, for a capability, the syscalls that the profile
// allows only to a kernel holding it: the kernel would refuse them anyway,
// and the filter keeps the attack surface of those that it would not
// (mount, bpf, perf_event_open) closed.
func capSyscalls() []capGate {
	return []capGate{
		{"CAP_DAC_READ_SEARCH", []string{"open_by_handle_at"}},
		{"CAP_SYS_ADMIN", []string{
			"bpf", "clone", "clone3", "fanotify_init",
			"fsopen", "fsconfig", "fsmount", "fspick",
			"mount", "mount_setattr", "move_mount", "open_tree",
			"umount", "umount2", "lookup_dcookie", "perf_event_open",
			"quotactl", "quotactl_fd", "sethostname", "setdomainname",
			"setns", "unshare", "syslog",
			"lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
		}},
		{"CAP_SYS_BOOT", []string{"reboot"}},
		{"CAP_SYS_CHROOT", []string{"chroot"}},
		{"CAP_SYS_MODULE", []string{"init_module", "finit_module", "delete_module"}},
		{"CAP_SYS_PACCT", []string{"acct"}},
		{"CAP_SYS_PTRACE", []string{
			"ptrace", "process_vm_readv", "process_vm_writev",
			"kcmp", "pidfd_getfd", "process_madvise",
		}},
		{"CAP_SYS_RAWIO", []string{"iopl", "ioperm"}},
		{"CAP_SYS_TIME", []string{"settimeofday", "stime", "clock_settime", "clock_settime64"}},
		{"CAP_SYS_TTY_CONFIG", []string{"vhangup"}},
		{"CAP_SYS_NICE", []string{"mbind", "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node"}},
		{"CAP_SYSLOG", []string{"syslog"}},
		{"CAP_BPF", []string{"bpf"}},
		{"CAP_PERFMON", []string{"perf_event_open"}},
	}
}

// capGate is a capability and the syscalls allowed only with it.
type capGate struct {
	cap   string
	names []string
}

// socketFamily is an address family the socket syscall may create.
type socketFamily struct {
	name  string
	value uint64
}

// socketFamilies returns the address families a kernel may open sockets
// of: those of upstream Backend.AI's runner profile. Left out are the
// obsolete or rarely needed ones, a recurring source of kernel bugs (AX25,
// IPX, AppleTalk, NET/ROM, ROSE, DECnet, Econet, ATMSVC, IrDA, WANPIPE,
// ISDN, CAIF, ALG), and AF_VSOCK, which talks to the hypervisor.
func socketFamilies() []socketFamily {
	return []socketFamily{
		{"AF_UNSPEC", 0}, {"AF_UNIX", 1}, {"AF_INET", 2},
		{"AF_BRIDGE", 7}, {"AF_ATMPVC", 8}, {"AF_X25", 9}, {"AF_INET6", 10},
		{"AF_NETBEUI", 13}, {"AF_SECURITY", 14}, {"AF_KEY", 15},
		{"AF_NETLINK", 16}, {"AF_PACKET", 17}, {"AF_ASH", 18},
		{"AF_RDS", 21}, {"AF_SNA", 22}, {"AF_PPPOX", 24}, {"AF_LLC", 26},
		{"AF_IB", 27}, {"AF_MPLS", 28}, {"AF_CAN", 29}, {"AF_TIPC", 30},
		{"AF_BLUETOOTH", 31}, {"AF_IUCV", 32}, {"AF_RXRPC", 33},
		{"AF_PHONET", 35}, {"AF_IEEE802154", 36}, {"AF_NFC", 39},
		{"AF_KCM", 41}, {"AF_QIPCRTR", 42}, {"AF_SMC", 43}, {"AF_XDP", 44},
		{"AF_MCTP", 45},
	}
}

// personalities returns the personality(2) arguments the profile allows:
// the Linux domain, its 32-bit variant, each with UNAME26, and the query
// 0xffffffff. Other flags (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...)
// would weaken the container's memory protections.
func personalities() []uint64 {
	const (
		perLinux   = 0x0000
		perLinux32 = 0x0008
		uname26    = 0x0020000
		query      = 0xffffffff
	)
	return []uint64{perLinux, perLinux32, uname26, uname26 | perLinux32, query}
}
