package stats

import (
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
)

// memUsage is the node's memory as upstream reports it: used = total −
// available, in bytes.
type memUsage struct {
	used, total uint64
}

// parseMeminfo reads /proc/meminfo the way psutil's virtual_memory does
// for the fields upstream uses: total is MemTotal; available is
// MemAvailable, or MemFree + Cached where the kernel lacks it (before
// 3.14) or reports 0, and MemFree where it exceeds the total (a
// container's distorted view).
func parseMeminfo(r io.Reader) (memUsage, error) {
	lines, err := readLines(r)
	if err != nil {
		return memUsage{}, fmt.Errorf("read meminfo: %w", err)
	}
	values := make(map[string]uint64, 4)
	for i, line := range lines {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "MemTotal", "MemAvailable", "MemFree", "Cached":
		default:
			continue
		}
		v, err := parseMeminfoValue(rest)
		if err != nil {
			return memUsage{}, malformed(i+1, name+": "+err.Error(), line)
		}
		values[name] = v
	}
	total, ok := values["MemTotal"]
	if !ok {
		return memUsage{}, fmt.Errorf("no MemTotal: %w", ErrMalformed)
	}
	free := values["MemFree"]
	avail, ok := values["MemAvailable"]
	if !ok || avail == 0 {
		avail = free + values["Cached"]
		if avail < free { // overflow
			avail = free
		}
	}
	if avail > total {
		avail = free
	}
	if avail > total {
		avail = total
	}
	return memUsage{used: total - avail, total: total}, nil
}

// parseMeminfoValue parses "  16318604 kB" (or a number without a
// unit) into bytes.
func parseMeminfoValue(s string) (uint64, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 2 {
		return 0, fmt.Errorf("want a number and an optional unit")
	}
	v, err := strconv.ParseUint(fields[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("number: %w", err)
	}
	if len(fields) == 1 {
		return v, nil
	}
	if fields[1] != "kB" {
		return 0, fmt.Errorf("unit %q", fields[1])
	}
	hi, lo := bits.Mul64(v, 1024)
	if hi != 0 {
		return 0, fmt.Errorf("%d kB overflows", v)
	}
	return lo, nil
}
