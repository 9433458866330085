package kernelrunner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message types of the protocol (spec §12).
const (
	msgCode          = "code"
	msgClean         = "clean"
	msgBuild         = "build"
	msgExec          = "exec"
	msgInput         = "input"
	msgInterrupt     = "interrupt"
	msgComplete      = "complete"
	msgStatus        = "status"
	msgStartService  = "start-service"
	msgShutdownSvc   = "shutdown-service"
	msgGetApps       = "get-apps"
	msgEvent         = "event"
	msgStdout        = "stdout"
	msgStderr        = "stderr"
	msgMedia         = "media"
	msgHTML          = "html"
	msgLog           = "log"
	msgCompletion    = "completion"
	msgServiceResult = "service-result"
	msgAppsResult    = "apps-result"
)

// Result statuses. All but StatusFinished and StatusExecTimeout leave the
// run current, to be picked up by a later Execute (mode "continue" or
// "input") with the same run id.
const (
	StatusFinished      = "finished"
	StatusBuildFinished = "build-finished"
	StatusCleanFinished = "clean-finished"
	StatusWaitingInput  = "waiting-input"
	StatusContinued     = "continued"
	StatusExecTimeout   = "exec-timeout"
)

// Execute modes.
const (
	ModeQuery    = "query"
	ModeBatch    = "batch"
	ModeInput    = "input"
	ModeContinue = "continue"
)

// record is one output item of a run, as the reader queued it.
type record struct {
	typ  string
	data string
}

// terminal reports whether a record ends an Execute call.
func (r record) terminal() bool {
	switch r.typ {
	case StatusFinished, StatusBuildFinished, StatusCleanFinished, StatusWaitingInput, StatusExecTimeout:
		return true
	}
	return false
}

// run is one execution's queue. Its fields are guarded by Client.mu.
type run struct {
	id      string
	recs    []record
	notify  chan struct{} // one slot: "a terminal record was added"
	active  chan struct{} // closed when the run becomes current
	queued  bool          // in Client.pending
	busy    bool          // an Execute is collecting it
	dropped int           // records dropped for the queue cap
}

func newRun(id string) *run {
	return &run{id: id, notify: make(chan struct{}, 1), active: make(chan struct{})}
}

// Execute runs code (or collects more of a run) and returns the run's
// next result, as upstream's kernel.execute: it feeds the krunner as mode
// says, then collects the run's records until a terminal one, the flush
// timeout or the end of ctx.
//
//   - "query" sends code; "batch" sends opts "clean", "build" and "exec"
//     (a missing or nil one as ""), in that order; "input" sends code as
//     the answer to `waiting-input`; "continue" sends nothing.
//   - A positive flushTimeout returns what came so far with status
//     "continued" once it passes, leaving the run current (upstream's
//     continuation client feature); 0 waits for a terminal record.
//   - When ctx's deadline passes while the output is collected, the run
//     ends with status "exec-timeout" (the caller then destroys the
//     kernel, as upstream's agent does). When ctx ends earlier (waiting
//     for another run to end, or a send that cannot go out), or is
//     cancelled, or the client closes, Execute returns an error; a
//     collection that gives up leaves the run and its records queued.
//
// runID "" gets a random one. apiVersion (1 or more) is kept in the
// Result for AsDict.
func (c *Client) Execute(ctx context.Context, runID, mode, code string, opts map[string]any, flushTimeout time.Duration, apiVersion int) (Result, error) {
	if apiVersion < 1 {
		return Result{}, fmt.Errorf("execute: unsupported api version %d", apiVersion)
	}
	var feed [][2]string
	switch mode {
	case ModeQuery:
		feed = [][2]string{{msgCode, code}}
	case ModeInput:
		feed = [][2]string{{msgInput, code}}
	case ModeBatch:
		for _, k := range []string{msgClean, msgBuild, msgExec} {
			v, err := batchCommand(opts, k)
			if err != nil {
				return Result{}, fmt.Errorf("execute: %w", err)
			}
			feed = append(feed, [2]string{k, v})
		}
	case ModeContinue:
	default:
		return Result{}, fmt.Errorf("execute: unknown mode %q", mode)
	}
	if runID == "" {
		runID = randomRunID()
	}
	r, fresh, err := c.attach(ctx, runID)
	if err != nil {
		return Result{}, fmt.Errorf("execute %s: %w", runID, err)
	}
	for _, m := range feed {
		if err := c.send(ctx, m[0], []byte(m[1])); err != nil {
			c.unfed(r, fresh)
			return Result{}, fmt.Errorf("execute %s: %w", runID, err)
		}
	}
	return c.collect(ctx, r, flushTimeout, apiVersion)
}

// batchCommand is opts[key] as feed_batch takes it: a string, with a
// missing or nil value meaning "skip this step".
func batchCommand(opts map[string]any, key string) (string, error) {
	switch v := opts[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("batch option %q is a %T, not a string", key, v)
	}
}

func randomRunID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// attach makes the run with id current for the caller, waiting while
// another run is current (upstream's attach_output_queue), and marks it
// busy. fresh tells that the run is new, not one that earlier calls fed.
func (c *Client) attach(ctx context.Context, id string) (r *run, fresh bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrClosed
	}
	r = c.runs[id]
	if r == nil {
		r = newRun(id)
		c.runs[id] = r
		fresh = true
	}
	if r.busy {
		c.mu.Unlock()
		return nil, false, ErrRunBusy
	}
	r.busy = true
	if c.current == nil && !r.queued {
		c.makeCurrent(r)
	}
	if c.current == r {
		c.mu.Unlock()
		return r, fresh, nil
	}
	if !r.queued {
		c.pending = append(c.pending, r)
		r.queued = true
	}
	c.mu.Unlock()

	// Only a run that was never current waits here: a run stops being
	// current only when it ends.
	select {
	case <-r.active:
		return r, true, nil
	case <-ctx.Done():
		c.abandon(r)
		return nil, false, ctx.Err()
	case <-c.done:
		c.abandon(r)
		return nil, false, ErrClosed
	}
}

// makeCurrent makes r the run that receives output. Called with c.mu held.
func (c *Client) makeCurrent(r *run) {
	c.current = r
	close(r.active)
}

// abandon undoes attach for a caller that gave up while its run waited
// for its turn: the run leaves the line, and if it became current in the
// meantime it ends (nothing was fed to it), so that it does not hold up
// the runs behind it.
func (c *Client) abandon(r *run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.busy = false
	if !r.queued {
		c.endRun(r)
		return
	}
	for i, p := range c.pending {
		if p == r {
			c.pending = append(c.pending[:i:i], c.pending[i+1:]...)
			break
		}
	}
	r.queued = false
	if c.runs[r.id] == r {
		delete(c.runs, r.id)
	}
}

// unfed ends a collection whose code could not be sent. A run this call
// started ends with it (the krunner got nothing, or only part of a batch,
// and nobody would come back for it); an older one stays for its caller.
func (c *Client) unfed(r *run, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fresh {
		c.endRun(r)
		return
	}
	r.busy = false
}

// endRun drops the run and hands the output to the next one in line
// (upstream's next_output_queue). Called with c.mu held.
func (c *Client) endRun(r *run) {
	r.busy = false
	if c.runs[r.id] == r {
		delete(c.runs, r.id)
	}
	if c.current != r {
		return
	}
	c.current = nil
	if len(c.pending) > 0 {
		next := c.pending[0]
		c.pending = c.pending[1:]
		next.queued = false
		c.makeCurrent(next)
	}
}

// enqueue adds a record to the current run. Called by the reader.
func (c *Client) enqueue(rec record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.current
	if r == nil {
		c.log.Debug("dropped kernel runner output of no run", "type", rec.typ)
		return
	}
	c.queueRecord(r, rec)
}

// queueRecord appends rec to r's queue, dropping the oldest console
// record when the queue is full (terminal records stay: losing one would
// hang the run). Called with c.mu held.
func (c *Client) queueRecord(r *run, rec record) {
	if len(r.recs) >= c.opts.MaxQueuedRecords {
		i := 0
		for i < len(r.recs) && r.recs[i].terminal() {
			i++
		}
		if i < len(r.recs) {
			if i == 0 {
				// The usual case, in O(1): clear the slot so that the
				// backing array does not pin the dropped text.
				r.recs[0] = record{}
				r.recs = r.recs[1:]
			} else {
				r.recs = append(r.recs[:i], r.recs[i+1:]...)
			}
			r.dropped++
			// The first drop, then one line per thousand: a chatty
			// process nobody collects would flood the log otherwise.
			if r.dropped == 1 || r.dropped%1000 == 0 {
				c.log.Warn("run queue full: dropped oldest output", "run_id", r.id, "dropped", r.dropped, "limit", c.opts.MaxQueuedRecords)
			}
		}
	}
	r.recs = append(r.recs, rec)
	// Only a terminal record can end a collection; console records wait
	// for it (or for the flush timeout), so they need not wake anyone.
	if rec.terminal() {
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}
}

// execTimedOut is upstream's watchdog: Options.ExecTimeout after Dial, the
// current run ends with exec-timeout.
func (c *Client) execTimedOut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.current == nil {
		c.log.Warn("execution timeout with no run in progress", "exec_timeout", c.opts.ExecTimeout)
		return
	}
	c.log.Warn("execution timeout", "run_id", c.current.id, "exec_timeout", c.opts.ExecTimeout)
	c.queueRecord(c.current, record{typ: StatusExecTimeout})
}

// collect gathers r's records into a Result (upstream's get_next_result).
// Records stay queued until the call has its result, so that a call that
// gives up (cancelled ctx, Close) leaves them all to the next one.
func (c *Client) collect(ctx context.Context, r *run, flushTimeout time.Duration, apiVersion int) (Result, error) {
	var flush <-chan time.Time
	if flushTimeout > 0 {
		t := time.NewTimer(flushTimeout)
		defer t.Stop()
		flush = t.C
	}
	for {
		c.mu.Lock()
		if terminalIndex(r.recs) >= 0 {
			got, term := take(r)
			res := c.finish(r, got, *term, apiVersion)
			c.mu.Unlock()
			return res, nil
		}
		c.mu.Unlock()

		status := StatusContinued
		select {
		case <-r.notify:
			continue
		case <-flush:
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				c.giveUp(r)
				return Result{}, fmt.Errorf("execute %s: %w", r.id, ctx.Err())
			}
			status = StatusExecTimeout
		case <-c.done:
			c.giveUp(r)
			return Result{}, fmt.Errorf("execute %s: %w", r.id, ErrClosed)
		case <-c.readerDone:
			c.giveUp(r)
			return Result{}, fmt.Errorf("execute %s: %w", r.id, c.readerErr())
		}

		c.mu.Lock()
		got, term := take(r)
		var res Result
		switch {
		case term != nil: // it came just now: the real result wins
			res = c.finish(r, got, *term, apiVersion)
		case status == StatusExecTimeout:
			c.log.Warn("execution timeout", "run_id", r.id)
			c.endRun(r)
			res = newResult(r.id, status, nil, nil, got, apiVersion, c.log)
		default:
			r.busy = false
			res = newResult(r.id, status, nil, nil, got, apiVersion, c.log)
		}
		c.mu.Unlock()
		return res, nil
	}
}

// terminalIndex is the index of the first terminal record, or -1.
func terminalIndex(recs []record) int {
	for i, rec := range recs {
		if rec.terminal() {
			return i
		}
	}
	return -1
}

// take removes r's records up to and including the first terminal one
// (all of them if none is) and returns the console records and the
// terminal record. Called with c.mu held.
func take(r *run) (got []record, term *record) {
	n := len(r.recs)
	if i := terminalIndex(r.recs); i >= 0 {
		n = i + 1
		t := r.recs[i]
		term = &t
		got = append(got, r.recs[:i]...)
	} else {
		got = append(got, r.recs...)
	}
	// A fresh slice: the old backing array would pin the records taken.
	r.recs = append([]record(nil), r.recs[n:]...)
	return got, term
}

// giveUp ends a collection that gave up without a result; the run and
// its records stay for the next call.
func (c *Client) giveUp(r *run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r.busy = false
}

// finish builds the result of a terminal record and ends or keeps the run.
// Called with c.mu held.
func (c *Client) finish(r *run, got []record, term record, apiVersion int) Result {
	var exitCode *int
	var options map[string]any
	switch term.typ {
	case StatusFinished, StatusBuildFinished, StatusCleanFinished:
		exitCode = parseExitCode(term.data, c)
	case StatusWaitingInput:
		options = map[string]any{}
		if term.data != "" {
			if err := json.Unmarshal([]byte(term.data), &options); err != nil {
				c.log.Warn("malformed waiting-input options", "run_id", r.id, "err", err)
				options = map[string]any{}
			}
		}
	}
	if term.typ == StatusFinished || term.typ == StatusExecTimeout {
		c.endRun(r)
	} else {
		r.busy = false
	}
	return newResult(r.id, term.typ, exitCode, options, got, apiVersion, c.log)
}

// parseExitCode reads {"exitCode": n} (n may be null or absent).
func parseExitCode(data string, c *Client) *int {
	if data == "" {
		return nil
	}
	var v struct {
		ExitCode *json.Number `json:"exitCode"`
	}
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		c.log.Warn("malformed finished payload", "err", err)
		return nil
	}
	if v.ExitCode == nil {
		return nil
	}
	n, err := v.ExitCode.Int64()
	if err != nil {
		f, ferr := v.ExitCode.Float64()
		if ferr != nil {
			c.log.Warn("malformed exit code", "exit_code", v.ExitCode.String())
			return nil
		}
		n = int64(f)
	}
	code := int(n)
	return &code
}
