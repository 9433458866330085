package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

func TestParseArgs(t *testing.T) {
	o, err := parseArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.workDir != "/home/work" || o.portsFile != "/home/config/intrinsic-ports.json" ||
		o.serviceDefs != "/etc/backend.ai/service-defs" || o.replIn != 0 || o.replOut != 0 {
		t.Errorf("defaults %+v", o)
	}
	o, err = parseArgs([]string{"--runtime-type", "app", "--replin", "3000", "--replout", "3001", "--work-dir", "/w"}, io.Discard)
	if err != nil || o.runtimeType != "app" || o.replIn != 3000 || o.replOut != 3001 || o.workDir != "/w" {
		t.Errorf("%+v, %v", o, err)
	}
	if _, err := parseArgs([]string{"--help"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
	if _, err := parseArgs([]string{"extra"}, io.Discard); err == nil {
		t.Error("a positional argument was accepted")
	}
	if code := run([]string{"--runtime-type", "cobol", "--ports-file", "", "--replin", "-1"}, io.Discard); code != 1 {
		t.Errorf("bad runtime type: exit %d", code)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is the runner's stderr: the test reads it while run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun runs the command in-process: ports from the ports file, the
// user's bootstrap before serving, status and a cell, then SIGTERM.
func TestRun(t *testing.T) {
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "bootstrap.sh"), []byte("echo from-bootstrap\ntouch booted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, out := freePort(t), freePort(t)
	ports := filepath.Join(t.TempDir(), "intrinsic-ports.json")
	if err := os.WriteFile(ports, fmt.Appendf(nil, `{"replin": %d, "replout": %d}`, in, out), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--runtime-type", "app", "--work-dir", work, "--ports-file", ports,
			"--environ-file", "", "--service-defs", t.TempDir()}, &stderr)
	}()

	push := zmq4.NewPush(context.Background(), zmq4.WithDialerRetry(50*time.Millisecond), zmq4.WithDialerMaxRetries(100))
	defer push.Close()
	pull := zmq4.NewPull(context.Background(), zmq4.WithDialerRetry(50*time.Millisecond), zmq4.WithDialerMaxRetries(100))
	defer pull.Close()
	if err := push.Dial(fmt.Sprintf("tcp://127.0.0.1:%d", in)); err != nil {
		t.Fatal(err)
	}
	if err := pull.Dial(fmt.Sprintf("tcp://127.0.0.1:%d", out)); err != nil {
		t.Fatal(err)
	}
	msgs := make(chan zmq4.Msg, 64)
	go func() {
		for {
			m, err := pull.Recv()
			if err != nil {
				return
			}
			msgs <- m
		}
	}()
	next := func() (string, string) {
		t.Helper()
		select {
		case m := <-msgs:
			return string(m.Frames[0]), string(m.Frames[1])
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply; stderr:\n%s", stderr.String())
			return "", ""
		}
	}
	if err := push.SendMulti(zmq4.NewMsgFrom([]byte("status"), nil)); err != nil {
		t.Fatal(err)
	}
	if typ, _ := next(); typ != "status" {
		t.Fatalf("got %s", typ)
	}
	if err := push.SendMulti(zmq4.NewMsgFrom([]byte("code"), []byte("ls booted"))); err != nil {
		t.Fatal(err)
	}
	if typ, payload := next(); typ != "stdout" || payload != "booted\n" {
		t.Fatalf("got %s %q", typ, payload)
	}
	if typ, payload := next(); typ != "finished" || payload != `{"exitCode":0}` {
		t.Fatalf("got %s %q", typ, payload)
	}
	if !strings.Contains(stderr.String(), "from-bootstrap") {
		t.Errorf("bootstrap output missing from stderr:\n%s", stderr.String())
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
}
