package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"time"
)

// Runtime types (the image's ai.backend.runtime-type label, reduced to
// what the runner distinguishes).
const (
	// RuntimePython keeps one Python interpreter per kernel for query mode.
	RuntimePython = "python"
	// RuntimeApp runs each query-mode cell through `sh -c`.
	RuntimeApp = "app"
)

// Defaults of Config.
const (
	DefaultReplInPort          = 2000
	DefaultReplOutPort         = 2001
	DefaultWorkDir             = "/home/work"
	DefaultPortsFile           = "/home/config/intrinsic-ports.json"
	DefaultEnvironFile         = "/home/config/environ.txt"
	DefaultServiceDefsDir      = "/etc/backend.ai/service-defs"
	DefaultServiceStartTimeout = 30 * time.Second
	DefaultServiceStopGrace    = 2 * time.Second
	DefaultMaxRecordBytes      = 10 << 20
	DefaultOutboxBytes         = 64 << 20
	DefaultLinger              = 500 * time.Millisecond
)

// Config configures a Server. The zero value of every field but Log means
// its default.
type Config struct {
	// BindHost is the address the two sockets bind; "" or "*" is every
	// interface, as upstream binds (the agent reaches them through
	// published ports or the host network).
	BindHost string
	// ReplInPort (PULL, agent → runner) and ReplOutPort (PUSH, runner →
	// agent). 0 means the defaults 2000 and 2001; -1 binds a free port
	// (tests; Server.Addrs says which).
	ReplInPort, ReplOutPort int
	// RuntimeType is RuntimePython, RuntimeApp or "" (python when python3 is
	// in PATH, else app).
	RuntimeType string
	// Python is the interpreter for RuntimePython; "" looks up python3.
	Python string
	// WorkDir is the working directory of cells, batch steps and services.
	WorkDir string
	// Shell runs query cells of RuntimeApp and batch steps; "" is /bin/sh.
	Shell string
	// Env is the environment the children start from; nil is os.Environ().
	// BuildChildEnv's adjustments are applied on top.
	Env []string
	// EnvironFile holds KEY=VALUE lines added to the children's environment
	// (the agent's environ.txt); "" skips it, a missing file is fine.
	EnvironFile string
	// ServiceDefsDir holds <name>.json service definitions.
	ServiceDefsDir string
	// ServiceStartTimeout bounds the wait for a started service's port.
	ServiceStartTimeout time.Duration
	// ServiceStopGrace is the time between SIGTERM and SIGKILL.
	ServiceStopGrace time.Duration
	// ServiceOutput receives the services' stdout and stderr; nil is the
	// runner's stderr (the container's log), as upstream does.
	ServiceOutput io.Writer
	// MaxRecordBytes caps the payload of one outgoing stdout/stderr message.
	MaxRecordBytes int
	// OutboxBytes bounds the messages queued for the agent; past it, the
	// oldest output records are dropped.
	OutboxBytes int
	// Linger is how long Close waits for queued messages to go out.
	Linger time.Duration
	// Log receives the runner's own lines; nil discards them.
	Log *slog.Logger
}

// withDefaults fills in the zero fields and resolves the runtime type.
func (c Config) withDefaults() (Config, error) {
	if c.BindHost == "" {
		c.BindHost = "*"
	}
	if c.ReplInPort == 0 {
		c.ReplInPort = DefaultReplInPort
	}
	if c.ReplOutPort == 0 {
		c.ReplOutPort = DefaultReplOutPort
	}
	if c.WorkDir == "" {
		c.WorkDir = DefaultWorkDir
	}
	if c.Shell == "" {
		c.Shell = "/bin/sh"
	}
	if c.Env == nil {
		c.Env = os.Environ()
	}
	if c.ServiceDefsDir == "" {
		c.ServiceDefsDir = DefaultServiceDefsDir
	}
	if c.ServiceStartTimeout <= 0 {
		c.ServiceStartTimeout = DefaultServiceStartTimeout
	}
	if c.ServiceStopGrace <= 0 {
		c.ServiceStopGrace = DefaultServiceStopGrace
	}
	if c.ServiceOutput == nil {
		c.ServiceOutput = os.Stderr
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.OutboxBytes <= 0 {
		c.OutboxBytes = DefaultOutboxBytes
	}
	// One whole record must fit, or the cap on records would drop it all.
	c.OutboxBytes = max(c.OutboxBytes, c.MaxRecordBytes)
	if c.Linger <= 0 {
		c.Linger = DefaultLinger
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	switch c.RuntimeType {
	case RuntimePython, RuntimeApp:
	case "":
		c.RuntimeType = RuntimeApp
		if _, err := exec.LookPath(pythonName(c.Python)); err == nil {
			c.RuntimeType = RuntimePython
		}
	default:
		return c, fmt.Errorf("runner: unknown runtime type %q (want %q or %q)", c.RuntimeType, RuntimePython, RuntimeApp)
	}
	if c.RuntimeType == RuntimePython {
		p, err := exec.LookPath(pythonName(c.Python))
		if err != nil {
			return c, fmt.Errorf("runner: runtime type python: %w", err)
		}
		c.Python = p
	}
	return c, nil
}

func pythonName(p string) string {
	if p == "" {
		return "python3"
	}
	return p
}

// IntrinsicPorts is /home/config/intrinsic-ports.json, which the agent
// writes for host-network kernels, where the fixed ports would collide.
type IntrinsicPorts struct {
	ReplIn  int `json:"replin"`
	ReplOut int `json:"replout"`
	SSHD    int `json:"sshd"`
	TTYD    int `json:"ttyd"`
}

// LoadIntrinsicPorts reads the ports file. A missing file is not an error:
// it yields the zero value (bridge-network kernels have none).
func LoadIntrinsicPorts(path string) (IntrinsicPorts, error) {
	var p IntrinsicPorts
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("runner: read intrinsic ports: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("runner: parse intrinsic ports %s: %w", path, err)
	}
	return p, nil
}
