//go:build slimrun

package main

import (
	"context"
	"fmt"
	"io"
)

// This build is backendai-agent-run: `backendai-agent run` alone, without
// the server's dependencies (etcd and gRPC clients, protobuf registries,
// Prometheus handlers, registry clients), whose package initializers cost
// a one-shot `run` ~20 ms at every start. backendai-agent hands its `run`
// over to it when it lies next to it (see runhelper_linux.go).

// buildVariant names this build of the agent in `run`'s debug log.
const buildVariant = "slimrun"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "run":
			return runKernel(ctx, args[1:], stdout, stderr)
		case "version", "--version", "-version":
			fmt.Fprintf(stdout, "backendai-agent-run %s\n", versionString())
			return exitOK
		}
	}
	fmt.Fprintln(stderr, "backendai-agent-run: `backendai-agent run`'s helper; every other command is backendai-agent's")
	return exitUsage
}
