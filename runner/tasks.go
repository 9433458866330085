package runner

import (
	"context"
	"sync"
)

// taskKind is a message type that runs in turn: cells and batch steps.
type taskKind string

const (
	taskCode  taskKind = "code"
	taskClean taskKind = "clean"
	taskBuild taskKind = "build"
	taskExec  taskKind = "exec"
)

type task struct {
	kind taskKind
	text string
}

// taskQueue is the FIFO of cells and batch steps, run one at a time as
// upstream's task_queue does. It is unbounded, so that the command loop
// never waits on it (and keeps serving interrupts); the agent sends one
// run at a time anyway.
type taskQueue struct {
	mu   sync.Mutex
	q    []task
	wake chan struct{}
}

func newTaskQueue() *taskQueue {
	return &taskQueue{wake: make(chan struct{}, 1)}
}

func (t *taskQueue) push(x task) {
	t.mu.Lock()
	t.q = append(t.q, x)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// pop waits for the next task until ctx ends.
func (t *taskQueue) pop(ctx context.Context) (task, bool) {
	for {
		t.mu.Lock()
		if len(t.q) > 0 {
			x := t.q[0]
			t.q[0] = task{}
			t.q = t.q[1:]
			t.mu.Unlock()
			return x, true
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return task{}, false
		case <-t.wake:
		}
	}
}
