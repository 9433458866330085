// Package cgroup creates, limits and reads the cgroups of kernels under the
// agent's own absolute cgroup root. cgroup v2 is the primary target; v1
// (including the hybrid layout) is read where a node still has it.
//
// # Stats
//
// A kernel's statistics come from a [Reader]: [Open] (or [OpenMode], with
// the layout that [DetectMode] found once) opens the files that a stats
// sweep needs, and each [Reader.Read] fills a [Sample] with one pread per
// file and no allocation, so that a sweep over hundreds of kernels every
// few seconds stays cheap (about 40 µs of CPU per kernel on v1 with nine
// files). A kernel that ended mid-sweep reads as [ErrGone]; a file with
// unexpected content as [ErrMalformed]. [ParseFile] parses one file's
// content from an io.Reader, as Read does.
//
// The files, per layout (v1 under <root>/<controller>/<path>, v2 under
// <root>/<path>):
//
//	Sample fields   v2                           v1
//	CPU             cpu.stat                     cpuacct.usage, cpu.stat
//	memory          memory.current, memory.max,  memory.usage_in_bytes, memory.limit_in_bytes,
//	                memory.stat, memory.events   memory.stat, memory.oom_control
//	block I/O       io.stat                      blkio.throttle.io_service_bytes
//	                                             (or blkio.io_service_bytes_recursive)
//	pids            pids.current, pids.max       pids.current, pids.max
//	PSI             {cpu,memory,io}.pressure     -
//
// It is a leaf: it imports no other package of this module.
package cgroup
