package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/baiagent/agent/runtime/spec"
)

// ExecRequest is an extra process to run in a running kernel.
type ExecRequest struct {
	Args           []string
	Env            []string // default: the kernel's environment
	Cwd            string   // default: /home/work
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Exec runs a process in a running kernel with its own stdio and returns
// its exit code (128+n when killed by signal n).
func (m *Manager) Exec(ctx context.Context, id string, req ExecRequest) (int, error) {
	k, err := m.lookup(id)
	if err != nil {
		return -1, err
	}
	k.mu.Lock()
	c, running, env := k.c, k.state.Status == StatusRunning, k.state.Env
	k.mu.Unlock()
	if c == nil || !running {
		return -1, fmt.Errorf("exec in kernel %s: %w: not running", id, ErrFailedPrecondition)
	}
	if len(req.Args) == 0 {
		return -1, fmt.Errorf("exec in kernel %s: %w: no command", id, ErrInvalidArgument)
	}
	if req.Env == nil {
		req.Env = env
	}
	if req.Cwd == "" {
		req.Cwd = "/home/work"
	}
	p := &libcontainer.Process{Args: req.Args, Env: req.Env, Cwd: req.Cwd, Stdin: req.Stdin, Stdout: req.Stdout, Stderr: req.Stderr, ExtraFiles: m.extraFiles()}
	if err := c.Run(p); err != nil {
		return -1, fmt.Errorf("exec in kernel %s: %w", id, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Signal(os.Kill)
		case <-done:
		}
	}()
	ps, err := p.Wait()
	close(done)
	if ps == nil {
		return -1, fmt.Errorf("exec in kernel %s: %w", id, err)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}

// Restart stops the kernel's processes and starts its command again in a
// fresh container, keeping its scratch, rootfs upper layer and allocation.
func (m *Manager) Restart(ctx context.Context, id string, grace time.Duration) error {
	k, err := m.lookup(id)
	if err != nil {
		return err
	}
	if grace <= 0 {
		grace = m.o.StopTimeout
	}
	m.stop(ctx, k, grace)
	k.mu.Lock()
	c := k.c
	k.mu.Unlock()
	if c == nil {
		return fmt.Errorf("restart kernel %s: %w: no container", id, ErrFailedPrecondition)
	}
	cfg := c.Config()
	if err := destroyContainer(c); err != nil {
		return fmt.Errorf("restart kernel %s: %w", id, err)
	}
	statusDir := m.kdataDir(id) + "/status"
	for _, f := range []string{"started.json", "exit.json"} {
		_ = removeIfExists(statusDir + "/" + f)
	}
	nc, err := libcontainer.Create(m.lcRoot, id, &cfg)
	if err != nil {
		return fmt.Errorf("restart kernel %s: %w", id, err)
	}
	logf, err := os.OpenFile(m.logPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		_ = destroyContainer(nc)
		return fmt.Errorf("restart kernel %s: %w", id, err)
	}
	defer logf.Close()
	sp, err := newStartPipe()
	if err != nil {
		_ = destroyContainer(nc)
		return fmt.Errorf("restart kernel %s: %w", id, err)
	}
	defer sp.close()
	k.mu.Lock()
	st := k.state
	proc := &libcontainer.Process{Args: withNotifyFD(st.Args), Env: st.Env, Cwd: "/home/work", Stdout: logf, Stderr: logf, Init: true, ExtraFiles: m.extraFiles(sp.w)}
	k.mu.Unlock()
	if err := nc.Run(proc); err != nil {
		_ = destroyContainer(nc)
		return fmt.Errorf("restart kernel %s: %w", id, err)
	}
	if _, err := sp.wait(ctx, statusDir); err != nil {
		_ = destroyContainer(nc)
		return fmt.Errorf("restart kernel %s: %w", id, err)
	}
	ls, _ := nc.State()
	k.mu.Lock()
	k.c, k.proc, k.done, k.stopping = nc, proc, make(chan struct{}), false
	k.state.Status, k.state.Exit, k.state.Started = StatusRunning, nil, time.Now().UTC()
	if ls != nil {
		k.state.InitPID = ls.InitProcessPid
	}
	stCopy := *k.state
	k.mu.Unlock()
	if err := m.states.save(&stCopy); err != nil {
		return err
	}
	go m.watch(k)
	m.events.send(Event{KernelID: id, Type: EventStarted})
	return nil
}

// withNotifyFD returns args, the kernel init's command line, with
// --notify-fd added when a kernel created by an older agent lacks it.
func withNotifyFD(args []string) []string {
	if len(args) == 0 || args[0] != spec.InitTarget || slices.Contains(args, "--notify-fd") {
		return args
	}
	return slices.Concat(args[:1], []string{"--notify-fd", strconv.Itoa(spec.NotifyFD)}, args[1:])
}
