//go:build !slimrun

package main

import (
	"context"
	"fmt"
	"io"
)

// buildVariant names this build of the agent in `run`'s debug log.
const buildVariant = "full"

const usage = `usage: backendai-agent <command> [flags]

commands:
  server          run the agent service
  config check    validate agent.toml and print ok or every problem
  config show     print the effective configuration (secrets redacted)
  image           pull, import, list, inspect and remove images
  run             run a command in a kernel, stream its output, exit with its code
  ctl             call a running agent's RPC as the manager does (ping, create, list, ...)
  watcher         run the agent watcher service (not implemented yet)
  version         print the version

Every command takes -f FILE; without it agent.toml is searched in
$BACKEND_CONFIG_FILE, ./agent.toml, ~/.config/backend.ai/agent.toml and
/etc/backend.ai/agent.toml.
`

// run dispatches a command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "server":
		return runServer(ctx, args[1:], stdout, stderr)
	case "config":
		return runConfig(args[1:], stdout, stderr)
	case "image":
		return runImage(ctx, args[1:], stdout, stderr)
	case "run":
		return runKernel(ctx, args[1:], stdout, stderr)
	case "ctl":
		return runCtl(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "backendai-agent %s\n", versionString())
		return exitOK
	case "watcher":
		fs := newFlagSet("watcher", stderr)
		if err := fs.parse(args[1:]); err != nil {
			return exitUsage
		}
		fmt.Fprintln(stderr, "backendai-agent watcher: not implemented yet")
		return exitUsage
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "backendai-agent: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
