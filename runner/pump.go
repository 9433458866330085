package runner

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// pump forwards what a child writes to a pipe as console records.
//
// Reading and queueing happen together under mu, with non-blocking reads
// until EAGAIN; the pump's goroutine only waits for the pipe to become
// readable (Go's poller), then drains. So drain, called from elsewhere,
// makes "everything written before now is queued" hold: no chunk can be
// read but not yet queued while drain holds mu. A cell's subprocess output
// thus precedes the cell's `finished`.
type pump struct {
	f    *os.File
	rc   syscall.RawConn
	typ  string
	out  *outbox
	done chan struct{}

	stopping atomic.Bool

	mu  sync.Mutex
	buf []byte
	eof bool
}

// pumpBufBytes is the size of one read; 64 KiB is a default pipe's size.
const pumpBufBytes = 64 << 10

func newPump(f *os.File, typ string, out *outbox) *pump {
	p := &pump{f: f, typ: typ, out: out, done: make(chan struct{}), buf: make([]byte, pumpBufBytes)}
	rc, err := f.SyscallConn()
	if err != nil {
		// Not possible for os.Pipe's files; read blocking as a fallback.
		go p.readBlocking()
		return p
	}
	p.rc = rc
	go p.run()
	return p
}

func (p *pump) run() {
	defer close(p.done)
	// The callback returns false to wait for readability, which the poller
	// allows only after EAGAIN, and true to end. It lets go of mu between
	// chunks, so that a drain gets in even while a child writes nonstop.
	_ = p.rc.Read(func(fd uintptr) bool {
		for !p.stopping.Load() {
			p.mu.Lock()
			st := p.readLocked(fd, pumpChunkBytes)
			p.mu.Unlock()
			switch st {
			case pipeEmpty:
				return false
			case pipeEOF:
				return true
			}
		}
		return true
	})
}

type pipeState int

const (
	pipeMore  pipeState = iota // limit reached, maybe more to read
	pipeEmpty                  // EAGAIN
	pipeEOF                    // EOF or an error: of no further use
)

// Bounds on one go of reading. A drain needs no more than what was in the
// pipe at the call: a pipe holds 64 KiB unless resized.
const (
	pumpChunkBytes = 256 << 10
	pumpDrainBytes = 4 << 20
)

// readLocked reads and queues up to about limit bytes.
func (p *pump) readLocked(fd uintptr, limit int) pipeState {
	for total := 0; !p.eof; {
		if total >= limit {
			return pipeMore
		}
		n, err := syscall.Read(int(fd), p.buf)
		if n > 0 {
			p.out.pushOutput(p.typ, p.buf[:n])
			total += n
			continue
		}
		switch err {
		case syscall.EINTR:
		case syscall.EAGAIN:
			return pipeEmpty
		default: // nil at EOF
			p.eof = true
		}
	}
	return pipeEOF
}

// drain queues what is in the pipe now.
func (p *pump) drain() {
	if p.rc == nil {
		return
	}
	// Control, unlike Read, does not take the fd's read lock, which run
	// holds while it waits.
	_ = p.rc.Control(func(fd uintptr) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.readLocked(fd, pumpDrainBytes)
	})
}

// drainAll drains pumps in order.
func drainAll(pumps ...*pump) {
	for _, p := range pumps {
		p.drain()
	}
}

// stop drains what is in the pipe, then closes it: writers that are left
// (a cell's background processes) get EPIPE from then on.
func (p *pump) stop() {
	p.drain()
	p.stopping.Store(true)
	_ = p.f.Close() // wakes run if it waits
	<-p.done
}

func (p *pump) readBlocking() {
	defer close(p.done)
	buf := make([]byte, pumpBufBytes)
	for {
		n, err := p.f.Read(buf)
		p.out.pushOutput(p.typ, buf[:n])
		if err != nil {
			return
		}
	}
}
