package cgroup

// Sample is one reading of a cgroup's statistics. Counters are cumulative
// since the cgroup was created. A field whose source file the cgroup lacks
// (its controller is not enabled, or the kernel is too old) is zero.
type Sample struct {
	// CPUUsageNanos is the CPU time the cgroup's tasks used, in
	// nanoseconds (v2 cpu.stat usage_usec, v1 cpuacct.usage).
	CPUUsageNanos uint64
	// CPUUserNanos and CPUSystemNanos split CPUUsageNanos into user and
	// kernel time, in nanoseconds (v2 cpu.stat user_usec and system_usec;
	// zero on v1, where the split costs another file per read).
	CPUUserNanos, CPUSystemNanos uint64
	// CPUPeriods is the number of CFS bandwidth periods that elapsed
	// while the cgroup had runnable tasks and a quota (cpu.stat
	// nr_periods).
	CPUPeriods uint64
	// CPUThrottledPeriods is the number of those periods in which the
	// cgroup was throttled (cpu.stat nr_throttled).
	CPUThrottledPeriods uint64
	// CPUThrottledNanos is the total time the cgroup was throttled, in
	// nanoseconds (v2 cpu.stat throttled_usec, v1 throttled_time).
	CPUThrottledNanos uint64

	// MemoryCurrent is the memory charged to the cgroup in bytes, page
	// cache included (v2 memory.current, v1 memory.usage_in_bytes).
	MemoryCurrent uint64
	// MemoryInactiveFile is the inactive page cache in bytes, which the
	// kernel reclaims first (v2 memory.stat inactive_file, v1
	// total_inactive_file).
	MemoryInactiveFile uint64
	// MemoryUsed is MemoryCurrent minus MemoryInactiveFile (0 if that
	// would be negative), the "mem" metric, in bytes.
	MemoryUsed uint64
	// MemoryAnon is anonymous memory in bytes (v2 memory.stat anon, v1
	// total_rss).
	MemoryAnon uint64
	// MemoryFile is page cache in bytes (v2 memory.stat file, v1
	// total_cache).
	MemoryFile uint64
	// MemoryLimit is the memory limit in bytes; 0 means unlimited (v2
	// memory.max "max", v1 memory.limit_in_bytes at its maximum).
	MemoryLimit uint64
	// OOMEvents counts the times the cgroup hit its memory limit and the
	// OOM killer was about to run (v2 memory.events oom; zero on v1).
	OOMEvents uint64
	// OOMKills counts the processes the OOM killer killed in the cgroup
	// (memory.events or memory.oom_control oom_kill; zero on v1 kernels
	// older than 4.13).
	OOMKills uint64
	// UnderOOM reports that the cgroup is stalled at its limit right now
	// (v1 memory.oom_control under_oom; false on v2).
	UnderOOM bool

	// IOAccounted reports that the block I/O files exist and list at
	// least one device. When false, IOReadBytes and IOWriteBytes are 0
	// without meaning "no I/O": the cgroup has no io/blkio controller,
	// has not touched a block device yet, or the host accounts none.
	IOAccounted bool
	// IOReadBytes and IOWriteBytes are the bytes read from and written to
	// block devices, summed over devices (v2 io.stat rbytes and wbytes,
	// v1 blkio Read and Write).
	IOReadBytes, IOWriteBytes uint64

	// PidsCurrent is the number of tasks (threads) in the cgroup
	// (pids.current).
	PidsCurrent uint64
	// PidsLimit is the task limit; 0 means unlimited (pids.max "max").
	PidsLimit uint64

	// HasPSI reports that the pressure files were read (v2 with PSI
	// enabled); PSI is zero otherwise.
	HasPSI bool
	// PSI is the pressure stall information of cpu.pressure,
	// memory.pressure and io.pressure.
	PSI PSI
}

// PSI is the pressure stall information of a cgroup.
type PSI struct {
	CPU, Memory, IO Pressure
}

// Pressure is one pressure file: "some" is the share of time in which at
// least one task stalled on the resource, "full" the share in which all
// non-idle tasks stalled at once (kernels before 5.13 have no "full" line
// for CPU).
type Pressure struct {
	Some, Full PressureLine
}

// PressureLine is one line of a pressure file.
type PressureLine struct {
	// Avg10, Avg60 and Avg300 are the stall shares over the last 10, 60
	// and 300 seconds, in percent (0 to 100).
	Avg10, Avg60, Avg300 float64
	// TotalMicros is the total stall time in microseconds.
	TotalMicros uint64
}

// setMemoryUsed derives MemoryUsed; the parsers of both of its sources
// call it, so it holds whichever is read last.
func (s *Sample) setMemoryUsed() {
	s.MemoryUsed = 0
	if s.MemoryCurrent > s.MemoryInactiveFile {
		s.MemoryUsed = s.MemoryCurrent - s.MemoryInactiveFile
	}
}
