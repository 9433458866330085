package stats

// Metric keys. The first group are upstream's; the second are this
// agent's additions for kernels, which upstream does not report (the
// manager keeps unknown keys as they are).
const (
	// KeyCPUUtil is CPU time per second (kernel) or busy ms per interval
	// (node, per core).
	KeyCPUUtil = "cpu_util"
	// KeyCPUUsed is a kernel's cumulative CPU time in ms.
	KeyCPUUsed = "cpu_used"
	// KeyMem is used memory in bytes.
	KeyMem = "mem"
	// KeyDisk is the node's used disk space in bytes, per partition.
	KeyDisk = "disk"
	// KeyIORead and KeyIOWrite are a kernel's cumulative block I/O bytes.
	KeyIORead  = "io_read"
	KeyIOWrite = "io_write"
	// KeyIOScratchSize is the size of a kernel's scratch directory.
	KeyIOScratchSize = "io_scratch_size"
	// KeyNetRx and KeyNetTx are bytes per second received and sent.
	KeyNetRx = "net_rx"
	KeyNetTx = "net_tx"

	// KeyPids is a kernel's number of tasks, against its pids limit.
	KeyPids = "pids"
	// KeyOOMKills is the number of a kernel's processes the OOM killer
	// killed.
	KeyOOMKills = "oom_kills"
	// KeyCUDAMem and KeyCUDAUtil are GPU memory in use (bytes) and GPU
	// utilisation (percent, capacity 100 per GPU): per device on the node
	// and summed over a kernel's GPUs, as upstream's CUDA plugin.
	KeyCUDAMem  = "cuda_mem"
	KeyCUDAUtil = "cuda_util"
	// KeyCPUPressure, KeyMemPressure and KeyIOPressure are a kernel's
	// PSI "some" avg10: the percentage of the last 10 seconds in which
	// at least one of its tasks stalled on CPU, memory or I/O.
	KeyCPUPressure = "cpu_pressure"
	KeyMemPressure = "mem_pressure"
	KeyIOPressure  = "io_pressure"
)
