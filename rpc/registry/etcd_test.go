package registry

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdServer is an embedded etcd on free loopback ports with its data in
// a test directory.
type etcdServer struct {
	t          testing.TB
	dir        string
	clientPort int
	peerPort   int
	e          *embed.Etcd
}

// startEtcd starts an embedded etcd; it stops with the test.
func startEtcd(t testing.TB) *etcdServer {
	t.Helper()
	// A port free a moment ago may be taken by another package's test
	// meanwhile: take new ports then.
	for attempt := 1; ; attempt++ {
		s := &etcdServer{t: t, dir: t.TempDir(), clientPort: freePort(t), peerPort: freePort(t)}
		err := s.tryStart()
		if err == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("start etcd: %v", err)
		}
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the client address, host:port.
func (s *etcdServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.clientPort) }

// Endpoints are the client addresses for Options.Addrs.
func (s *etcdServer) Endpoints() []string { return []string{s.Addr()} }

func (s *etcdServer) start() {
	s.t.Helper()
	if err := s.tryStart(); err != nil {
		s.t.Fatalf("start etcd: %v", err)
	}
}

func (s *etcdServer) tryStart() error {
	cfg := embed.NewConfig()
	cfg.Name = "registry-test"
	cfg.Dir = s.dir
	cu := url.URL{Scheme: "http", Host: s.Addr()}
	pu := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", s.peerPort)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.EnableGRPCGateway = false
	cfg.UnsafeNoFsync = true
	cfg.BcryptCost = 4 // bcrypt's least: logins fit the tests' call timeout under -race
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("etcd failed: %w", err)
	case <-time.After(20 * time.Second):
		e.Close()
		return fmt.Errorf("etcd not ready within 20s")
	}
	s.e = e
	return nil
}

// Stop stops the server (idempotent).
func (s *etcdServer) Stop() {
	if s.e != nil {
		s.e.Close()
		s.e = nil
	}
}

// Restart starts the server again on the same ports; with wipe, from an
// empty data directory (an etcd that lost its data).
func (s *etcdServer) Restart(wipe bool) {
	s.t.Helper()
	s.Stop()
	if wipe {
		if err := os.RemoveAll(s.dir); err != nil {
			s.t.Fatalf("wipe etcd data: %v", err)
		}
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			s.t.Fatalf("wipe etcd data: %v", err)
		}
	}
	s.start()
}

// raw returns a plain etcd client, to check the keys as stored.
func rawClient(t testing.TB, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("raw etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// rawPut writes full keys as upstream would have.
func rawPut(t testing.TB, cli *clientv3.Client, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, k, v)
		cancel()
		if err != nil {
			t.Fatalf("raw put %s: %v", k, err)
		}
	}
}

// rawDump returns every key under /sorna/ with its value.
func rawDump(t testing.TB, cli *clientv3.Client) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/sorna/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("raw get: %v", err)
	}
	out := map[string]string{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = string(kv.Value)
	}
	return out
}

// testOptions are quick timeouts for tests.
func testOptions(addrs []string, namespace string) Options {
	return Options{
		Namespace:         namespace,
		Addrs:             addrs,
		DialTimeout:       3 * time.Second,
		CallTimeout:       500 * time.Millisecond,
		MaxReconnectDelay: 200 * time.Millisecond,
	}
}

// open opens a Client; it closes with the test.
func open(t testing.TB, opts Options) *Client {
	t.Helper()
	c, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newAgent returns an Agent over c.
func newAgent(t testing.TB, c *Client, opts AgentOptions) *Agent {
	t.Helper()
	a, err := NewAgent(c, opts)
	if err != nil {
		t.Fatalf("new agent: %v", err)
	}
	return a
}

// eventually polls f until it returns nil or d passes.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nopLog is a logger that drops everything.
func nopLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

const ms = time.Millisecond

// runKeep runs a.KeepRegistered until the returned function (or the test)
// ends it; the function checks that it returned nil.
func runKeep(t testing.TB, a *Agent) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- a.KeepRegistered(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("KeepRegistered = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("KeepRegistered did not return after cancel")
		}
	}
	t.Cleanup(cancel)
	return stop
}

// wantRegistered waits until the agent's keys read as want.
func wantRegistered(t testing.TB, c *Client, id string, want Tree) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		got, err := c.GetPrefix(t.Context(), "nodes/agents/"+id)
		if err != nil {
			return err
		}
		if d := cmp.Diff(want, got); d != "" {
			return fmt.Errorf("registration (-want +got):\n%s", d)
		}
		return nil
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// logBuffer collects log lines as JSON, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logger returns a debug logger writing to b.
func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
