// Package stats holds the agent's metrics with the semantics of upstream
// Backend.AI's agent (ai/backend/agent/stats.py and the intrinsic CPU and
// memory plugins in ai/backend/agent/docker/intrinsic.py, stats-type
// "cgroup"), so that the manager and the web UI read them as they read
// upstream's.
//
// # Model
//
// A Metric keeps the newest value and capacity of one quantity and the
// MovingStatistics of every value measured (min, max, sum, avg, and diff
// and rate over the last two points). Its Spec names it, gives its
// MetricType and unit hint, says whether "current" is the measured value,
// its diff or its rate (upstream's current_hook), and which statistics go
// on the wire (the stats filter). Metric.Value renders a MetricValue,
// upstream's wire form:
//
//	{"current": "1000", "capacity": "1000", "pct": "100",
//	 "unit_hint": "percent", "stats.avg": "2000", "stats.max": "3000"}
//
// Numbers are exact (Decimal) and written as upstream writes them:
// quantized to 0.001 (pct to 0.01) with ties to even, then trailing
// fractional zeros removed ("1234", "1.5", never "1234.000" nor an
// exponent). pct is current / capacity × 100, or the literal "0.00" when
// the capacity is absent or not positive; capacity is null when absent.
//
// KernelStats derives a kernel's metrics from plain KernelReading values
// (the collector fills them from cgroup and netns counters); Node samples
// the host itself from /proc and statfs. Both take the time of each
// reading from the caller: pass time.Now(), whose monotonic reading keeps
// rates right across wall-clock steps, or fixed times in tests.
//
// # Upstream semantics kept
//
//   - Kernel metrics: cpu_util (UTILIZATION, "percent", current = rate of
//     the cumulative CPU ms, capacity 1000: pct 100 means one core busy,
//     whatever the kernel was allocated; stats avg and max), cpu_used
//     (ACCUMULATION, "msec", cumulative ms quantized to 0.001 ms), mem
//     (GAUGE bytes, capacity the limit, stats max), io_read and io_write
//     (GAUGE cumulative bytes, stats rate), net_rx and net_tx (RATE "bps",
//     current = rate), io_scratch_size (GAUGE bytes, stats max).
//   - The statistics of a rate or diff metric are those of the measured
//     values: cpu_util's stats.avg and stats.max are of cumulative ms, as
//     upstream's.
//   - The first measurement of a metric already reports its hook: a rate
//     or diff metric starts at 0 (upstream's fix BA-7002).
//   - A kernel metric whose first measurement has no capacity, or a zero
//     one, takes that first value as its capacity (NewKernelMetric);
//     node metrics keep an absent capacity as null (NewMetric).
//   - diff and rate are 0 with fewer than two points and when the value
//     went down (a counter reset), for every metric type.
//   - Node metrics: cpu_util per core (device "0", "1", ... by position
//     in /proc/stat, as psutil enumerates) as (user + system) ms, current
//     = diff, capacity = the interval in ms (0 on the first sample), unit
//     "msec", node value = sum over cores (pct up to 100 × cores); mem =
//     MemTotal − MemAvailable against MemTotal (device "root", stats
//     max); disk = statvfs used (blocks − available blocks) against size
//     per partition, device = mount source, deduplicated by source; net_rx
//     and net_tx as rates (device "node").
//   - Disk partitions follow psutil's disk_partitions(all=False): only
//     types /proc/filesystems lists without "nodev" (plus zfs), a source
//     other than "" and "none"; then upstream prunes vfat, lxcfs,
//     squashfs, tmpfs and iso9660, and everything below the agent's own
//     directories (NodeOptions.ExcludeMountPrefixes, where upstream
//     excludes Docker's graph root).
//
// # Deliberate differences
//
//   - Decimals are exact rationals, not 28-digit Python decimals; results
//     differ only past the 28th significant digit. Values of 10^25 or more,
//     which upstream prints raw after a failed quantize, are printed in
//     the same fixed form as any other.
//   - A rate over two points with the same or reversed time is 0 (upstream
//     would raise); an average of no points is 0.
//   - Node net_rx and net_tx leave out the loopback "lo"; psutil's totals
//     include it, so agent-to-local-Redis traffic counted as node traffic.
//     Other interfaces (bridges, veths) count as upstream counts Docker's.
//   - A node device that disappears (an unmounted disk) is dropped;
//     upstream reports its last values for ever.
//   - MemAvailable missing or 0 falls back to MemFree + Cached; psutil
//     estimates it from /proc/zoneinfo watermarks.
//   - Kernel metrics upstream lacks, named like upstream's: pids (GAUGE
//     count, capacity the pids limit, null when unlimited, stats max),
//     oom_kills (ACCUMULATION count), and, where the kernel has PSI,
//     cpu_pressure, mem_pressure and io_pressure (GAUGE "percent", the
//     "some" avg10 share of stalled time against 100, stats avg and max).
//     They keep an absent capacity null. io_read and io_write are 0 while
//     the cgroup lists no block device (as upstream's sum of an empty
//     blkio file); KernelReading.IOAccounted says so.
package stats
