package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baiagent/agent/test/testenv"
)

// envAsMain makes the test binary behave as backendai-agent itself, so that
// tests run the real command line in a child process.
const envAsMain = "BACKENDAI_AGENT_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envAsMain) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// agentCmd prepares the agent as a child process.
func agentCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), envAsMain+"=1")
	return cmd
}

// notifySocket is a fake systemd NOTIFY_SOCKET.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t testing.TB) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	n := &notifySocket{path: path, msgs: make(chan string, 16)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

func (n *notifySocket) wait(t testing.TB, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-n.msgs:
			if m == want {
				return
			}
			if !strings.HasPrefix(m, "WATCHDOG") {
				t.Fatalf("notify socket got %q while waiting for %q", m, want)
			}
		case <-deadline:
			t.Fatalf("no %q on the notify socket within %s", want, timeout)
		}
	}
}

// TestServerNeedsConfig: without -f and with nothing to discover, the
// service refuses to start and lists the paths it searched.
func TestServerNeedsConfig(t *testing.T) {
	dir := t.TempDir()
	cmd := agentCmd(t, "server")
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, "HOME="+dir, "BACKEND_CONFIG_FILE=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("server without config: %v\n%s", err, out)
	}
	for _, want := range []string{filepath.Join(dir, "agent.toml"), filepath.Join(dir, ".config/backend.ai/agent.toml"), "/etc/backend.ai/agent.toml"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("message does not list %s:\n%s", want, out)
		}
	}
}

func TestServerPortTakenRollsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.toml")
	pidFile := filepath.Join(dir, "agent.pid")
	writeFile(t, conf, fmt.Sprintf("[agent]\nbackend = \"docker\"\ninternal-addr = { host = \"127.0.0.1\", port = %d }\npid-file = %q\n",
		ln.Addr().(*net.TCPAddr).Port, pidFile))
	out, err := agentCmd(t, "server", "-f", conf).CombinedOutput()
	if err == nil {
		t.Fatalf("server started on a taken port:\n%s", out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("error does not say why:\n%s", out)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed start left its pid file: %v", err)
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "backendai-agent ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errOut); code != exitUsage {
		t.Fatalf("unknown command exit %d", code)
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"watcher", "-f", "x.toml"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "not implemented yet") {
		t.Fatalf("watcher: %d %q", code, errOut.String())
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPrivilegedServerReady measures the time from exec of `server` to READY=1
// on the notify socket, and reports the median over b.N starts (make bench
// runs 10): etcd connected, runtime recovered, RPC bound. etcd runs
// beside it (backendai-etcd), as on a node.
func BenchmarkPrivilegedServerReady(b *testing.B) {
	testenv.RequirePrivileged(b)
	restoreAgentNetwork(b, bridgeName)
	base, env := runEnv(b)
	dir := filepath.Dir(base)
	etcdAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	le, err := startLocalEtcd(b.Context(), localEtcdOptions{Binary: localEtcdBinary(b), DataDir: filepath.Join(dir, "etcd"), ClientAddr: etcdAddr})
	if err != nil || le == nil {
		b.Fatalf("start etcd: %v", err)
	}
	b.Cleanup(func() { _ = le.Stop(context.Background()) })
	conf := filepath.Join(dir, "agent.toml")
	writeFile(b, conf, fmt.Sprintf(`[etcd]
addr = %q
[agent]
backend = "docker"
rpc-listen-addr = { host = "127.0.0.1", port = %d }
internal-addr = { host = "127.0.0.1", port = %d }
pid-file = %q
var-base-path = %q
ipc-base-path = %q
skip-manager-detection = true
[container]
scratch-root = %q
[logging]
drivers = ["console"]
`, etcdAddr, freePort(b), freePort(b), filepath.Join(dir, "agent.pid"), filepath.Join(dir, "var"),
		filepath.Join(dir, "run", "ipc"), filepath.Join(dir, "scratches")))
	var times []time.Duration
	for b.Loop() {
		ns := newNotifySocket(b)
		cmd := agentCmd(b, "server", "-f", conf)
		cmd.Env = append(append(cmd.Env, env...), "NOTIFY_SOCKET="+ns.path)
		var out logBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		b.Cleanup(func() {
			if b.Failed() {
				b.Logf("agent output:\n%s", out.String())
			}
		})
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ns.wait(b, "READY=1", 30*time.Second)
		times = append(times, time.Since(start))
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	b.ReportMetric(float64(med.Microseconds())/1000, "ms-to-READY(median)")
	b.ReportMetric(0, "ns/op")
}
