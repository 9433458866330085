package stats

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// userHZ is the unit of the times in /proc/stat: clock ticks of 1/100 s.
// It is part of Linux's user-space ABI (USER_HZ) and 100 on every
// architecture Go supports, whatever the kernel's internal HZ.
const userHZ = 100

// cpuTicks is one per-CPU line of /proc/stat: the CPU's user and system
// time in clock ticks.
type cpuTicks struct {
	user, system uint64
}

// busyMs returns user + system in milliseconds, quantized to 0.001 ms as
// upstream quantizes psutil's seconds × 1000.
func (t cpuTicks) busyMs() Decimal {
	ticks := DecimalFromUint(t.user).add(DecimalFromUint(t.system))
	return ticks.mul(DecimalFromInt(1000)).quo(DecimalFromInt(userHZ)).quantize(3)
}

// parseProcStat reads the per-CPU lines ("cpu0", "cpu1", ...) of
// /proc/stat, in the file's order (psutil's per-CPU order). The
// aggregate "cpu" line and every other line are skipped.
func parseProcStat(r io.Reader) ([]cpuTicks, error) {
	lines, err := readLines(r)
	if err != nil {
		return nil, fmt.Errorf("read stat: %w", err)
	}
	var cpus []cpuTicks
	for i, line := range lines {
		fields := strings.Fields(line)
		if len(fields) == 0 || !isPerCPU(fields[0]) {
			continue
		}
		// cpuN user nice system idle ...
		if len(fields) < 4 {
			return nil, malformed(i+1, "too few fields", line)
		}
		user, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return nil, malformed(i+1, "user time", fields[1])
		}
		system, err := strconv.ParseUint(fields[3], 10, 64)
		if err != nil {
			return nil, malformed(i+1, "system time", fields[3])
		}
		cpus = append(cpus, cpuTicks{user: user, system: system})
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("no per-cpu lines: %w", ErrMalformed)
	}
	return cpus, nil
}

// isPerCPU reports whether name is "cpu" followed by a CPU number.
func isPerCPU(name string) bool {
	num, ok := strings.CutPrefix(name, "cpu")
	if !ok || num == "" {
		return false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
