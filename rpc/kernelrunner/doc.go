// Package kernelrunner is the agent's side of the kernel runner protocol:
// the client that drives `ai.backend.kernel` (the krunner) inside a
// kernel's container, as upstream's AbstractCodeRunner
// (ai/backend/agent/kernel.py) does.
//
// # Wire
//
// The krunner binds a PULL socket (replin, port 2000) and a PUSH socket
// (replout, port 2001). The agent connects a PUSH to the first and a PULL
// to the second. Every message is two frames, [type, payload]; the agent
// drops anything else.
//
// # Runs
//
// The krunner's output carries no run id: whatever it sends belongs to the
// run in progress. So, as upstream, runs go one at a time. A run becomes
// current when its first Execute attaches (or, if another run is current,
// when that one ends) and stays current until a `finished` or an
// `exec-timeout` result ends it. In between, several Execute calls may
// collect its output: one that returns `continued` (flush timeout),
// `waiting-input`, `clean-finished` or `build-finished` leaves the run
// current, and what the krunner sends meanwhile is queued for the next
// call (up to Options.MaxQueuedRecords records, the oldest dropped first).
// Output that arrives while no run is current is dropped, as upstream
// drops it.
//
// # Concurrency
//
// A Client is safe for concurrent use. One goroutine owns the PULL socket
// (and the inproc socket that wakes it for Close) and dispatches what it
// reads; sends go through the PUSH socket under a mutex, so no ZeroMQ
// socket is used by two goroutines at once.
package kernelrunner
