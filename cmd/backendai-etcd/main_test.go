package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestValidFlags(t *testing.T) {
	dir := t.TempDir()
	o, err := parseFlags([]string{"--data-dir", dir}, io.Discard)
	if err != nil || o.clientAddr != "127.0.0.1:2379" || o.peerAddr != "127.0.0.1:2380" || o.name != "backendai-local" || o.exitOnStdinEOF {
		t.Fatalf("defaults = %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-data-dir", dir, "--listen-client", "LocalHost:12379", "--listen-peer", "[::1]:12380", "--name", "n", "--exit-on-stdin-eof"}, io.Discard)
	if err != nil || o.clientAddr != "localhost:12379" || o.peerAddr != "[::1]:12380" || o.name != "n" || !o.exitOnStdinEOF {
		t.Fatalf("flags = %+v, %v", o, err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "--data-dir is required"},
		{[]string{"--data-dir", dir, "extra"}, `unexpected argument "extra"`},
		{[]string{"--data-dir", dir, "--listen-client", "0.0.0.0:2379"}, "host must be a loopback address"},
		{[]string{"--data-dir", dir, "--listen-client", "10.0.0.1:2379"}, "host must be a loopback address"},
		{[]string{"--data-dir", dir, "--listen-peer", "etcd.example:2380"}, "host must be a loopback address"},
		{[]string{"--data-dir", dir, "--listen-client", "127.0.0.1"}, "missing port"},
		{[]string{"--data-dir", dir, "--listen-client", "127.0.0.1:0"}, "port must be 1..65535"},
		{[]string{"--data-dir", dir, "--listen-peer", "127.0.0.1:2379"}, "are both 127.0.0.1:2379"},
		{[]string{"--data-dir", dir, "--name", ""}, "--name must not be empty"},
	} {
		var stderr bytes.Buffer
		if code := run(t.Context(), tt.args, nil, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr.String(), tt.want)
		}
	}
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"--bogus"}, nil, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "flag provided but not defined: -bogus") {
		t.Errorf("unknown flag: exit %d, stderr %q", code, stderr.String())
	}
}

func TestLocalEtcdDataDirLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	f, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another backendai-etcd (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second lock = %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(filepath.Join(file, "etcd")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("data dir under a file = %v", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// serve runs the command in this process until stop; it returns the URL of
// the ready line and the exit status channel.
func serve(t *testing.T, ctx context.Context, args []string, stdin io.Reader) (string, <-chan int) {
	t.Helper()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, args, stdin, outW, os.Stderr)
		outW.Close()
	}()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(outR).ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, outR)
	}()
	select {
	case s := <-line:
		u, ok := strings.CutPrefix(strings.TrimSpace(s), "ready ")
		if !ok {
			t.Fatalf("first stdout line %q, want ready URL", s)
		}
		return u, code
	case c := <-code:
		t.Fatalf("exited %d before ready", c)
	case <-time.After(20 * time.Second):
		t.Fatal("not ready within 20 s")
	}
	return "", nil
}

func TestLocalEtcdServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "etcd") // created 0700, as etcd wants
	client := freePort(t)
	args := []string{"--data-dir", dir, "--listen-client", client, "--listen-peer", freePort(t)}

	ctx, cancel := context.WithCancel(t.Context())
	u, code := serve(t, ctx, args, nil)
	if u != "http://"+client {
		t.Errorf("ready %q, want http://%s", u, client)
	}
	resp, err := http.Get(u + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"health":"true"`) {
		t.Errorf("/health = %s", body)
	}
	// A second server on the same port fails with a clear message.
	var stderr bytes.Buffer
	if c := run(t.Context(), []string{"--data-dir", t.TempDir(), "--listen-client", client, "--listen-peer", freePort(t)}, nil, io.Discard, &stderr); c != 1 || !strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("second server on %s: exit %d, stderr %q", client, c, stderr.String())
	}
	cancel() // SIGINT or SIGTERM
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d after the signal, want 0", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after the signal")
	}

	// Again on the same data, until standard input ends.
	stdinR, stdinW := io.Pipe()
	_, code = serve(t, t.Context(), append(args, "--exit-on-stdin-eof"), stdinR)
	stdinW.Close()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d after stdin closed, want 0", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after stdin closed")
	}
}
