package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// exitCodeNotRun answers `exec` after a failed build, as upstream does
// ("command not found").
const exitCodeNotRun = 127

// exitPayload is the JSON of finished, build-finished and clean-finished.
func exitPayload(code int) []byte {
	b, _ := json.Marshal(struct {
		ExitCode int `json:"exitCode"`
	}{code})
	return b
}

// runTask runs one cell or batch step and sends its terminal message.
func (s *Server) runTask(ctx context.Context, t task) {
	switch t.kind {
	case taskCode:
		var rc int
		if s.py != nil {
			s.setJob(s.py)
			rc = s.py.Run(ctx, t.text)
			s.setJob(nil)
		} else {
			rc = s.runArgv(ctx, []string{s.cfg.Shell, "-c", t.text}, true, s.env)
		}
		s.out.push("finished", exitPayload(rc))
	case taskClean:
		s.out.push("clean-finished", exitPayload(s.batchStep(ctx, t)))
	case taskBuild:
		rc := s.batchStep(ctx, t)
		s.buildFailed = rc != 0
		s.out.push("build-finished", exitPayload(rc))
	case taskExec:
		if s.buildFailed {
			s.buildFailed = false
			s.out.push("finished", exitPayload(exitCodeNotRun))
			return
		}
		s.out.push("finished", exitPayload(s.batchStep(ctx, t)))
	}
}

// batchStep runs a clean, build or exec command: "" skips it, "*" picks a
// command from the work directory (heuristicArgv), anything else runs
// through the shell.
func (s *Server) batchStep(ctx context.Context, t task) int {
	env := s.env
	if t.kind == taskExec {
		env = withEnv(env, "_BACKEND_BATCH_MODE=1")
	}
	switch t.text {
	case "":
		return 0
	case "*":
		argv := s.heuristicArgv(t.kind)
		if argv == nil {
			s.log.Info("batch step skipped: nothing to run", "step", string(t.kind))
			return 0
		}
		return s.runArgv(ctx, argv, false, env)
	default:
		return s.runArgv(ctx, []string{s.cfg.Shell, "-c", t.text}, false, env)
	}
}

// heuristicArgv is what "*" runs: `make` to build when there is a
// Makefile, `python main.py` to execute in the python runtime when there
// is a main.py (upstream's python runner); nil skips the step (clean
// always: upstream's default clean heuristic does nothing).
func (s *Server) heuristicArgv(kind taskKind) []string {
	exists := func(name string) bool {
		st, err := os.Stat(filepath.Join(s.cfg.WorkDir, name))
		return err == nil && st.Mode().IsRegular()
	}
	switch {
	case kind == taskBuild && exists("Makefile"):
		return []string{"make"}
	case kind == taskExec && s.py != nil && exists("main.py"):
		return []string{s.cfg.Python, "main.py"}
	}
	return nil
}

// runArgv runs a child in the work directory with its output going to the
// agent, lets interrupt and input reach it, and returns its exit code.
// When the server stops, the child's group is killed.
func (s *Server) runArgv(ctx context.Context, argv []string, interactive bool, env []string) int {
	p, err := startSubprocess(procSpec{argv: argv, dir: s.cfg.WorkDir, env: env, interactive: interactive}, s.out)
	if err != nil {
		s.log.Warn("cannot start command", "argv0", argv[0], "error", err)
		s.out.pushOutput("stderr", fmt.Appendf(nil, "bai-krunner: %v\n", err))
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return 127
		}
		return 126
	}
	s.setJob(p)
	defer s.setJob(nil)
	done := make(chan int, 1)
	go func() { done <- p.wait() }()
	select {
	case rc := <-done:
		return rc
	case <-ctx.Done():
		p.kill()
		return <-done
	}
}
