// Package runtime runs Backend.AI kernels as containers through runc's
// libcontainer: it builds the container configuration from a kernel's
// creation config, assembles the rootfs, starts, stops and recovers kernels,
// and keeps their state on disk so that they survive an agent restart.
//
// It imports the leaf packages cgroup, netns and gpu, and nothing above
// them. Its name shadows the standard library's runtime: files that need
// both import the standard one as goruntime.
package runtime
