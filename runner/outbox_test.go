package runner

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

func TestOutboxMergesAndCaps(t *testing.T) {
	o := newOutbox(slog.New(slog.DiscardHandler), 1<<20, 10)
	o.pushOutput("stdout", []byte("abc"))
	o.pushOutput("stdout", []byte("defghijklmno")) // 15 bytes in all: 10 + 5
	o.pushOutput("stderr", []byte("x"))
	o.push("finished", []byte("{}"))
	var got []string
	for len(o.q) > 0 {
		m, _ := o.next(context.Background())
		got = append(got, m.typ+":"+string(m.payload))
	}
	want := []string{"stdout:abcdefghij", "stdout:klmno", "stderr:x", "finished:{}"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// With nobody reading, the outbox keeps the newest output within its
// bound and never drops replies.
func TestOutboxDropsOldestOutput(t *testing.T) {
	o := newOutbox(slog.New(slog.DiscardHandler), 100, 10)
	o.push("status", []byte("s"))
	for i := 0; i < 100; i++ {
		o.pushOutput("stdout", bytes.Repeat([]byte{byte('a' + i%26)}, 10))
		if i%10 == 0 {
			o.push("finished", []byte("f"))
		}
	}
	if o.size > 100 {
		t.Errorf("queued %d bytes, bound 100", o.size)
	}
	if o.total == 0 {
		t.Error("nothing dropped")
	}
	var finished, status int
	var last []byte
	for len(o.q) > 0 {
		m, _ := o.next(context.Background())
		switch m.typ {
		case "finished":
			finished++
		case "status":
			status++
		case "stdout":
			last = m.payload
		}
	}
	if status != 1 || finished != 10 {
		t.Errorf("replies lost: status %d, finished %d", status, finished)
	}
	if want := bytes.Repeat([]byte{byte('a' + 99%26)}, 10); !bytes.Equal(last, want) {
		t.Errorf("newest output %q lost", want)
	}
}

func TestOutboxSenderDoesNotBlockPush(t *testing.T) {
	o := newOutbox(slog.New(slog.DiscardHandler), 1<<10, 1<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	block := make(chan struct{})
	go o.run(ctx, func(context.Context, outMsg) error { <-block; return nil })
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10000; i++ {
			o.pushOutput("stdout", make([]byte, 100))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("push blocked on a stuck sender")
	}
	close(block)
}

// A child that writes nonstop does not keep stop from returning.
func TestPumpStopsOnEndlessWriter(t *testing.T) {
	o := newOutbox(slog.New(slog.DiscardHandler), 1<<20, 1<<20)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p := newPump(r, "stdout", o)
	go func() {
		chunk := make([]byte, 4096)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	done := make(chan struct{})
	go func() { p.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop hangs on an endless writer")
	}
}

func TestPumpFlushOrdersOutput(t *testing.T) {
	o := newOutbox(slog.New(slog.DiscardHandler), 1<<20, 1<<20)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := newPump(r, "stdout", o)
	for i := 0; i < 200; i++ {
		if _, err := w.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		p.drain()
		o.push("marker", nil)
	}
	w.Close()
	p.stop()
	// Every marker follows the byte written before it.
	n := 0
	for len(o.q) > 0 {
		m, _ := o.next(context.Background())
		switch m.typ {
		case "stdout":
			n += len(m.payload)
		case "marker":
			n--
			if n != 0 {
				t.Fatalf("marker after %d bytes too many", n)
			}
		}
	}
}
