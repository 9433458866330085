package cgroup

import "math"

// Parsers of the cgroup v1 files that Read uses. Each sets every field
// that its file is the source of, and no other.

// v1Unlimited is the smallest memory.limit_in_bytes read as "no limit".
// An unset limit reads as the page counter's maximum, LONG_MAX rounded
// down to the page size (9223372036854771712 with 4 KiB pages); this
// covers pages up to 1 MiB.
const v1Unlimited = math.MaxInt64 - (1<<20 - 1)

// parseCPUAcctUsage parses v1 cpuacct.usage (nanoseconds).
func parseCPUAcctUsage(b []byte, s *Sample) error {
	v, unlimited, err := parseSingle("cpuacct.usage", b)
	if err == nil && unlimited {
		err = malformed("cpuacct.usage", 1, "max is not a usage", b)
	}
	if err != nil {
		return err
	}
	s.CPUUsageNanos = v
	return nil
}

// parseCPUStatV1 parses the throttling counters of v1 cpu.stat.
func parseCPUStatV1(b []byte, s *Sample) error {
	var v [3]uint64
	err := scanKeyed("cpu.stat", b, v[:], func(key []byte) int {
		switch string(key) {
		case "nr_periods":
			return 0
		case "nr_throttled":
			return 1
		case "throttled_time":
			return 2
		}
		return -1
	})
	if err != nil {
		return err
	}
	s.CPUPeriods, s.CPUThrottledPeriods, s.CPUThrottledNanos = v[0], v[1], v[2]
	return nil
}

// parseMemoryUsageV1 parses v1 memory.usage_in_bytes.
func parseMemoryUsageV1(b []byte, s *Sample) error {
	v, unlimited, err := parseSingle("memory.usage_in_bytes", b)
	if err == nil && unlimited {
		err = malformed("memory.usage_in_bytes", 1, "max is not a usage", b)
	}
	if err != nil {
		return err
	}
	s.MemoryCurrent = v
	s.setMemoryUsed()
	return nil
}

// parseMemoryLimitV1 parses v1 memory.limit_in_bytes; its maximum means
// unlimited (0).
func parseMemoryLimitV1(b []byte, s *Sample) error {
	v, _, err := parseSingle("memory.limit_in_bytes", b)
	if err != nil {
		return err
	}
	if v >= v1Unlimited {
		v = 0
	}
	s.MemoryLimit = v
	return nil
}

// parseMemoryStatV1 parses the hierarchical page cache and anonymous
// memory of v1 memory.stat (the total_ keys).
var parseMemoryStatV1 = memoryStatParser("total_inactive_file", "total_rss", "total_cache")

// parseOOMControl parses v1 memory.oom_control (oom_kill since 4.13).
func parseOOMControl(b []byte, s *Sample) error {
	var v [2]uint64
	err := scanKeyed("memory.oom_control", b, v[:], func(key []byte) int {
		switch string(key) {
		case "oom_kill":
			return 0
		case "under_oom":
			return 1
		}
		return -1
	})
	if err != nil {
		return err
	}
	s.OOMKills, s.UnderOOM = v[0], v[1] != 0
	return nil
}

// blkioParser returns the parser of the v1 blkio file name, which lists
// bytes per device and operation and a grand total:
//
//	8:0 Read 123
//	8:0 Write 456
//	8:0 Total 579
//	Total 579
//
// It sums Read and Write over the devices. A file without device lines
// (the controller has accounted nothing) leaves IOAccounted false.
func blkioParser(name string) func(b []byte, s *Sample) error {
	return func(b []byte, s *Sample) error {
		return parseBlkio(name, b, s)
	}
}

func parseBlkio(name string, b []byte, s *Sample) error {
	var read, write uint64
	devices := false
	l := lines{rest: b}
	for l.next() {
		f1, rest := nextField(l.line)
		f2, rest := nextField(rest)
		f3, rest := nextField(rest)
		if extra, _ := nextField(rest); len(extra) > 0 || len(f2) == 0 {
			return malformed(name, l.n, "not a \"MAJ:MIN Op bytes\" or \"Total bytes\" line", l.line)
		}
		if len(f3) == 0 {
			if string(f1) != "Total" {
				return malformed(name, l.n, "not a \"MAJ:MIN Op bytes\" or \"Total bytes\" line", l.line)
			}
			if _, ok := parseUint(f2); !ok {
				return malformed(name, l.n, "total is not a number", l.line)
			}
			continue
		}
		if !isDevice(f1) {
			return malformed(name, l.n, "no MAJ:MIN device", l.line)
		}
		devices = true
		n, ok := parseUint(f3)
		if !ok {
			return malformed(name, l.n, "value is not a number", l.line)
		}
		switch string(f2) {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	s.IOAccounted, s.IOReadBytes, s.IOWriteBytes = devices, read, write
	return nil
}
