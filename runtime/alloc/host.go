package alloc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// HostCores returns the CPU cores this process may run on
// (sched_getaffinity), sorted.
func HostCores() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("read cpu affinity: %w", err)
	}
	n := set.Count()
	cores := make([]int, 0, n)
	for c := 0; len(cores) < n; c++ {
		if set.IsSet(c) {
			cores = append(cores, c)
		}
	}
	return cores, nil
}

// HostMemory returns the node's total memory in bytes (MemTotal of
// /proc/meminfo).
func HostMemory() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read host memory: %w", err)
	}
	defer f.Close()
	n, err := parseMeminfo(f)
	if err != nil {
		return 0, fmt.Errorf("read host memory: %w", err)
	}
	return n, nil
}

// parseMeminfo returns MemTotal, in bytes, from /proc/meminfo's text.
func parseMeminfo(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "MemTotal" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return 0, fmt.Errorf("parse meminfo: malformed MemTotal line %q", sc.Text())
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("parse meminfo: malformed MemTotal line %q", sc.Text())
		}
		mult := int64(1)
		if len(fields) == 2 {
			if fields[1] != "kB" {
				return 0, fmt.Errorf("parse meminfo: unknown unit %q of MemTotal", fields[1])
			}
			mult = 1024
		}
		if n > (1<<63-1)/mult {
			return 0, fmt.Errorf("parse meminfo: MemTotal %d %s out of range", n, fields[1])
		}
		return n * mult, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("parse meminfo: %w", err)
	}
	return 0, errors.New("parse meminfo: no MemTotal line")
}

// HostCoreNodes maps each core to its NUMA node from sysfs
// (<sysRoot>/devices/system/cpu/cpu<N>/node<M>); cores without one are
// left out, and a node without NUMA information gives an empty map.
func HostCoreNodes(sysRoot string, cores []int) map[int]int {
	out := map[int]int{}
	for _, c := range cores {
		matches, _ := filepath.Glob(filepath.Join(sysRoot, "devices/system/cpu", "cpu"+strconv.Itoa(c), "node*"))
		for _, m := range matches {
			if n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(m), "node")); err == nil {
				out[c] = n
				break
			}
		}
	}
	return out
}
