package runtime

import (
	"fmt"

	"github.com/baiagent/agent/runtime/spec"
)

// The in-container kernel runner's REPL ports (spec 12): the agent PUSHes
// to replin and PULLs from replout.
const (
	ReplInPort  = 2000
	ReplOutPort = 2001
)

// Runner asks for the in-container kernel runner as the kernel's command
// (started by the init), serving the runner protocol for execute, batch
// jobs and services.
type Runner struct {
	// RuntimeType is the image's ai.backend.runtime-type: "python" keeps
	// one interpreter for query mode, "app" (or anything else) runs code
	// through sh; "" lets the runner decide.
	RuntimeType string
}

// runnerArgs is the kernel's command when it runs the runner.
func runnerArgs(r *Runner) []string {
	args := []string{spec.RunnerTarget, "--setup-user"}
	if r.RuntimeType != "" {
		args = append(args, "--runtime-type", r.RuntimeType)
	}
	return args
}

// prepareRunner checks that a runner kernel can be reached and adds the
// REPL ports to publish on 127.0.0.1 (bridge mode; host mode takes them
// from the pool as intrinsic ports).
func (m *Manager) prepareRunner(req *CreateRequest) error {
	if req.Runner == nil {
		return nil
	}
	if m.o.RunnerBinary == "" {
		return fmt.Errorf("kernel runner: %w: this agent has no backendai-krunner", ErrInvalidArgument)
	}
	switch req.Network {
	case NetBridge:
		req.Publish = append(req.Publish, Publish{ContainerPort: ReplInPort, Loopback: true}, Publish{ContainerPort: ReplOutPort, Loopback: true})
	case NetHost:
	default:
		return fmt.Errorf("kernel runner: %w: the agent reaches the runner over the network, so it needs bridge or host networking, not %q", ErrInvalidArgument, req.Network)
	}
	req.Args = runnerArgs(req.Runner)
	return nil
}

// RunnerAddr is where the agent reaches a kernel's runner: host and the
// host ports of replin and replout.
func (m *Manager) RunnerAddr(id string) (host string, replIn, replOut int, err error) {
	st, err := m.Get(id)
	if err != nil {
		return "", 0, 0, err
	}
	switch st.Net.Mode {
	case NetHost:
		if len(st.Net.HostPorts) >= 2 { // replin, replout first (intrinsicPorts)
			return "127.0.0.1", st.Net.HostPorts[0], st.Net.HostPorts[1], nil
		}
	case NetBridge:
		for _, b := range st.Net.Bindings {
			switch b.ContainerPort {
			case ReplInPort:
				host, replIn = b.HostIP, b.HostPort
			case ReplOutPort:
				replOut = b.HostPort
			}
		}
		if replIn != 0 && replOut != 0 {
			return host, replIn, replOut, nil
		}
	}
	return "", 0, 0, fmt.Errorf("kernel %s: %w: no runner ports", id, ErrFailedPrecondition)
}

// runnerPath is the runner binary to bind into a kernel: only for kernels
// that run it.
func runnerPath(r *Runner, bin string) string {
	if r == nil {
		return ""
	}
	return bin
}
