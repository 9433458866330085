package daemon

import (
	"context"
	"errors"
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

func TestPIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "agent.pid")
	p, err := WritePIDFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file still there: %v", err)
	}
}

func TestPIDFileRefusesLiveProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.pid")
	// pid 1 is always alive.
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WritePIDFile(path); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("WritePIDFile over a live pid: %v, want ErrAlreadyRunning", err)
	}
	// A stale pid (no such process) is replaced.
	if err := os.WriteFile(path, []byte("2147483646\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := WritePIDFile(path)
	if err != nil {
		t.Fatalf("stale pid file not replaced: %v", err)
	}
	_ = p.Remove()
}

func TestNoPIDFile(t *testing.T) {
	p, err := WritePIDFile(os.DevNull)
	if err != nil || p.Path() != "" {
		t.Fatalf("WritePIDFile(/dev/null) = %v, %v", p, err)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Fatal("/dev/null touched")
	}
}

// fakeNotifySocket listens like systemd does and returns what it receives.
func fakeNotifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
		return ""
	}
}

func TestNotifier(t *testing.T) {
	ch := fakeNotifySocket(t)
	n := NewNotifier(nil)
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch); got != "READY=1" {
		t.Fatalf("first = %q", got)
	}
	if got := recv(t, ch); got != "STOPPING=1" {
		t.Fatalf("second = %q", got)
	}
}

func TestWatchdog(t *testing.T) {
	ch := fakeNotifySocket(t)
	t.Setenv("WATCHDOG_USEC", "40000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- NewNotifier(nil).RunWatchdog(ctx, func() bool { return true }) }()
	for range 2 {
		if got := recv(t, ch); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWatchdogOffWithoutUsec(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	if err := NewNotifier(nil).RunWatchdog(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHTTPServer(t *testing.T) {
	var failing error
	s, err := NewHTTPServer(HTTPOptions{Addr: "127.0.0.1:0", Version: "1.2.3", Checks: []Check{
		{Name: "store", Func: func(context.Context) error { return failing }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve() }()
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	base := "http://" + s.Addr().String()

	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz before ready = %d, want 503", code)
	}
	if code, _ := get(t, base+"/livez"); code != http.StatusOK {
		t.Fatalf("/livez = %d", code)
	}
	s.SetReady(true)
	if code, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz when ready = %d", code)
	}
	code, body := get(t, base+"/health")
	if code != http.StatusOK || !strings.Contains(body, `"version":"1.2.3"`) || !strings.Contains(body, `"store":"ok"`) {
		t.Fatalf("/health = %d %s", code, body)
	}
	failing = errors.New("disk gone")
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "disk gone") {
		t.Fatalf("/readyz with a failing check = %d %s", code, body)
	}
	if code, _ := get(t, base+"/health"); code != http.StatusServiceUnavailable {
		t.Fatalf("/health with a failing check = %d", code)
	}
	code, body = get(t, base+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "backendai_agent_ready 1") ||
		!strings.Contains(body, `backendai_agent_info{version="1.2.3"} 1`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics = %d\n%s", code, body)
	}
}

func TestHTTPServerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := NewHTTPServer(HTTPOptions{Addr: ln.Addr().String()}); err == nil {
		t.Fatal("listening on a taken port succeeded")
	}
}
