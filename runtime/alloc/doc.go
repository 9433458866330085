// Package alloc keeps the node's resource alloc maps: which CPU cores and
// how much memory each kernel holds, out of the capacity the agent reports
// to the manager.
//
// Slots are the manager's: "cpu" (a count of cores, fractional allowed down
// to 0.001) and "mem" (bytes). Amounts travel as decimal strings, as the
// manager sends its Decimals. The reported capacity is the scanned one less
// the reserved amounts ([resource] reserved-cpu, reserved-mem), with memory
// rounded down to memory-align-size; an allocation never goes beyond it.
//
// CPU cores are chosen EVENLY: every core holds overcommit units (1 by
// default), and a request of n cores takes one unit at a time from the cores
// with the most room left, so that kernels spread over the node; a
// fractional request puts its last fraction on one more core, so a kernel's
// cpuset has ceil(n) cores (fewer only when n exceeds the core count under
// overcommit). Memory is FILLed from a single device, "root". Allocation is
// all-or-nothing: when any slot falls short nothing changes.
//
// Restore rebuilds the maps from the kernels found at startup, as upstream's
// reconstruct_resource_usage does.
package alloc
