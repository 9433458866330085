package cgroup

import (
	"fmt"
	"io"
)

// statFile is a cgroup file that Read reads, with its parser.
type statFile struct {
	// controller is the v1 hierarchy (the directory under the root) that
	// holds the file; "" on v2.
	controller string
	// name is the file's name in the cgroup directory.
	name string
	// parse sets the Sample fields that the file is the source of.
	parse func(b []byte, s *Sample) error
	// anchor marks the file that every cgroup of the layout has: when it
	// is missing, the cgroup is gone. Other files may be missing (their
	// controller is not enabled) and then leave their fields zero.
	anchor bool
	// hideable marks a file that may vanish while the cgroup lives (the
	// pressure files, when PSI is switched off through cgroup.pressure).
	hideable bool
	// ioFallback marks a block I/O file that is read only when the ones
	// before it listed no device.
	ioFallback bool
	// limit marks a file that holds only a limit (memory, pids): the
	// agent sets limits at create, so a Reader re-reads them only every
	// limitEvery reads and keeps them in between.
	limit bool
}

// limitEvery is how often (in reads) a Reader re-reads the limit files.
const limitEvery = 8

// statFiles returns the files that Read reads in mode, the anchor first.
// A sweep needs each of them; nothing else is read.
func statFiles(mode Mode) []statFile {
	switch mode {
	case ModeV2:
		return []statFile{
			{name: "cpu.stat", parse: parseCPUStatV2, anchor: true},
			{name: "memory.current", parse: parseMemoryCurrent},
			{name: "memory.max", parse: parseMemoryMax, limit: true},
			{name: "memory.stat", parse: parseMemoryStatV2},
			{name: "memory.events", parse: parseMemoryEvents},
			{name: "io.stat", parse: parseIOStat},
			{name: "pids.current", parse: parsePidsCurrent},
			{name: "pids.max", parse: parsePidsMax, limit: true},
			{name: "cpu.pressure", parse: parseCPUPressure, hideable: true},
			{name: "memory.pressure", parse: parseMemoryPressure, hideable: true},
			{name: "io.pressure", parse: parseIOPressure, hideable: true},
		}
	case ModeV1:
		return []statFile{
			{controller: "cpuacct", name: "cpuacct.usage", parse: parseCPUAcctUsage, anchor: true},
			{controller: "cpu", name: "cpu.stat", parse: parseCPUStatV1},
			{controller: "memory", name: "memory.usage_in_bytes", parse: parseMemoryUsageV1},
			{controller: "memory", name: "memory.limit_in_bytes", parse: parseMemoryLimitV1, limit: true},
			{controller: "memory", name: "memory.stat", parse: parseMemoryStatV1},
			{controller: "memory", name: "memory.oom_control", parse: parseOOMControl},
			// blk-throttle accounts the bios of the cgroup itself (since
			// 6.10 only on queues with a throttle rule somewhere); CFQ's
			// file, on kernels before 5.0, is the fallback. BFQ's is not
			// read: it would cost every kernel without I/O one more read.
			{controller: "blkio", name: "blkio.throttle.io_service_bytes", parse: blkioParser("blkio.throttle.io_service_bytes")},
			{controller: "blkio", name: "blkio.io_service_bytes_recursive", parse: blkioParser("blkio.io_service_bytes_recursive"), ioFallback: true},
			{controller: "pids", name: "pids.current", parse: parsePidsCurrent},
			{controller: "pids", name: "pids.max", parse: parsePidsMax, limit: true},
		}
	}
	return nil
}

// maxFileSize bounds the content of one cgroup file (io.stat of a node
// with many devices is the largest, a few KiB).
const maxFileSize = 1 << 20

// ParseFile parses the content of a cgroup file, read from r, into the
// fields of s that the file is the source of, as Read would; other fields
// are left alone. name is the file's name in the cgroup directory, such
// as "memory.stat" (whose v1 and v2 forms mode tells apart). It knows only
// the files that Read reads.
func ParseFile(mode Mode, name string, r io.Reader, s *Sample) error {
	for _, f := range statFiles(mode) {
		if f.name != name {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if len(b) > maxFileSize {
			return fmt.Errorf("read %s: larger than %d bytes", name, maxFileSize)
		}
		return f.parse(b, s)
	}
	return fmt.Errorf("parse %s: not a cgroup %s file that this package reads", name, mode)
}
