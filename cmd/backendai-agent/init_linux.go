package main

import (
	"os"
	goruntime "runtime"

	"github.com/opencontainers/runc/libcontainer"
	// The nsenter constructor runs in C before the Go runtime starts, in the
	// re-exec'd "init" child that joins a kernel's namespaces.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"

	// Its C constructor execs backendai-container-init in the re-exec,
	// before nsenter's and before any of this.
	_ "github.com/baiagent/agent/runtime/reexec"
)

// init is the libcontainer re-exec dispatch: libcontainer starts a kernel by
// running this same binary as "<exe> init" with its handshake pipes in the
// environment. That child must turn into the container's init before
// anything else happens, so this is the one init() with a side effect in
// the project (see docs/ARCHITECTURE.md). Init never returns.
func init() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		libcontainer.Init()
	}
	// The main goroutine keeps the main thread. libcontainer joins a
	// container's mount namespace on a locked thread that it then lets die;
	// the main thread cannot die, so were it picked, the process's
	// /proc/self views would show the container's mounts from then on.
	goruntime.LockOSThread()
}
