package events

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/baiagent/agent/rpc/codec"
)

// envRedis makes a missing redis-server fail the tests that need one
// instead of passing them with a log line.
const envRedis = "AGENT_TEST_REDIS"

// redisServer is a redis-server of a test, on a loopback port of its
// own, with no persistence.
type redisServer struct {
	bin  string
	dir  string
	port int
	Addr string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *bytes.Buffer
}

// startRedis starts a redis-server for t and stops it in Cleanup. ok is
// false when there is none (then the test has failed, with envRedis=1, or
// logged why and should return).
func startRedis(t testing.TB) (s *redisServer, ok bool) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin, err = exec.LookPath("/usr/bin/redis-server")
	}
	if err != nil {
		msg := "no redis-server (apt-get install redis-server)"
		if os.Getenv(envRedis) == "1" {
			t.Fatalf("%s=1 but %s", envRedis, msg)
		}
		t.Logf("Redis tests not run: %s; set %s=1 to make this fatal", msg, envRedis)
		return nil, false
	}
	s = &redisServer{bin: bin, dir: t.TempDir(), port: freePort(t)}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	t.Cleanup(s.stop)
	s.start(t)
	return s, true
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the server on its port and waits for PING.
func (s *redisServer) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = new(bytes.Buffer)
	s.cmd = exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	c := rawClient(s.Addr, 0)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s: no PONG: %v\n%s", s.Addr, err, s.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the server and waits for it.
func (s *redisServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// client returns a client of database db for reading back, closed in
// Cleanup.
func (s *redisServer) client(t testing.TB, db int) *redis.Client {
	t.Helper()
	c := rawClient(s.Addr, db)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func rawClient(addr string, db int) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, DB: db, DisableIdentity: true, MaxRetries: -1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
}

// newProducer returns a Producer on s (all roles) with opts' other
// settings, closed in Cleanup.
func newProducer(t testing.TB, s *redisServer, opts Options) *Producer {
	t.Helper()
	if opts.AgentID == "" {
		opts.AgentID = testAgentID
	}
	opts.Redis.Addr = s.Addr
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

const testAgentID = "i-agent-test"

// mustUUID parses a UUID for tests.
func mustUUID(t testing.TB, s string) codec.UUID {
	t.Helper()
	u, err := codec.ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
