// Package logging builds the agent's *slog.Logger from the [logging] section
// of agent.toml: a console driver (simple, verbose or json; colored on a
// TTY), a file driver with size-based rotation, and per-component levels
// mapped from upstream's `pkg-ns` table.
//
// Every log line carries a `component` attribute set by the logger's owner
// (logger.With("component", "rpc")); the component decides the level that
// applies to it. The package never touches slog's default logger: the
// caller decides what to do with the logger it gets.
package logging
