// Command backendai-container-init is libcontainer's init stage alone: the
// nsenter bootstrap and libcontainer.Init, nothing of the agent.
//
// libcontainer starts a container by running the calling binary again as
// "<exe> init"; for the agent that means starting its whole Go runtime and
// every package initializer of a large binary once per kernel. The agent
// instead passes a sealed copy of this small binary (a memfd, as
// libcontainer seals its own re-exec against CVE-2019-5736) to that child,
// and a C constructor of the agent's, which runs before nsenter's, execs
// it at once (see runtime/reexec). From there on
// this binary does what the agent's re-exec would have done.
//
// It is not meant to be run by hand.
package main

import (
	"fmt"
	"os"
	goruntime "runtime"

	"github.com/opencontainers/runc/libcontainer"
	// The nsenter constructor runs in C before the Go runtime starts.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "init" {
		fmt.Fprintln(os.Stderr, "backendai-container-init: libcontainer's init stage; the agent runs it, not you")
		os.Exit(2)
	}
	goruntime.LockOSThread()
	libcontainer.Init() // does not return
}
