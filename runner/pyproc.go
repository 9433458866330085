package runner

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Driver record kinds (driver.py, fd 3).
const (
	recStdout       = 'o'
	recStderr       = 'e'
	recWaitingInput = 'i'
	recFinished     = 'f'
	recCompletion   = 'c'
)

// maxControlRecord bounds a non-output record from the driver.
const maxControlRecord = 1 << 20

// driverRequest is one request to the driver (fd 0): a 4-byte big-endian
// length, then this as JSON.
type driverRequest struct {
	Op   string `json:"op"`
	Code string `json:"code,omitempty"`
	Text string `json:"text,omitempty"`
	Line string `json:"line,omitempty"`
	ID   int64  `json:"id,omitempty"`
}

type completionReply struct {
	ID          int64    `json:"id"`
	Suggestions []string `json:"suggestions"`
}

// pyProc is one running driver: one interpreter, in a process group of
// its own so that an interrupt reaches the cell's children too, as ^C on
// a terminal (and Jupyter's interrupt) does.
type pyProc struct {
	cmd    *exec.Cmd
	log    *slog.Logger
	out    *outbox
	rawOut *pump
	rawErr *pump

	reqMu sync.Mutex
	req   *os.File

	running     atomic.Bool
	finished    chan int
	completions chan completionReply
	waited      chan struct{} // the process is reaped
	exited      chan struct{} // ... and its output forwarded
	exitCode    int           // valid once exited is closed

	inMu    sync.Mutex
	waiting bool     // the cell blocks in input()
	inputs  []string // texts that came before the cell asked
}

// startPyProc starts `python -u script` in dir.
func startPyProc(python, script, dir string, env []string, out *outbox, log *slog.Logger) (*pyProc, error) {
	// Pipes, as {read, write}: requests, records, raw stdout, raw stderr.
	var pipes [4][2]*os.File
	for i := range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			for _, p := range pipes[:i] {
				closeAll(p[0], p[1])
			}
			return nil, fmt.Errorf("runner: pipe: %w", err)
		}
		pipes[i] = [2]*os.File{r, w}
	}
	reqR, reqW := pipes[0][0], pipes[0][1]
	recR, recW := pipes[1][0], pipes[1][1]
	outR, outW := pipes[2][0], pipes[2][1]
	errR, errW := pipes[3][0], pipes[3][1]
	cmd := exec.Command(python, "-u", script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = reqR, outW, errW
	cmd.ExtraFiles = []*os.File{recW} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err := cmd.Start()
	closeAll(reqR, recW, outW, errW) // the child's ends
	if err != nil {
		closeAll(reqW, recR, outR, errR)
		return nil, fmt.Errorf("runner: start python driver: %w", err)
	}
	p := &pyProc{
		cmd:         cmd,
		log:         log,
		out:         out,
		rawOut:      newPump(outR, "stdout", out),
		rawErr:      newPump(errR, "stderr", out),
		req:         reqW,
		finished:    make(chan int, 1),
		completions: make(chan completionReply, 1),
		waited:      make(chan struct{}),
		exited:      make(chan struct{}),
	}
	records := make(chan struct{})
	go func() {
		p.readRecords(recR)
		close(records)
	}()
	go p.reap(recR, records)
	log.Info("python interpreter started", "pid", cmd.Process.Pid, "python", python)
	return p, nil
}

// send writes one request.
func (p *pyProc) send(r driverRequest) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("runner: encode driver request: %w", err)
	}
	msg := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	msg = append(msg, body...)
	p.reqMu.Lock()
	defer p.reqMu.Unlock()
	if _, err := p.req.Write(msg); err != nil {
		return fmt.Errorf("runner: write to python driver: %w", err)
	}
	return nil
}

// readRecords forwards the driver's records until fd 3 closes.
func (p *pyProc) readRecords(f *os.File) {
	br := bufio.NewReaderSize(f, 64<<10)
	buf := make([]byte, 64<<10)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			break
		}
		kind, n := hdr[0], int(binary.BigEndian.Uint32(hdr[1:]))
		if kind == recStdout || kind == recStderr {
			// What the cell's subprocesses wrote before comes first.
			p.flushRaw()
			typ := "stdout"
			if kind == recStderr {
				typ = "stderr"
			}
			if err := p.forward(br, typ, n, buf); err != nil {
				break
			}
			continue
		}
		if n > maxControlRecord {
			p.log.Warn("python driver: record too large, skipped", "kind", string(rune(kind)), "bytes", n)
			if _, err := br.Discard(n); err != nil {
				break
			}
			continue
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			break
		}
		p.control(kind, body)
	}
	select {
	case <-p.waited:
	case <-time.After(time.Second):
		// Closed fd 3 but lives on: of no use any more.
		p.log.Warn("python driver closed its record pipe; killing it", "pid", p.cmd.Process.Pid)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// forward queues an output record of n bytes piece by piece, so that a
// huge print never sits in memory whole.
func (p *pyProc) forward(r io.Reader, typ string, n int, buf []byte) error {
	for n > 0 {
		k := min(n, len(buf))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return fmt.Errorf("runner: read driver record: %w", err)
		}
		p.out.pushOutput(typ, buf[:k])
		n -= k
	}
	return nil
}

// flushRaw queues what is in the raw stdout and stderr pipes, so that it
// precedes the record being handled: those pipes carry what the cell's
// subprocesses (and C code) wrote, and it was written before the driver
// wrote the record.
func (p *pyProc) flushRaw() {
	drainAll(p.rawOut, p.rawErr)
}

func (p *pyProc) control(kind byte, body []byte) {
	switch kind {
	case recFinished:
		var f struct {
			ExitCode int `json:"exitCode"`
		}
		if err := json.Unmarshal(body, &f); err != nil {
			p.log.Warn("python driver: bad finished record", "error", err)
			f.ExitCode = 1
		}
		p.flushRaw()
		p.inMu.Lock()
		p.waiting, p.inputs = false, nil
		p.inMu.Unlock()
		select {
		case p.finished <- f.ExitCode:
		default:
			p.log.Warn("python driver: finished without a running cell")
		}
	case recWaitingInput:
		p.flushRaw()
		p.out.push("waiting-input", body)
		p.inMu.Lock()
		p.waiting = true
		p.sendQueuedInputLocked()
		p.inMu.Unlock()
	case recCompletion:
		var c completionReply
		if err := json.Unmarshal(body, &c); err != nil {
			p.log.Warn("python driver: bad completion record", "error", err)
			return
		}
		select {
		case p.completions <- c:
		default:
		}
	default:
		p.log.Warn("python driver: unknown record", "kind", string(rune(kind)))
	}
}

// input answers a pending input() or keeps text for the next one.
func (p *pyProc) input(text string) {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if len(p.inputs) >= maxQueuedInputs {
		p.inputs = p.inputs[1:]
	}
	p.inputs = append(p.inputs, text)
	if p.waiting {
		p.sendQueuedInputLocked()
	}
}

func (p *pyProc) sendQueuedInputLocked() {
	if len(p.inputs) == 0 {
		return
	}
	text := p.inputs[0]
	p.inputs = p.inputs[1:]
	p.waiting = false
	// The driver is reading, but a long text must still not hold inMu.
	go func() {
		if err := p.send(driverRequest{Op: "input", Text: text}); err != nil {
			p.log.Warn("python driver: send input", "error", err)
		}
	}()
}

// interrupt sends SIGINT to the interpreter's group while a cell runs:
// the driver turns it into KeyboardInterrupt in the cell.
func (p *pyProc) interrupt() {
	if p.running.Load() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	}
}

// reap waits for the driver, then for the rest of its records. Children
// it forked (multiprocessing) hold fd 3 too and may outlive it: after a
// short wait the pipe is closed under them.
func (p *pyProc) reap(rec *os.File, records <-chan struct{}) {
	err := p.cmd.Wait()
	close(p.waited)
	select {
	case <-records:
	case <-time.After(200 * time.Millisecond):
		_ = rec.Close() // ends readRecords' read
		<-records
	}
	_ = rec.Close()
	p.rawOut.stop()
	p.rawErr.stop()
	_ = p.req.Close()
	p.exitCode = exitCode(p.cmd.ProcessState, err)
	p.log.Info("python interpreter exited", "pid", p.cmd.Process.Pid, "exit_code", p.exitCode)
	close(p.exited)
}

// stop ends the driver: EOF on its requests, then SIGKILL to its group
// after grace.
func (p *pyProc) stop(grace time.Duration) {
	_ = p.req.Close() // unblocks a send stuck on a busy driver, too
	select {
	case <-p.exited:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}
