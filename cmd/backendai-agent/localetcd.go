//go:build !slimrun

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The local etcd ([etcd] local-fallback) is backendai-etcd, a binary of its
// own: linking etcd's server into the agent would cost every start of the
// agent binary ~100 ms of package initialization. The agent talks to it as
// to any etcd; this file only starts and stops it. No etcd package is
// imported here: the probe is a plain HTTP GET of /health.

// envEtcdBinary names the backendai-etcd executable to run when
// localEtcdOptions.Binary is empty (tests, installs that keep it elsewhere).
const envEtcdBinary = "BACKENDAI_ETCD_BINARY"

// localEtcdReadyTimeout is the default wait for backendai-etcd's "ready"
// line.
const localEtcdReadyTimeout = 15 * time.Second

// localEtcdOptions configure startLocalEtcd.
type localEtcdOptions struct {
	// Binary is the backendai-etcd executable. "" means
	// $BACKENDAI_ETCD_BINARY, else backendai-etcd next to the agent's own
	// executable, else backendai-etcd in $PATH.
	Binary string
	// DataDir is etcd's data directory; backendai-etcd creates it.
	DataDir string
	// ClientAddr is the client address, host:port on loopback: where the
	// agent's configuration expects etcd.
	ClientAddr string
	// PeerAddr is the peer address, host:port on loopback; "" means a free
	// port on ClientAddr's host (a single member has no peers to reach it;
	// the data directory does not tie it to one port).
	PeerAddr string
	// Logger receives etcd's log lines (warnings and errors) and the
	// launcher's own; nil means slog.Default().
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to be ready; 0 means
	// 15 s.
	ReadyTimeout time.Duration
}

// localEtcd is a running backendai-etcd child process.
type localEtcd struct {
	addr    string
	dataDir string
	pid     int
	cmd     *exec.Cmd
	stdin   io.WriteCloser // held open: backendai-etcd stops at its end, so it dies with the agent
	log     *slog.Logger
	tail    *lineTail

	done    chan struct{} // closed once the process has exited and been waited for
	waitErr error         // the exit status; set before done is closed

	ready    atomic.Bool // the ready line came: an exit from now on is unexpected
	stopping atomic.Bool // Stop or a failed start is ending it
	stopOnce sync.Once
	stopErr  error
}

// startLocalEtcd makes sure an etcd answers at o.ClientAddr. When one
// already does (another agent's local etcd, a system etcd), it returns
// (nil, nil): use that one. When something that is not etcd listens there,
// it fails. Otherwise it starts backendai-etcd as a child process in a
// process group of its own (a Ctrl-C at the agent's terminal reaches the
// agent only, which then calls Stop), waits until it is ready, and returns
// its handle. On failure the child is killed and the error carries its last
// lines of stderr. ctx bounds the start only, not the server's life.
func startLocalEtcd(ctx context.Context, o localEtcdOptions) (*localEtcd, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.ClientAddr == "" {
		return nil, errors.New("local etcd: no client address")
	}
	if o.DataDir == "" {
		return nil, errors.New("local etcd: no data directory")
	}
	present, err := probeEtcd(ctx, o.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("local etcd: %w", err)
	}
	if present {
		log.Info("etcd already answers; no local etcd started", "addr", o.ClientAddr)
		return nil, nil
	}
	bin, err := etcdBinary(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("local etcd: %w", err)
	}
	peer := o.PeerAddr
	if peer == "" {
		if peer, err = freePeerAddr(o.ClientAddr); err != nil {
			return nil, fmt.Errorf("local etcd: %w", err)
		}
	}
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = localEtcdReadyTimeout
	}

	cmd := exec.Command(bin, "--data-dir", o.DataDir, "--listen-client", o.ClientAddr, "--listen-peer", peer, "--exit-on-stdin-eof")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("local etcd: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("local etcd: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("local etcd: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("local etcd: start %s: %w", bin, err)
	}
	l := &localEtcd{
		dataDir: o.DataDir, pid: cmd.Process.Pid, cmd: cmd, stdin: stdin, log: log,
		tail: &lineTail{max: 5}, done: make(chan struct{}),
	}
	readyURL := make(chan string, 1)
	var readers sync.WaitGroup
	readers.Add(2)
	go func() {
		defer readers.Done()
		l.readStdout(stdout, readyURL)
	}()
	go func() {
		defer readers.Done()
		l.readStderr(stderr)
	}()
	go func() {
		readers.Wait() // Wait closes the pipes: read them to their end first
		l.waitErr = cmd.Wait()
		close(l.done)
		if l.ready.Load() && !l.stopping.Load() {
			log.Error("local etcd exited", "pid", l.pid, "err", exitString(l.waitErr), "stderr", l.tail.String())
		}
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case u := <-readyURL:
		l.addr = u
	case <-l.done:
		return nil, fmt.Errorf("local etcd: %s exited before it was ready (%s)%s", bin, exitString(l.waitErr), l.tail.suffix())
	case <-timer.C:
		l.kill()
		return nil, fmt.Errorf("local etcd: %s not ready within %s; killed%s", bin, timeout, l.tail.suffix())
	case <-ctx.Done():
		l.kill()
		return nil, fmt.Errorf("local etcd: start interrupted: %w", ctx.Err())
	}
	l.ready.Store(true)
	log.Info("started local etcd", "addr", l.addr, "data_dir", l.dataDir, "pid", l.pid)
	return l, nil
}

// Addr is the client address the server listens on, host:port.
func (l *localEtcd) Addr() string {
	if l == nil {
		return ""
	}
	return l.addr
}

// Done is closed when the process has exited, asked to or not.
func (l *localEtcd) Done() <-chan struct{} {
	return l.done
}

// Stop stops the server: SIGTERM, then SIGKILL when ctx ends first. It
// returns nil when the server stopped as asked, and an error when it had
// already exited, failed while stopping or had to be killed. Calls after
// the first return the first one's result; a nil handle stops nothing.
func (l *localEtcd) Stop(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.stopOnce.Do(func() { l.stopErr = l.stop(ctx) })
	return l.stopErr
}

func (l *localEtcd) stop(ctx context.Context) error {
	select {
	case <-l.done:
		return fmt.Errorf("local etcd (pid %d) had exited (%s)%s", l.pid, exitString(l.waitErr), l.tail.suffix())
	default:
	}
	l.stopping.Store(true)
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.done:
	case <-ctx.Done():
		l.kill()
		return fmt.Errorf("local etcd (pid %d) did not stop in time; killed: %w", l.pid, ctx.Err())
	}
	if l.waitErr != nil {
		return fmt.Errorf("local etcd (pid %d) stopped with %s%s", l.pid, exitString(l.waitErr), l.tail.suffix())
	}
	l.log.Info("stopped local etcd", "addr", l.addr, "pid", l.pid)
	return nil
}

// kill ends the process at once and waits for it. (os.Process signals
// through a pidfd: never a reused pid. backendai-etcd starts no children.)
func (l *localEtcd) kill() {
	l.stopping.Store(true)
	_ = l.cmd.Process.Kill()
	<-l.done
}

// readStdout looks for the line "ready URL" and sends URL's host:port;
// other lines are logged.
func (l *localEtcd) readStdout(r io.Reader, ready chan<- string) {
	sc := bufio.NewScanner(r)
	sent := false
	for sc.Scan() {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "ready "); ok && !sent {
			if p, err := url.Parse(strings.TrimSpace(u)); err == nil && p.Host != "" {
				ready <- p.Host
				sent = true
				continue
			}
		}
		l.log.Info(line)
	}
	_, _ = io.Copy(io.Discard, r)
}

// readStderr forwards etcd's log lines to the logger, one record each, and
// keeps the last few for error messages.
func (l *localEtcd) readStderr(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		level, msg, attrs := parseEtcdLogLine(sc.Text())
		if msg == "" {
			continue
		}
		l.tail.add(summarize(msg, attrs))
		l.log.Log(context.Background(), level, msg, attrs...)
	}
	_, _ = io.Copy(io.Discard, r) // a line over 1 MiB: keep the child from blocking
}

// parseEtcdLogLine reads one line of backendai-etcd's stderr: a zap JSON
// record ({"level":"warn","ts":...,"caller":...,"msg":...,fields...}) or a
// plain line of its own ("backendai-etcd: ..."), which is an error.
func parseEtcdLogLine(line string) (slog.Level, string, []any) {
	line = strings.TrimSpace(line)
	var rec map[string]any
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &rec) != nil {
		return slog.LevelError, line, nil
	}
	level := slog.LevelWarn
	switch lv, _ := rec["level"].(string); lv {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error", "dpanic", "panic", "fatal":
		level = slog.LevelError
	}
	msg, _ := rec["msg"].(string)
	if msg == "" {
		msg = line
	}
	var keys []string
	for k := range rec {
		switch k {
		case "level", "ts", "caller", "msg", "stacktrace":
		default:
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	attrs := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		attrs = append(attrs, k, rec[k])
	}
	return level, msg, attrs
}

// summarize is a log record on one line, for error messages.
func summarize(msg string, attrs []any) string {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(attrs); i += 2 {
		fmt.Fprintf(&b, " %v=%v", attrs[i], attrs[i+1])
	}
	return b.String()
}

// exitString describes the result of Wait.
func exitString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// lineTail keeps the last lines written to it.
type lineTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *lineTail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// String is the kept lines joined with "; ".
func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "; ")
}

// suffix is ": " and the kept lines, or "" when there are none.
func (t *lineTail) suffix() string {
	if s := t.String(); s != "" {
		return ": " + s
	}
	return ""
}

// probeEtcd reports whether an etcd answers at addr. Nothing listening (or
// nothing reachable) is (false, nil); something listening that does not
// answer GET /health as etcd does ({"health":"true",...}; etcd serves it
// on the client port) is an error, since backendai-etcd could not bind the
// port either.
func probeEtcd(ctx context.Context, addr string) (bool, error) {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, nil
	}
	_ = conn.Close()
	cli := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
	if err != nil {
		return false, err
	}
	resp, err := cli.Do(req)
	if err != nil {
		return false, fmt.Errorf("%s accepts connections but is not an etcd answering over plain HTTP (GET /health: %v)", addr, err)
	}
	defer resp.Body.Close()
	var h struct {
		Health *string `json:"health"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&h); err != nil || h.Health == nil {
		return false, fmt.Errorf("%s accepts connections but is not etcd (GET /health: %s)", addr, resp.Status)
	}
	// An etcd that is there but not healthy (no leader yet, an alarm) is
	// still the etcd to use: the registry client reports what it finds.
	return true, nil
}

// etcdBinary finds the backendai-etcd executable (see
// localEtcdOptions.Binary).
func etcdBinary(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p := os.Getenv(envEtcdBinary); p != "" {
		return p, nil
	}
	var tried string
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "backendai-etcd")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
		tried = " (" + p + ")"
	}
	if p, err := exec.LookPath("backendai-etcd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("backendai-etcd is neither next to the agent%s nor in $PATH; build it (make build) or set $%s", tried, envEtcdBinary)
}

// freePeerAddr returns a free port on the host of clientAddr, never the
// client port itself (free too, until etcd binds it, so the kernel may
// hand it out).
func freePeerAddr(clientAddr string) (string, error) {
	host, clientPort, err := net.SplitHostPort(clientAddr)
	if err != nil {
		return "", fmt.Errorf("client address %q: %w", clientAddr, err)
	}
	// Listeners kept open until the end make each try a new port.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for range 8 {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", fmt.Errorf("find a free peer port: %w", err)
		}
		held = append(held, ln)
		if _, port, _ := net.SplitHostPort(ln.Addr().String()); port != clientPort {
			return ln.Addr().String(), nil
		}
	}
	return "", fmt.Errorf("find a free peer port: every try was the client port %s", clientPort)
}
