// Package scratch manages a kernel's scratch directory on the host,
// <scratch-root>/<kernel id>/, and the files the agent writes in it for
// the kernel runner.
//
// Layout (spec 6.3):
//
//	<root>/<kid>/config/   bind-mounted read-only at /home/config:
//	                       environ.txt, resource.txt, their _base copies, ...
//	<root>/<kid>/work/     bind-mounted read-write at /home/work
//	<root>/<kid>.img       the ext4 image of a hostfile scratch
//
// A scratch is a plain directory (hostdir), a size-limited tmpfs (memory)
// or a loop-mounted sparse ext4 image (hostfile); the last two need root.
// Create undoes all it did when a step fails; Remove is idempotent and
// also cleans up what a crashed agent left (mounts, bound loop devices).
//
// resource.txt and environ.txt are written in upstream's formats,
// atomically; ParseResourceSpec reads resource.txt back for recovery.
package scratch
