// Package configs is the schema of the Backend.AI agent's agent.toml: the
// sections and keys of upstream's agent configuration, their defaults,
// discovery of the file, the legacy BACKEND_* environment overrides,
// validation, and rendering of the effective configuration.
//
// Parse reports every problem of a file at once, each with its position
// (file:line:col) or the environment variable it came from, and warns about
// keys that upstream knows but this agent accepts without acting on them.
//
// The package is a leaf: it imports no other package of this module.
package configs
