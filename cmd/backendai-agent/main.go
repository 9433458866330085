// Command backendai-agent is a Docker-free Backend.AI compute agent: it
// takes the manager's RPC calls and runs kernels itself through runc's
// libcontainer.
//
// Usage:
//
//	backendai-agent server  [-f agent.toml] [--debug] [--log-level LEVEL]
//	backendai-agent config check [-f agent.toml]
//	backendai-agent config show  [-f agent.toml]
//	backendai-agent image pull|import|list|inspect|rm|gc ...
//	backendai-agent run [--cpu N] [--mem SIZE] [--scratch TYPE] IMAGE -- CMD ARGS...
//	backendai-agent ctl [--addr tcp://HOST:PORT] ping|create|list|logs|destroy|hwinfo|call ...
//	backendai-agent version
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)
