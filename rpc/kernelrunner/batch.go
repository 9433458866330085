package kernelrunner

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Batch sessions' fixed parameters (upstream's execute_batch).
const (
	BatchRunID        = "batch-job"
	batchAPIVersion   = 3
	batchFlushTimeout = time.Second
)

// Batch outcome reasons, as session_success / session_failure carry them.
const (
	ReasonTaskFinished = "task-finished"
	ReasonTaskFailed   = "task-failed"
	ReasonTaskTimeout  = "task-timeout"
)

// BatchOutcome is how a batch job ended: session_success when Reason is
// ReasonTaskFinished (exit code 0), session_failure otherwise.
type BatchOutcome struct {
	Reason   string
	ExitCode int
}

// RunBatch runs a batch session's startup command to its end, as
// upstream's execute_batch (trigger_batch_execution): mode "batch" with
// {"exec": command}, then "continue" until `finished`. The output itself
// is not kept (the user reads it from the container's logs). A passed ctx
// deadline (the batch timeout) or the exec watchdog gives
// ReasonTaskTimeout with exit code -2; a missing exit code counts as -1.
// A cancelled ctx or a closed client returns an error: no event is due.
func (c *Client) RunBatch(ctx context.Context, command string) (BatchOutcome, error) {
	mode, opts := ModeBatch, map[string]any{"exec": command}
	for {
		res, err := c.Execute(ctx, BatchRunID, mode, "", opts, batchFlushTimeout, batchAPIVersion)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return BatchOutcome{Reason: ReasonTaskTimeout, ExitCode: -2}, nil
			}
			return BatchOutcome{}, fmt.Errorf("batch job: %w", err)
		}
		switch res.Status {
		case StatusFinished:
			if res.ExitCode == nil {
				return BatchOutcome{Reason: ReasonTaskFailed, ExitCode: -1}, nil
			}
			if *res.ExitCode == 0 {
				return BatchOutcome{Reason: ReasonTaskFinished}, nil
			}
			return BatchOutcome{Reason: ReasonTaskFailed, ExitCode: *res.ExitCode}, nil
		case StatusExecTimeout:
			return BatchOutcome{Reason: ReasonTaskTimeout, ExitCode: -2}, nil
		}
		mode, opts = ModeContinue, nil
	}
}
