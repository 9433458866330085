package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/rpc/kernelrunner"
	"github.com/baiagent/agent/runtime"
)

// runnerReadyTimeout bounds the wait for a new kernel's runner to answer
// (spec 6.8) before kernel_started.
const runnerReadyTimeout = 60 * time.Second

// runnerFor returns the kernel's runner client, dialing it on first use.
func (s *Service) runnerFor(ctx context.Context, id string) (*kernelrunner.Client, error) {
	s.mu.Lock()
	c, ok := s.runners[id]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	host, in, out, err := s.o.Kernels.RunnerAddr(id)
	if err != nil {
		return nil, err
	}
	c, err = kernelrunner.Dial(ctx, kernelrunner.Options{Host: host, ReplIn: in, ReplOut: out, Log: s.log.With("kernel_id", id)})
	if err != nil {
		return nil, fmt.Errorf("connect to the runner of kernel %s: %w", id, err)
	}
	s.mu.Lock()
	if prev, ok := s.runners[id]; ok { // dialed concurrently: keep one
		s.mu.Unlock()
		_ = c.Close()
		return prev, nil
	}
	s.runners[id] = c
	s.mu.Unlock()
	return c, nil
}

// dropRunner closes a kernel's runner client (the kernel is going).
func (s *Service) dropRunner(id string) {
	s.mu.Lock()
	c, ok := s.runners[id]
	delete(s.runners, id)
	s.mu.Unlock()
	if ok {
		_ = c.Close()
	}
}

// waitRunner waits until a new kernel's runner answers.
func (s *Service) waitRunner(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, runnerReadyTimeout)
	defer cancel()
	c, err := s.runnerFor(ctx, id)
	if err != nil {
		return err
	}
	// Upstream's probe: status answered, then get-apps answered "done"
	// (the service definitions readable); a failed apps reply is tried
	// again, as upstream does.
	for {
		if _, err := c.WaitReady(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("kernel %s: runner not ready: %w", id, err)
		}
		apps, err := c.GetApps(ctx, "")
		if err == nil && apps["status"] == "done" {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("kernel %s: runner not ready: get-apps: %v, %w", id, apps["error"], ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// execute is execute(session_id, kernel_id, api_version, run_id, mode,
// code, opts, flush_timeout), with the execution_* events. An
// exec-timeout also destroys the kernel, as upstream.
func (s *Service) execute(ctx context.Context, c codec.Call) (any, error) {
	sessionID, err := sessionArg(c)
	if err != nil {
		return nil, err
	}
	id, err := c.String(1, "kernel_id")
	if err != nil {
		return nil, err
	}
	api := int64(2)
	if c.Has(2, "api_version") {
		if api, err = c.Int(2, "api_version"); err != nil {
			return nil, err
		}
	}
	runID, err := c.String(3, "run_id")
	if err != nil {
		return nil, err
	}
	mode, err := c.String(4, "mode")
	if err != nil {
		return nil, err
	}
	code := ""
	if c.Has(5, "code") {
		if code, err = c.String(5, "code"); err != nil {
			return nil, err
		}
	}
	opts, err := optsArg(c, 6)
	if err != nil {
		return nil, err
	}
	flush := 2.0
	if c.Has(7, "flush_timeout") {
		if flush, err = c.Float(7, "flush_timeout"); err != nil {
			return nil, err
		}
	}
	rc, err := s.runnerFor(ctx, id)
	if err != nil {
		return nil, err
	}
	s.publish(ctx, events.ExecutionStarted(sessionID))
	res, err := rc.Execute(ctx, runID, mode, code, opts, time.Duration(flush*float64(time.Second)), int(api))
	if err != nil {
		return nil, err
	}
	switch res.Status {
	case kernelrunner.StatusExecTimeout:
		s.publish(ctx, events.ExecutionTimeout(sessionID))
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.destroyWithReason(context.WithoutCancel(ctx), id, sessionID, events.ReasonExecTimeout)
		}()
	case kernelrunner.StatusFinished:
		s.publish(ctx, events.ExecutionFinished(sessionID))
	}
	return res.AsDict(int(api)), nil
}

// destroyWithReason cleans a kernel and reports it terminated.
func (s *Service) destroyWithReason(ctx context.Context, id string, sessionID codec.UUID, reason events.KernelReason) {
	exit, err := s.clean(ctx, id, s.o.StopTimeout)
	if err != nil {
		s.log.Error("kernel not destroyed", "kernel_id", id, "reason", reason, "err", err)
		return
	}
	if kid, err := codec.ParseUUID(id); err == nil {
		s.publish(ctx, events.KernelTerminated(kid, sessionID, reason, exit.Code))
	}
}

// triggerBatchExecution is trigger_batch_execution(session_id, kernel_id,
// code, timeout_seconds): the batch job runs in the background and its
// result goes out as session_success or session_failure.
func (s *Service) triggerBatchExecution(ctx context.Context, c codec.Call) (any, error) {
	sessionID, err := sessionArg(c)
	if err != nil {
		return nil, err
	}
	id, err := c.String(1, "kernel_id")
	if err != nil {
		return nil, err
	}
	code, err := c.String(2, "code")
	if err != nil {
		return nil, err
	}
	var timeout time.Duration
	if c.Has(3, "timeout") || c.Has(3, "timeout_seconds") {
		name := "timeout"
		if c.Has(3, "timeout_seconds") {
			name = "timeout_seconds"
		}
		secs, err := c.Float(3, name)
		if err != nil {
			return nil, err
		}
		timeout = time.Duration(secs * float64(time.Second))
	}
	rc, err := s.runnerFor(ctx, id)
	if err != nil {
		return nil, err
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		bctx := context.WithoutCancel(ctx)
		if timeout > 0 {
			var cancel context.CancelFunc
			bctx, cancel = context.WithTimeout(bctx, timeout)
			defer cancel()
		}
		out, err := rc.RunBatch(bctx, code)
		if err != nil {
			s.log.Warn("batch job failed to run", "kernel_id", id, "err", err)
			s.publish(ctx, events.SessionFailure(sessionID, events.ReasonTaskFailed, -1))
			return
		}
		reason := events.KernelReason(out.Reason)
		if reason == events.ReasonTaskFinished && out.ExitCode == 0 {
			s.publish(ctx, events.SessionSuccess(sessionID, reason, out.ExitCode))
			return
		}
		s.publish(ctx, events.SessionFailure(sessionID, reason, out.ExitCode))
	}()
	return nil, nil
}

// callRunner is the runner of the call's first argument, kernel_id.
func (s *Service) callRunner(ctx context.Context, c codec.Call) (*kernelrunner.Client, error) {
	id, err := c.String(0, "kernel_id")
	if err != nil {
		return nil, err
	}
	return s.runnerFor(ctx, id)
}

func (s *Service) interruptKernel(ctx context.Context, c codec.Call) (any, error) {
	rc, err := s.callRunner(ctx, c)
	if err != nil {
		return nil, err
	}
	return rc.Interrupt(ctx)
}

func (s *Service) getCompletions(ctx context.Context, c codec.Call) (any, error) {
	text, err := c.String(1, "text")
	if err != nil {
		return nil, err
	}
	opts, err := optsArg(c, 2)
	if err != nil {
		return nil, err
	}
	rc, err := s.callRunner(ctx, c)
	if err != nil {
		return nil, err
	}
	res, err := rc.Complete(ctx, text, opts)
	if err != nil {
		return nil, err
	}
	return map[string]any{"result": res}, nil
}

func (s *Service) startService(ctx context.Context, c codec.Call) (any, error) {
	name, err := c.String(1, "service")
	if err != nil {
		return nil, err
	}
	opts, err := optsArg(c, 2)
	if err != nil {
		return nil, err
	}
	rc, err := s.callRunner(ctx, c)
	if err != nil {
		return nil, err
	}
	id, _ := c.String(0, "kernel_id")
	st, err := s.o.Kernels.Get(id)
	if err != nil {
		return nil, err
	}
	// The runner learns the service's ports from the kernel's service
	// ports, as upstream's agent sends them; a name that is not one of
	// them fails as upstream's does, with a result, not an error.
	for _, sp := range kernelServices(st) {
		if sp.name != name {
			continue
		}
		ports := make([]any, len(sp.ports))
		for i, p := range sp.ports {
			ports[i] = p
		}
		return rc.StartService(ctx, name, map[string]any{"port": sp.ports[0], "ports": ports, "protocol": sp.protocol, "options": opts})
	}
	return map[string]any{"status": "failed", "error": "invalid service name"}, nil
}

func (s *Service) shutdownService(ctx context.Context, c codec.Call) (any, error) {
	name, err := c.String(1, "service")
	if err != nil {
		return nil, err
	}
	rc, err := s.callRunner(ctx, c)
	if err != nil {
		return nil, err
	}
	return nil, rc.ShutdownService(ctx, name)
}

func (s *Service) pingKernel(ctx context.Context, c codec.Call) (any, error) {
	rc, err := s.callRunner(ctx, c)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	at, err := rc.Status(ctx)
	if err != nil {
		return nil, nil // upstream answers None when the runner is silent
	}
	return map[string]any{"started_at": at}, nil
}

// listFiles is list_files(kernel_id, path): the entries of a directory
// of the kernel's work dir, read on the host (confined to it), in
// upstream's shape: files as a JSON string.
func (s *Service) listFiles(_ context.Context, c codec.Call) (any, error) {
	p := "."
	if c.Has(1, "path") {
		var err error
		if p, err = c.String(1, "path"); err != nil {
			return nil, err
		}
	}
	rel, err := inWork(p)
	if err != nil {
		return nil, err
	}
	root, _, err := s.openWork(c)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), rel)
	if err != nil {
		return nil, confined(err)
	}
	files := []map[string]any{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		mt := float64(info.ModTime().UnixNano()) / 1e9
		files = append(files, map[string]any{
			"mode": os.FileMode(info.Mode()).String(), "size": info.Size(),
			"ctime": mt, "mtime": mt, "atime": mt, "filename": e.Name(),
		})
	}
	b, _ := json.Marshal(files)
	abs := "/home/work"
	if rel != "." {
		abs += "/" + rel
	}
	return map[string]any{"files": string(b), "errors": "", "abspath": abs}, nil
}

// useRunner says whether a kernel runs the in-container runner: where the
// agent has one and can reach it, except for an interactive session that
// gives its own startup command (which then is the kernel's command).
func (s *Service) useRunner(kc kernelConfig) bool {
	return s.o.Runner && kc.req.Network != runtime.NetNone && (kc.startup == "" || kc.batch)
}
