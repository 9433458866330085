package cgroup

// parseCase is one input of a cgroup file and what parsing it into a zero
// Sample gives. The unit tests run every case; the fuzz targets use the
// inputs as their seed corpora.
type parseCase struct {
	name string // the case
	mode Mode
	file string // the cgroup file, as ParseFile names it
	in   string
	want Sample // ignored when err is set
	err  string // substring of the expected error; "" for none
}

// Real-looking contents, from kernels 5.15 to 6.18.
const (
	v2CPUStat = `usage_usec 1234567
user_usec 1000000
system_usec 234567
core_sched.force_idle_usec 0
nr_periods 120
nr_throttled 7
throttled_usec 350000
nr_bursts 0
burst_usec 0
`
	v2MemoryStat = `anon 35651584
file 50331648
kernel 540672
kernel_stack 65536
pagetables 110592
sec_pagetables 0
percpu 0
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 0
file_dirty 4096
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 35618816
active_anon 32768
inactive_file 41943040
active_file 8388608
unevictable 0
slab_reclaimable 180224
slab_unreclaimable 165888
slab 346112
workingset_refault_anon 0
workingset_refault_file 0
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
pgscan 0
pgsteal 0
pgscan_kswapd 0
pgscan_direct 0
pgsteal_kswapd 0
pgsteal_direct 0
pgfault 9637
pgmajfault 0
pgrefill 0
pgactivate 2
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
thp_fault_alloc 0
thp_collapse_alloc 0
`
	v2MemoryEvents = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n"
	v2IOStat       = `8:0 rbytes=1048576 wbytes=67108864 rios=256 wios=512 dbytes=0 dios=0
253:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0
8:16 rbytes=0 wbytes=8192 rios=0 wios=2 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=0 cost.wait=0 cost.indebt=0 cost.indelay=0
`
	v2Pressure = "some avg10=1.25 avg60=0.50 avg300=0.10 total=123456\nfull avg10=0.00 avg60=0.03 avg300=0.00 total=789\n"

	v1CPUStat    = "nr_periods 40\nnr_throttled 3\nthrottled_time 123456789\nnr_bursts 0\nburst_time 0\n"
	v1MemoryStat = `cache 9768960
rss 4243456
rss_huge 0
shmem 0
mapped_file 7639040
dirty 53248
writeback 0
workingset_refault_anon 0
workingset_refault_file 7277
swap 0
swapcached 0
pgpgin 64042
pgpgout 60621
pgfault 111246
pgmajfault 0
inactive_anon 0
active_anon 1531904
inactive_file 73728
active_file 528384
unevictable 0
hierarchical_memory_limit 268435456
hierarchical_memsw_limit 9223372036854771712
total_cache 104857600
total_rss 33554432
total_rss_huge 0
total_shmem 0
total_mapped_file 11128832
total_dirty 0
total_writeback 0
total_workingset_refault_anon 0
total_workingset_refault_file 0
total_swap 0
total_swapcached 0
total_pgpgin 102318402
total_pgpgout 102154675
total_pgfault 105964864
total_pgmajfault 37421
total_inactive_anon 4132864
total_active_anon 29421568
total_inactive_file 103579648
total_active_file 1277952
total_unevictable 0
`
	v1OOMControl = "oom_kill_disable 0\nunder_oom 1\noom_kill 4\n"
	v1Blkio      = `8:0 Read 1048576
8:0 Write 67108864
8:0 Sync 67108864
8:0 Async 1048576
8:0 Discard 0
8:0 Total 68157440
254:0 Read 4096
254:0 Write 512
254:0 Sync 512
254:0 Async 4096
254:0 Discard 0
254:0 Total 4608
Total 68162048
`
)

func parseCases() []parseCase {
	return []parseCase{
		// v2 cpu.stat
		{name: "real", mode: ModeV2, file: "cpu.stat", in: v2CPUStat, want: Sample{
			CPUUsageNanos: 1234567000, CPUUserNanos: 1000000000, CPUSystemNanos: 234567000,
			CPUPeriods: 120, CPUThrottledPeriods: 7, CPUThrottledNanos: 350000000}},
		{name: "no cpu controller", mode: ModeV2, file: "cpu.stat", in: "usage_usec 10\nuser_usec 6\nsystem_usec 4\n",
			want: Sample{CPUUsageNanos: 10000, CPUUserNanos: 6000, CPUSystemNanos: 4000}},
		{name: "no trailing newline", mode: ModeV2, file: "cpu.stat", in: "usage_usec 10\nuser_usec 6",
			want: Sample{CPUUsageNanos: 10000, CPUUserNanos: 6000}},
		{name: "empty", mode: ModeV2, file: "cpu.stat", in: ""},
		{name: "bad value", mode: ModeV2, file: "cpu.stat", in: "usage_usec 1x\n", err: `cpu.stat line 1: value is not a number: "usage_usec 1x"`},
		{name: "missing value", mode: ModeV2, file: "cpu.stat", in: "usage_usec 1\nuser_usec\n", err: "cpu.stat line 2: not a \"key value\" line"},
		{name: "extra field", mode: ModeV2, file: "cpu.stat", in: "usage_usec 1 2\n", err: "cpu.stat line 1"},
		{name: "overflow", mode: ModeV2, file: "cpu.stat", in: "usage_usec 18446744073709551616\n", err: "value is not a number"},
		{name: "garbage", mode: ModeV2, file: "cpu.stat", in: "\x00\xff garbage here\n", err: "cpu.stat line 1"},
		{name: "unknown key non-numeric", mode: ModeV2, file: "cpu.stat", in: "usage_usec 5\nfuture_key abc\n",
			want: Sample{CPUUsageNanos: 5000}},

		// v2 single values
		{name: "number", mode: ModeV2, file: "memory.current", in: "52428800\n", want: Sample{MemoryCurrent: 52428800, MemoryUsed: 52428800}},
		{name: "no newline", mode: ModeV2, file: "memory.current", in: "4096", want: Sample{MemoryCurrent: 4096, MemoryUsed: 4096}},
		{name: "max is no usage", mode: ModeV2, file: "memory.current", in: "max\n", err: "memory.current line 1: max is not a usage"},
		{name: "empty", mode: ModeV2, file: "memory.current", in: "", err: "memory.current line 1: empty"},
		{name: "negative", mode: ModeV2, file: "memory.current", in: "-1\n", err: "not a number"},
		{name: "two values", mode: ModeV2, file: "memory.current", in: "1 2\n", err: "not a single value"},
		{name: "two lines", mode: ModeV2, file: "memory.current", in: "1\n2\n", err: "not a single value"},
		{name: "limit", mode: ModeV2, file: "memory.max", in: "268435456\n", want: Sample{MemoryLimit: 268435456}},
		{name: "max", mode: ModeV2, file: "memory.max", in: "max\n", want: Sample{}},
		{name: "garbage", mode: ModeV2, file: "memory.max", in: "maximum\n", err: "memory.max line 1: not a number"},
		{name: "count", mode: ModeV2, file: "pids.current", in: "17\n", want: Sample{PidsCurrent: 17}},
		{name: "limit", mode: ModeV2, file: "pids.max", in: "64\n", want: Sample{PidsLimit: 64}},
		{name: "max", mode: ModeV2, file: "pids.max", in: "max\n", want: Sample{}},
		{name: "empty", mode: ModeV2, file: "pids.max", in: "\n", err: "pids.max line 1: empty"},

		// v2 memory.stat and memory.events
		{name: "real", mode: ModeV2, file: "memory.stat", in: v2MemoryStat,
			want: Sample{MemoryInactiveFile: 41943040, MemoryAnon: 35651584, MemoryFile: 50331648}},
		{name: "empty", mode: ModeV2, file: "memory.stat", in: ""},
		{name: "garbage", mode: ModeV2, file: "memory.stat", in: "anon 1\ninactive_file =12\n", err: "memory.stat line 2: value is not a number"},
		{name: "negative counter", mode: ModeV2, file: "memory.stat", in: "inactive_file -4096\nanon 5\n", want: Sample{MemoryAnon: 5}},
		{name: "real", mode: ModeV2, file: "memory.events", in: v2MemoryEvents, want: Sample{OOMEvents: 2, OOMKills: 1}},
		{name: "no oom_kill", mode: ModeV2, file: "memory.events", in: "low 0\nhigh 0\nmax 0\noom 0", want: Sample{}},
		{name: "garbage", mode: ModeV2, file: "memory.events", in: "oom_kill\n", err: "memory.events line 1"},

		// v2 io.stat
		{name: "real", mode: ModeV2, file: "io.stat", in: v2IOStat,
			want: Sample{IOAccounted: true, IOReadBytes: 1048576 + 4096, IOWriteBytes: 67108864 + 8192}},
		{name: "empty", mode: ModeV2, file: "io.stat", in: "", want: Sample{}},
		{name: "device without bytes", mode: ModeV2, file: "io.stat", in: "259:0 rios=1", want: Sample{IOAccounted: true}},
		{name: "no device", mode: ModeV2, file: "io.stat", in: "rbytes=1 wbytes=2\n", err: "io.stat line 1: no MAJ:MIN device"},
		{name: "bad device", mode: ModeV2, file: "io.stat", in: "8:x rbytes=1\n", err: "no MAJ:MIN device"},
		{name: "bad field", mode: ModeV2, file: "io.stat", in: "8:0 rbytes=1 wbytes\n", err: `io.stat line 1: field is not key=value: "wbytes"`},
		{name: "bad number", mode: ModeV2, file: "io.stat", in: "8:0 rbytes=1 wbytes=-2\n", err: "value is not a number"},

		// v2 pressure
		{name: "real", mode: ModeV2, file: "memory.pressure", in: v2Pressure, want: Sample{HasPSI: true, PSI: PSI{Memory: Pressure{
			Some: PressureLine{Avg10: 1.25, Avg60: 0.5, Avg300: 0.1, TotalMicros: 123456},
			Full: PressureLine{Avg60: 0.03, TotalMicros: 789}}}}},
		{name: "cpu before 5.13", mode: ModeV2, file: "cpu.pressure", in: "some avg10=99.99 avg60=10.00 avg300=0.00 total=5", want: Sample{HasPSI: true, PSI: PSI{CPU: Pressure{
			Some: PressureLine{Avg10: 99.99, Avg60: 10, TotalMicros: 5}}}}},
		{name: "empty", mode: ModeV2, file: "io.pressure", in: "", want: Sample{HasPSI: true}},
		{name: "unknown line", mode: ModeV2, file: "io.pressure", in: "most avg10=0.00\n", err: `io.pressure line 1: line is neither "some" nor "full"`},
		{name: "bad avg", mode: ModeV2, file: "io.pressure", in: "some avg10=1.2.3 total=0\n", err: "average is not a decimal"},
		{name: "bad total", mode: ModeV2, file: "io.pressure", in: "some avg10=1.00 total=x\n", err: "total is not a number"},
		{name: "no equals", mode: ModeV2, file: "cpu.pressure", in: "some avg10\n", err: "field is not key=value"},

		// v1
		{name: "usage", mode: ModeV1, file: "cpuacct.usage", in: "7086315344887\n", want: Sample{CPUUsageNanos: 7086315344887}},
		{name: "empty", mode: ModeV1, file: "cpuacct.usage", in: "", err: "cpuacct.usage line 1: empty"},
		{name: "real", mode: ModeV1, file: "cpu.stat", in: v1CPUStat,
			want: Sample{CPUPeriods: 40, CPUThrottledPeriods: 3, CPUThrottledNanos: 123456789}},
		{name: "usage", mode: ModeV1, file: "memory.usage_in_bytes", in: "138412032\n", want: Sample{MemoryCurrent: 138412032, MemoryUsed: 138412032}},
		{name: "limit", mode: ModeV1, file: "memory.limit_in_bytes", in: "268435456\n", want: Sample{MemoryLimit: 268435456}},
		{name: "unlimited 4k pages", mode: ModeV1, file: "memory.limit_in_bytes", in: "9223372036854771712\n", want: Sample{}},
		{name: "unlimited 64k pages", mode: ModeV1, file: "memory.limit_in_bytes", in: "9223372036854710272", want: Sample{}},
		{name: "garbage", mode: ModeV1, file: "memory.limit_in_bytes", in: "lots\n", err: "memory.limit_in_bytes line 1: not a number"},
		{name: "real", mode: ModeV1, file: "memory.stat", in: v1MemoryStat,
			want: Sample{MemoryInactiveFile: 103579648, MemoryAnon: 33554432, MemoryFile: 104857600}},
		{name: "real", mode: ModeV1, file: "memory.oom_control", in: v1OOMControl, want: Sample{OOMKills: 4, UnderOOM: true}},
		{name: "before 4.13", mode: ModeV1, file: "memory.oom_control", in: "oom_kill_disable 0\nunder_oom 0\n", want: Sample{}},
		{name: "real", mode: ModeV1, file: "blkio.throttle.io_service_bytes", in: v1Blkio,
			want: Sample{IOAccounted: true, IOReadBytes: 1048576 + 4096, IOWriteBytes: 67108864 + 512}},
		{name: "nothing accounted", mode: ModeV1, file: "blkio.throttle.io_service_bytes", in: "Total 0\n", want: Sample{}},
		{name: "empty", mode: ModeV1, file: "blkio.io_service_bytes_recursive", in: "", want: Sample{}},
		{name: "no trailing newline", mode: ModeV1, file: "blkio.io_service_bytes_recursive", in: "8:0 Read 5\n8:0 Write 6\nTotal 11",
			want: Sample{IOAccounted: true, IOReadBytes: 5, IOWriteBytes: 6}},
		{name: "bad total", mode: ModeV1, file: "blkio.throttle.io_service_bytes", in: "Total x\n", err: "blkio.throttle.io_service_bytes line 1: total is not a number"},
		{name: "bad line", mode: ModeV1, file: "blkio.throttle.io_service_bytes", in: "8:0 Read\n", err: "line 1: not a \"MAJ:MIN Op bytes\""},
		{name: "bad device", mode: ModeV1, file: "blkio.throttle.io_service_bytes", in: "sda Read 5\n", err: "no MAJ:MIN device"},
		{name: "bad value", mode: ModeV1, file: "blkio.throttle.io_service_bytes", in: "8:0 Write 5k\n", err: "value is not a number"},
		{name: "too many fields", mode: ModeV1, file: "blkio.throttle.io_service_bytes", in: "8:0 Write 5 6\n", err: "line 1"},
		{name: "count", mode: ModeV1, file: "pids.current", in: "3\n", want: Sample{PidsCurrent: 3}},
		{name: "max", mode: ModeV1, file: "pids.max", in: "max\n", want: Sample{}},
	}
}
