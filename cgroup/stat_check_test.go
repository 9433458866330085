package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// checkStatReader runs the checks of a Reader on a real cgroup, the same
// on v1 and v2: a Reader opened on the empty cgroup sees the limits set
// after Open and the work of a helper child moved in later (so the kept
// descriptors do see regenerated content), and reports ErrGone once the
// cgroup is removed. test is the calling test, which dispatches to
// runStatHelper.
func checkStatReader(t *testing.T, cg *statTestCgroup, test string) {
	r, err := OpenMode(Root, cg.path, cg.mode)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s Sample
	read := func(when string) {
		t.Helper()
		if err := r.Read(&s); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		t.Logf("%s: %s", when, formatSample(&s))
	}

	read("empty cgroup")
	if s.CPUUsageNanos != 0 || s.PidsCurrent != 0 || s.MemoryLimit != 0 || s.PidsLimit != 0 || s.OOMKills != 0 {
		t.Errorf("empty cgroup: cpu %d ns, pids %d, memory limit %d, pids limit %d, oom kills %d; want all 0",
			s.CPUUsageNanos, s.PidsCurrent, s.MemoryLimit, s.PidsLimit, s.OOMKills)
	}

	const limit = 256 << 20
	if cg.mode == ModeV1 {
		cg.write(t, "memory", "memory.limit_in_bytes", "268435456")
	} else {
		cg.write(t, "", "memory.max", "268435456")
	}
	cg.write(t, "pids", "pids.max", "64")
	read("limits kept") // limits are re-read every 8th Read only
	if s.MemoryLimit != 0 || s.PidsLimit != 0 {
		t.Errorf("limits re-read before their turn: memory %d, pids %d", s.MemoryLimit, s.PidsLimit)
	}
	r.RefreshLimits()
	read("limits set")
	if s.MemoryLimit != limit || s.PidsLimit != 64 {
		t.Errorf("memory limit %d, pids limit %d; want %d, 64", s.MemoryLimit, s.PidsLimit, limit)
	}

	ioFile := ""
	dir := t.TempDir()
	dev, onDisk := blockBacked(t, dir)
	if onDisk {
		ioFile = filepath.Join(dir, "io")
		if cg.mode == ModeV1 {
			// Since 6.10, v1 accounts block I/O only on a queue with a
			// throttle rule: give the test cgroup one that never bites.
			cg.write(t, "blkio", "blkio.throttle.write_bps_device", dev+" 1099511627776")
		}
	}
	child := startStatChild(t, test, ioFile)
	cg.add(t, child.cmd.Process.Pid)
	start := time.Now()
	child.work(t)
	t.Logf("helper worked for %v", time.Since(start).Round(time.Millisecond))
	read("helper ready")

	if min := uint64(helperCPUTime) * 4 / 5; s.CPUUsageNanos < min {
		t.Errorf("cpu usage %d ns, want at least %d", s.CPUUsageNanos, min)
	}
	if cg.mode == ModeV2 && (s.CPUUserNanos == 0 || s.CPUUserNanos+s.CPUSystemNanos > s.CPUUsageNanos+1000) {
		t.Errorf("cpu user %d + system %d ns, usage %d: want user > 0 and the sum within the usage", s.CPUUserNanos, s.CPUSystemNanos, s.CPUUsageNanos)
	}
	if s.MemoryCurrent < helperMemory || s.MemoryAnon < helperMemory*9/10 {
		t.Errorf("memory current %d, anon %d; want at least %d", s.MemoryCurrent, s.MemoryAnon, helperMemory)
	}
	if s.MemoryUsed < helperMemory*9/10 || s.MemoryUsed > s.MemoryCurrent || s.MemoryUsed != s.MemoryCurrent-s.MemoryInactiveFile {
		t.Errorf("memory used %d (current %d, inactive file %d), want current - inactive file, at least %d",
			s.MemoryUsed, s.MemoryCurrent, s.MemoryInactiveFile, helperMemory*9/10)
	}
	if s.MemoryLimit != limit || s.PidsLimit != 64 {
		t.Errorf("memory limit %d, pids limit %d; want %d, 64", s.MemoryLimit, s.PidsLimit, limit)
	}
	checkPids(t, r, cg, &s)
	if onDisk {
		if !s.IOAccounted || s.IOWriteBytes < helperIOBytes {
			t.Errorf("I/O accounted %v, written %d bytes; want true and at least %d (64 MiB fsynced to %s, device %s)",
				s.IOAccounted, s.IOWriteBytes, helperIOBytes, ioFile, dev)
		}
		if s.MemoryFile < helperIOBytes/2 {
			t.Errorf("page cache %d bytes after writing %d, want at least half", s.MemoryFile, helperIOBytes)
		}
	} else {
		blocks, _ := os.ReadDir("/sys/block")
		t.Logf("%s is on no block device (block devices: %d): no I/O to account; IO accounted = %v", dir, len(blocks), s.IOAccounted)
		if s.IOAccounted || s.IOReadBytes != 0 || s.IOWriteBytes != 0 {
			t.Errorf("I/O accounted %v, read %d, written %d without any block I/O; want false, 0, 0", s.IOAccounted, s.IOReadBytes, s.IOWriteBytes)
		}
	}
	if _, err := os.Stat("/proc/pressure/cpu"); cg.mode == ModeV2 && err == nil {
		if !s.HasPSI {
			t.Error("the kernel has PSI but the Reader read none")
		}
	} else if s.HasPSI {
		t.Errorf("PSI read on %v (host PSI: %v)", cg.mode, err)
	}
	if s.OOMKills != 0 {
		t.Errorf("oom kills %d, want 0", s.OOMKills)
	}

	// A limit changed while the cgroup is busy reads back on refresh.
	if cg.mode == ModeV1 {
		cg.write(t, "memory", "memory.limit_in_bytes", "402653184")
	} else {
		cg.write(t, "", "memory.max", "402653184")
	}
	before := s.CPUUsageNanos
	r.RefreshLimits()
	read("limit raised")
	if s.MemoryLimit != 384<<20 || s.CPUUsageNanos < before {
		t.Errorf("memory limit %d, cpu %d ns (was %d); want %d and no less", s.MemoryLimit, s.CPUUsageNanos, before, 384<<20)
	}

	child.stop(t)
	cg.remove(t)
	err = r.Read(&s)
	if !errors.Is(err, ErrGone) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read after the cgroup was removed: %v; want ErrGone", err)
	}
	t.Logf("after removal: %v", err)
	if _, err := OpenMode(Root, cg.path, cg.mode); !errors.Is(err, ErrGone) {
		t.Errorf("Open after the cgroup was removed: %v; want ErrGone", err)
	}
}

// checkPids compares PidsCurrent with the cgroup's task list, reading
// again while the helper's runtime starts or ends threads.
func checkPids(t *testing.T, r *Reader, cg *statTestCgroup, s *Sample) {
	t.Helper()
	for try := 0; ; try++ {
		before := cg.tasks(t)
		if err := r.Read(s); err != nil {
			t.Fatal(err)
		}
		after := cg.tasks(t)
		if before == after && s.PidsCurrent == uint64(after) && after > 0 {
			return
		}
		if try == 20 {
			t.Errorf("pids current %d, tasks %d then %d; want equal and > 0", s.PidsCurrent, before, after)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// formatSample is a one-line summary of s for test logs.
func formatSample(s *Sample) string {
	return fmt.Sprintf("cpu %d ns (user %d, system %d), memory %d (used %d, anon %d, file %d, inactive file %d, limit %d), "+
		"oom kills %d, io accounted %v (read %d, written %d), pids %d (limit %d), psi %v (cpu some total %d us)",
		s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos, s.MemoryCurrent, s.MemoryUsed, s.MemoryAnon, s.MemoryFile,
		s.MemoryInactiveFile, s.MemoryLimit, s.OOMKills, s.IOAccounted, s.IOReadBytes, s.IOWriteBytes,
		s.PidsCurrent, s.PidsLimit, s.HasPSI, s.PSI.CPU.Some.TotalMicros)
}
