package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// localEtcdBinary builds backendai-etcd into a test directory.
func localEtcdBinary(t testing.TB) string { return buildTool(t, "backendai-etcd", true) }

// buildTool builds one of the module's commands into a test directory;
// without cgo it is static (the kernel-side tools).
func buildTool(t testing.TB, name string, cgo bool) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build %s: %v", name, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command(goBin, "build", "-ldflags", "-s -w", "-o", bin, "github.com/baiagent/agent/cmd/"+name)
	build.Env = append(os.Environ(), "GOFLAGS=")
	if !cgo {
		build.Env = append(build.Env, "CGO_ENABLED=0")
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// loopbackPort returns a loopback host:port that was free a moment ago.
func loopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLocalEtcd(t *testing.T) {
	bin := localEtcdBinary(t)
	dir := t.TempDir()

	t.Run("StartPutGetStop", func(t *testing.T) {
		var logs logBuffer
		addr := loopbackPort(t)
		dataDir := filepath.Join(dir, "var", "etcd")
		le, err := startLocalEtcd(t.Context(), localEtcdOptions{
			Binary: bin, DataDir: dataDir, ClientAddr: addr, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil || le == nil {
			t.Fatalf("startLocalEtcd = %v, %v", le, err)
		}
		t.Cleanup(func() { _ = le.Stop(context.Background()) })
		if le.Addr() != addr {
			t.Errorf("Addr() = %q, want %q", le.Addr(), addr)
		}
		pid := le.pid
		if want := `msg="started local etcd" addr=` + addr + " data_dir=" + dataDir + " pid=" + strconv.Itoa(pid); !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}

		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{le.Addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := cli.Put(ctx, "/sorna/local/k", "v"); err != nil {
			t.Fatalf("put: %v", err)
		}
		resp, err := cli.Get(ctx, "/sorna/local/k")
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
			t.Fatalf("get = %v, %v", resp, err)
		}

		// Something already answers there: use it, start nothing.
		other := filepath.Join(dir, "other")
		again, err := startLocalEtcd(t.Context(), localEtcdOptions{Binary: bin, DataDir: other, ClientAddr: addr})
		if err != nil || again != nil {
			t.Fatalf("second startLocalEtcd on a served port = %v, %v; want nil, nil", again, err)
		}
		if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("second start touched its data dir: %v", err)
		}

		stopCtx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := le.Stop(stopCtx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := le.Stop(stopCtx); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d still exists after Stop (kill 0: %v)", pid, err)
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		}
		if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") {
			t.Errorf("a clean start and stop logged warnings or errors:\n%s", logs.String())
		}

		// The data outlives the process.
		le, err = startLocalEtcd(t.Context(), localEtcdOptions{Binary: bin, DataDir: dataDir, ClientAddr: addr})
		if err != nil || le == nil {
			t.Fatalf("restart = %v, %v", le, err)
		}
		t.Cleanup(func() { _ = le.Stop(context.Background()) })
		resp, err = cli.Get(ctx, "/sorna/local/k")
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
			t.Fatalf("get after restart = %v, %v", resp, err)
		}
		if err := le.Stop(stopCtx); err != nil {
			t.Fatalf("Stop after restart: %v", err)
		}
	})

	t.Run("ExitsWithTheAgent", func(t *testing.T) {
		le, err := startLocalEtcd(t.Context(), localEtcdOptions{Binary: bin, DataDir: filepath.Join(dir, "orphan"), ClientAddr: loopbackPort(t)})
		if err != nil || le == nil {
			t.Fatalf("startLocalEtcd = %v, %v", le, err)
		}
		t.Cleanup(func() { _ = le.Stop(context.Background()) })
		// What the kernel does to the agent's end of the pipe when the
		// agent dies, SIGKILL included.
		_ = le.stdin.Close()
		select {
		case <-le.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("backendai-etcd still runs 10 s after its stdin closed")
		}
		if le.waitErr != nil {
			t.Errorf("exit after stdin closed: %v", le.waitErr)
		}
		if err := le.Stop(context.Background()); err == nil || !strings.Contains(err.Error(), "had exited") {
			t.Errorf("Stop after the process exited = %v, want a 'had exited' error", err)
		}
	})

	t.Run("BadDataDir", func(t *testing.T) {
		file := filepath.Join(dir, "regular-file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		le, err := startLocalEtcd(t.Context(), localEtcdOptions{Binary: bin, DataDir: filepath.Join(file, "etcd"), ClientAddr: loopbackPort(t)})
		if err == nil || le != nil {
			t.Fatalf("startLocalEtcd under a regular file = %v, %v; want an error", le, err)
		}
		for _, want := range []string{"exited before it was ready", "exit status 1", "backendai-etcd: data dir: mkdir " + file + ": not a directory"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
	})

	t.Run("DataDirInUse", func(t *testing.T) {
		dataDir := filepath.Join(dir, "shared")
		le, err := startLocalEtcd(t.Context(), localEtcdOptions{Binary: bin, DataDir: dataDir, ClientAddr: loopbackPort(t)})
		if err != nil || le == nil {
			t.Fatalf("startLocalEtcd = %v, %v", le, err)
		}
		t.Cleanup(func() { _ = le.Stop(context.Background()) })
		le2, err := startLocalEtcd(t.Context(), localEtcdOptions{Binary: bin, DataDir: dataDir, ClientAddr: loopbackPort(t)})
		if err == nil || le2 != nil || !strings.Contains(err.Error(), "in use by another backendai-etcd (pid "+strconv.Itoa(le.pid)+")") {
			t.Fatalf("second etcd on the same data = %v, %v; want an in-use error", le2, err)
		}
	})
}

func TestLocalEtcdProbeRejectsOtherServices(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	le, err := startLocalEtcd(t.Context(), localEtcdOptions{Binary: "/nonexistent", DataDir: t.TempDir(), ClientAddr: addr})
	if err == nil || le != nil || !strings.Contains(err.Error(), "is not etcd (GET /health: 404 Not Found)") {
		t.Fatalf("startLocalEtcd on an HTTP server = %v, %v; want a not-etcd error", le, err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, err = startLocalEtcd(t.Context(), localEtcdOptions{Binary: "/nonexistent", DataDir: t.TempDir(), ClientAddr: l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "accepts connections but is not an etcd") {
		t.Fatalf("startLocalEtcd on a closing listener = %v; want an error", err)
	}
}

func TestLocalEtcdMissingBinary(t *testing.T) {
	_, err := startLocalEtcd(t.Context(), localEtcdOptions{Binary: "/nonexistent/backendai-etcd", DataDir: t.TempDir(), ClientAddr: loopbackPort(t)})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/backendai-etcd") {
		t.Fatalf("startLocalEtcd with a missing binary = %v", err)
	}
	t.Setenv(envEtcdBinary, "")
	t.Setenv("PATH", t.TempDir())
	_, err = etcdBinary("")
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Fatalf("etcdBinary with nothing to find = %v", err)
	}
	t.Setenv(envEtcdBinary, "/opt/bai/backendai-etcd")
	if p, err := etcdBinary(""); p != "/opt/bai/backendai-etcd" || err != nil {
		t.Fatalf("etcdBinary with $%s = %q, %v", envEtcdBinary, p, err)
	}
}

func TestLocalEtcdLogLines(t *testing.T) {
	level, msg, attrs := parseEtcdLogLine(`{"level":"warn","ts":"2026-01-01T00:00:00Z","caller":"x.go:1","msg":"slow fdatasync","took":"1.2s","expected-duration":"1s"}`)
	if level != slog.LevelWarn || msg != "slow fdatasync" || summarize(msg, attrs) != "slow fdatasync expected-duration=1s took=1.2s" {
		t.Errorf("zap line = %v %q %v", level, msg, attrs)
	}
	level, msg, _ = parseEtcdLogLine(`{"level":"fatal","msg":"boom"}`)
	if level != slog.LevelError || msg != "boom" {
		t.Errorf("fatal line = %v %q", level, msg)
	}
	level, msg, attrs = parseEtcdLogLine("backendai-etcd: data dir: mkdir /x: not a directory")
	if level != slog.LevelError || msg != "backendai-etcd: data dir: mkdir /x: not a directory" || attrs != nil {
		t.Errorf("plain line = %v %q %v", level, msg, attrs)
	}
	tail := &lineTail{max: 2}
	for _, s := range []string{"a", "b", "c"} {
		tail.add(s)
	}
	if tail.suffix() != ": b; c" {
		t.Errorf("tail = %q", tail.suffix())
	}
}
