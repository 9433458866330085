package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// completeTimeout bounds a completion: the driver answers only between
// cells.
const completeTimeout = 2 * time.Second

// pyKernel is query mode of the python runtime: cells run in one
// interpreter that lives as long as the kernel, so state carries over. An
// interpreter that dies (os._exit, a crash) is replaced at the next cell.
type pyKernel struct {
	python string
	script string
	dir    string
	env    []string
	out    *outbox
	log    *slog.Logger

	mu     sync.Mutex
	proc   *pyProc
	closed bool

	nextID atomic.Int64
}

var errClosed = errors.New("runner: closed")

// current returns the live interpreter, starting one when there is none.
func (k *pyKernel) current() (*pyProc, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, errClosed
	}
	if k.proc != nil {
		select {
		case <-k.proc.exited:
		default:
			return k.proc, nil
		}
	}
	p, err := startPyProc(k.python, k.script, k.dir, k.env, k.out, k.log)
	if err != nil {
		return nil, err
	}
	k.proc = p
	return p, nil
}

// live returns the interpreter if one runs, without starting one.
func (k *pyKernel) live() *pyProc {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.proc
}

// Run executes one cell and returns its exit code: 0, 1 for an uncaught
// exception, SystemExit's code, or the interpreter's exit status when it
// died in the cell.
func (k *pyKernel) Run(ctx context.Context, code string) int {
	p, err := k.current()
	if err != nil {
		k.out.pushOutput("stderr", fmt.Appendf(nil, "bai-krunner: cannot start the Python interpreter: %v\n", err))
		return 127
	}
	select {
	case <-p.finished: // a stale one, from a cell whose wait was cut short
	default:
	}
	p.running.Store(true)
	defer p.running.Store(false)
	if err := p.send(driverRequest{Op: "exec", Code: code}); err != nil {
		k.log.Warn("python driver: send cell", "error", err)
	}
	select {
	case rc := <-p.finished:
		return rc
	case <-p.exited:
		select {
		case rc := <-p.finished:
			return rc
		default:
		}
		k.out.pushOutput("stderr", fmt.Appendf(nil,
			"bai-krunner: the Python interpreter exited (status %d); its state is lost, the next cell starts a new one\n",
			p.exitCode))
		return p.exitCode
	case <-ctx.Done():
		return -1
	}
}

// Interrupt raises KeyboardInterrupt in the running cell.
func (k *pyKernel) Interrupt() {
	if p := k.live(); p != nil {
		p.interrupt()
	}
}

// Input answers the cell's input(), or the next one.
func (k *pyKernel) Input(text string) {
	if p := k.live(); p != nil {
		p.input(text)
	}
}

// Complete asks the interpreter for completions of the code's last token;
// it gives none while a cell runs.
func (k *pyKernel) Complete(ctx context.Context, code, line string) []string {
	p := k.live()
	if p == nil || p.running.Load() {
		return nil
	}
	id := k.nextID.Add(1)
	if err := p.send(driverRequest{Op: "complete", Code: code, Line: line, ID: id}); err != nil {
		return nil
	}
	t := time.NewTimer(completeTimeout)
	defer t.Stop()
	for {
		select {
		case c := <-p.completions:
			if c.ID == id {
				return c.Suggestions
			}
		case <-p.exited:
			return nil
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// Warm starts the interpreter ahead of the first cell.
func (k *pyKernel) Warm() {
	if _, err := k.current(); err != nil && !errors.Is(err, errClosed) {
		k.log.Warn("python interpreter did not start", "error", err)
	}
}

// Close stops the interpreter and everything in its process group.
func (k *pyKernel) Close(grace time.Duration) {
	k.mu.Lock()
	k.closed = true
	p := k.proc
	k.mu.Unlock()
	if p != nil {
		p.stop(grace)
	}
}
