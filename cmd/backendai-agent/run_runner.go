package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/baiagent/agent/rpc/kernelrunner"
	"github.com/baiagent/agent/runtime"
)

// runnerFlush is how long one Execute collects output before `run`
// prints it and asks for more: short, so output streams.
const runnerFlush = 50 * time.Millisecond

// runThroughRunner runs argv in a runner kernel as the manager runs a
// batch session's command: it waits for the runner's readiness, sends the
// command as a batch exec step, prints its output as it comes and returns
// its exit code. ctx's end (^C) interrupts the command first.
func runThroughRunner(ctx context.Context, m *runtime.Manager, id string, argv []string, stdout, stderr io.Writer, log *slog.Logger) int {
	host, in, out, err := m.RunnerAddr(id)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
		return exitFailure
	}
	wctx := context.WithoutCancel(ctx)
	c, err := kernelrunner.Dial(wctx, kernelrunner.Options{Host: host, ReplIn: in, ReplOut: out, Log: log.With("kernel_id", id)})
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
		return exitFailure
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = c.WaitReady(rctx, 50*time.Millisecond)
	cancel()
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: the kernel runner did not answer: %v\n", err)
		return exitFailure
	}
	mode, opts := kernelrunner.ModeBatch, map[string]any{"exec": shellJoin(argv)}
	interrupted := false
	for {
		if ctx.Err() != nil && !interrupted {
			interrupted = true
			ictx, cancel := context.WithTimeout(wctx, 5*time.Second)
			_, _ = c.Interrupt(ictx)
			cancel()
		}
		res, err := c.Execute(wctx, "run", mode, "", opts, runnerFlush, 2)
		if err != nil {
			fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
			return exitFailure
		}
		for _, item := range res.Console {
			s, _ := item[1].(string)
			switch item[0] {
			case "stdout":
				_, _ = io.WriteString(stdout, s)
			case "stderr":
				_, _ = io.WriteString(stderr, s)
			}
		}
		switch res.Status {
		case kernelrunner.StatusFinished:
			if res.ExitCode == nil {
				return exitFailure
			}
			return *res.ExitCode
		case kernelrunner.StatusExecTimeout:
			fmt.Fprintln(stderr, "backendai-agent run: exec-timeout")
			return exitFailure
		}
		mode, opts = kernelrunner.ModeContinue, nil
	}
}

// shellJoin quotes argv for sh -c, each word in single quotes unless it
// is plainly safe.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
