package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// subprocess is a batch step or an app-runtime cell: a child in a process
// group of its own whose stdout and stderr go to the agent.
type subprocess struct {
	cmd    *exec.Cmd
	stdout *pump
	stderr *pump

	stdin     *os.File    // nil when the child reads /dev/null
	inputs    chan string // lines for stdin, written in order by writeInputs
	stdinDone chan struct{}
	stdinOnce sync.Once
}

// maxQueuedInputs bounds the lines waiting for a child that does not read.
const maxQueuedInputs = 16

// procSpec says what to start.
type procSpec struct {
	argv        []string
	dir         string
	env         []string
	interactive bool // stdin is a pipe that `input` writes to
}

// startSubprocess starts spec with its output pumped into out.
func startSubprocess(spec procSpec, out *outbox) (*subprocess, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runner: pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(outR, outW)
		return nil, fmt.Errorf("runner: pipe: %w", err)
	}
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var inR, inW *os.File
	if spec.interactive {
		if inR, inW, err = os.Pipe(); err != nil {
			closeAll(outR, outW, errR, errW)
			return nil, fmt.Errorf("runner: pipe: %w", err)
		}
		cmd.Stdin = inR
	}
	err = cmd.Start()
	closeAll(outW, errW, inR) // the child holds its own copies
	if err != nil {
		closeAll(outR, errR, inW)
		return nil, fmt.Errorf("runner: start %s: %w", spec.argv[0], err)
	}
	p := &subprocess{
		cmd:       cmd,
		stdout:    newPump(outR, "stdout", out),
		stderr:    newPump(errR, "stderr", out),
		stdin:     inW,
		inputs:    make(chan string, maxQueuedInputs),
		stdinDone: make(chan struct{}),
	}
	if inW != nil {
		go p.writeInputs()
	}
	return p, nil
}

// writeInputs writes the queued lines until stdin is closed; a blocked
// write returns then, since pipes are in Go's poller.
func (p *subprocess) writeInputs() {
	for {
		select {
		case <-p.stdinDone:
			return
		case t := <-p.inputs:
			if _, err := p.stdin.WriteString(t); err != nil {
				return
			}
		}
	}
}

// wait waits for the child, then for its output, and returns its exit
// code. It does not wait for the child's background processes: whatever
// they write later is lost.
func (p *subprocess) wait() int {
	err := p.cmd.Wait()
	p.stdout.stop()
	p.stderr.stop()
	p.closeStdin()
	return exitCode(p.cmd.ProcessState, err)
}

func (p *subprocess) closeStdin() {
	p.stdinOnce.Do(func() {
		close(p.stdinDone)
		if p.stdin != nil {
			_ = p.stdin.Close()
		}
	})
}

// Interrupt sends SIGINT to the child's process group, as ^C would.
func (p *subprocess) Interrupt() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
}

// Input queues a line for the child's stdin, when it has a pipe there
// (best effort: a child that does not read must not stall the command
// loop, so lines past maxQueuedInputs are dropped).
func (p *subprocess) Input(text string) {
	if p.stdin == nil {
		return
	}
	if len(text) == 0 || text[len(text)-1] != '\n' {
		text += "\n"
	}
	select {
	case p.inputs <- text:
	default:
	}
}

// kill ends the child's whole process group.
func (p *subprocess) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// exitCode maps how a child ended to an exitCode: its status, 128+n when
// signal n killed it (as a shell reports it), -1 when it could not be
// waited for.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return 1
	}
	return -1
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close()
		}
	}
}
