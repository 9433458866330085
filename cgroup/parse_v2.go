package cgroup

// Parsers of the cgroup v2 files that Read uses. Each sets every field
// that its file is the source of, and no other.

// parseCPUStatV2 parses v2 cpu.stat (microseconds) into nanoseconds.
func parseCPUStatV2(b []byte, s *Sample) error {
	var v [6]uint64
	err := scanKeyed("cpu.stat", b, v[:], func(key []byte) int {
		switch string(key) {
		case "usage_usec":
			return 0
		case "user_usec":
			return 1
		case "system_usec":
			return 2
		case "nr_periods":
			return 3
		case "nr_throttled":
			return 4
		case "throttled_usec":
			return 5
		}
		return -1
	})
	if err != nil {
		return err
	}
	s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = v[0]*1000, v[1]*1000, v[2]*1000
	s.CPUPeriods, s.CPUThrottledPeriods, s.CPUThrottledNanos = v[3], v[4], v[5]*1000
	return nil
}

// parseMemoryCurrent parses v2 memory.current.
func parseMemoryCurrent(b []byte, s *Sample) error {
	v, unlimited, err := parseSingle("memory.current", b)
	if err == nil && unlimited {
		err = malformed("memory.current", 1, "max is not a usage", b)
	}
	if err != nil {
		return err
	}
	s.MemoryCurrent = v
	s.setMemoryUsed()
	return nil
}

// parseMemoryMax parses v2 memory.max ("max" is unlimited, 0).
func parseMemoryMax(b []byte, s *Sample) error {
	v, _, err := parseSingle("memory.max", b)
	if err != nil {
		return err
	}
	s.MemoryLimit = v
	return nil
}

// parseMemoryStatV2 parses the page cache and anonymous memory of v2
// memory.stat.
var parseMemoryStatV2 = memoryStatParser("inactive_file", "anon", "file")

// memoryStatParser parses a memory.stat whose inactive page cache,
// anonymous memory and page cache have the keys given (v1 and v2 name
// them differently).
func memoryStatParser(inactiveFile, anon, file string) func(b []byte, s *Sample) error {
	return func(b []byte, s *Sample) error {
		var v [3]uint64
		err := scanKeyed("memory.stat", b, v[:], func(key []byte) int {
			switch string(key) {
			case inactiveFile:
				return 0
			case anon:
				return 1
			case file:
				return 2
			}
			return -1
		})
		if err != nil {
			return err
		}
		s.MemoryInactiveFile, s.MemoryAnon, s.MemoryFile = v[0], v[1], v[2]
		s.setMemoryUsed()
		return nil
	}
}

// parseMemoryEvents parses the OOM counters of v2 memory.events.
func parseMemoryEvents(b []byte, s *Sample) error {
	var v [2]uint64
	err := scanKeyed("memory.events", b, v[:], func(key []byte) int {
		switch string(key) {
		case "oom":
			return 0
		case "oom_kill":
			return 1
		}
		return -1
	})
	if err != nil {
		return err
	}
	s.OOMEvents, s.OOMKills = v[0], v[1]
	return nil
}

// parseIOStat sums rbytes and wbytes of v2 io.stat over its devices
// ("8:0 rbytes=1 wbytes=2 rios=3 ..." lines).
func parseIOStat(b []byte, s *Sample) error {
	const name = "io.stat"
	var read, write uint64
	devices := false
	l := lines{rest: b}
	for l.next() {
		dev, rest := nextField(l.line)
		if !isDevice(dev) {
			return malformed(name, l.n, "no MAJ:MIN device", l.line)
		}
		devices = true
		err := eachKeyValue(name, l.n, rest, func(key, val, f []byte) error {
			var sum *uint64
			switch string(key) {
			case "rbytes":
				sum = &read
			case "wbytes":
				sum = &write
			default:
				return nil
			}
			n, ok := parseUint(val)
			if !ok {
				return malformed(name, l.n, "value is not a number", f)
			}
			*sum += n
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.IOAccounted, s.IOReadBytes, s.IOWriteBytes = devices, read, write
	return nil
}

// isDevice reports whether f is a "MAJ:MIN" device number.
func isDevice(f []byte) bool {
	for i, c := range f {
		if c == ':' {
			_, okMaj := parseUint(f[:i])
			_, okMin := parseUint(f[i+1:])
			return okMaj && okMin
		}
	}
	return false
}

// parsePidsCurrent parses pids.current (v1 and v2).
func parsePidsCurrent(b []byte, s *Sample) error {
	v, unlimited, err := parseSingle("pids.current", b)
	if err == nil && unlimited {
		err = malformed("pids.current", 1, "max is not a count", b)
	}
	if err != nil {
		return err
	}
	s.PidsCurrent = v
	return nil
}

// parsePidsMax parses pids.max (v1 and v2; "max" is unlimited, 0).
func parsePidsMax(b []byte, s *Sample) error {
	v, _, err := parseSingle("pids.max", b)
	if err != nil {
		return err
	}
	s.PidsLimit = v
	return nil
}
