// Package agent is the agent's side of the manager's protocol above the
// transport: it dispatches Callosum calls (spec 4.4) to the runtime, the
// image store and the port pool, turns the runtime's lifecycle into the
// manager's kernel events, and reports the node to Redis (heartbeat,
// stats, presence, installed images, container logs).
//
// # Calls
//
// [Service.Handle] is a callosum.Handler. Arguments are taken by position
// or by keyword, as the manager passes them; a wrong argument is a FAILURE
// named TypeError, never a crash. Errors become FAILUREs with the Python
// exception names the manager knows (InsufficientResource,
// ImageNotAvailable, KernelNotFound, ...), and each also emits an
// agent_error event, as upstream's collect_error does. Unknown methods
// are an ERROR.
//
// # Kernel events
//
// create_kernels emits kernel_preparing, kernel_pulling (only when the
// image is pulled), kernel_creating and kernel_started with the creation
// info; destroy_kernel emits kernel_terminated with the manager's reason
// after the kernel's resources are released and its log pushed to Redis.
// A kernel whose main process ends by itself is cleaned up the same way
// and reported as self-terminated with its exit code.
package agent
