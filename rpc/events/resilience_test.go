package events

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baiagent/agent/stats"
)

// syncBuffer is a bytes.Buffer for a logger shared by goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestNoRedis drops everything with one warning when no Redis is
// configured.
func TestNoRedis(t *testing.T) {
	var logs syncBuffer
	p, err := New(Options{AgentID: testAgentID, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := t.Context()
	calls := map[string]func() error{
		"publish":        func() error { return p.Publish(ctx, AgentStarted(AgentReasonSelfStarted)) },
		"node stats":     func() error { return p.WriteNodeStats(ctx, stats.NodeStats{}, time.Second) },
		"kernel stats":   func() error { return p.WriteKernelStats(ctx, map[string]map[string]stats.MetricValue{"k": {}}) },
		"presence":       func() error { return p.WriteKernelPresence(ctx, []string{"k"}) },
		"count":          func() error { return p.WriteContainerCount(ctx, 1) },
		"images":         func() error { return p.WriteInstalledImages(ctx, []InstalledImage{{Canonical: "x"}}) },
		"container logs": func() error { _, err := p.PushContainerLog(ctx, "c", strings.NewReader("x"), 0); return err },
	}
	var wg sync.WaitGroup
	for name, call := range calls {
		for range 3 {
			wg.Go(func() {
				if err := call(); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			})
		}
	}
	wg.Wait()
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "component=events") {
		t.Errorf("warning without component: %s", logs.String())
	}
}

// TestOverrideRoleOnly: a role override gives that role a Redis while the
// others drop.
func TestOverrideRoleOnly(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p, err := New(Options{AgentID: testAgentID, Redis: RedisConfig{
		Overrides: map[Role]RedisTarget{RoleStatistics: {Addr: s.Addr}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(t.Context(), AgentStarted("x")); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteContainerCount(t.Context(), 7); err != nil {
		t.Fatal(err)
	}
	if v := s.client(t, DBStatistics).Get(t.Context(), ContainerCountKey(testAgentID)).Val(); v != "7" {
		t.Errorf("container count %q", v)
	}
	if n := s.client(t, DBStream).XLen(t.Context(), StreamKey).Val(); n != 0 {
		t.Errorf("stream has %d entries; the stream role has no Redis", n)
	}
}

func TestOptionsChecked(t *testing.T) {
	for name, o := range map[string]Options{
		"no agent id":        {Redis: RedisConfig{RedisTarget: RedisTarget{Addr: "127.0.0.1:6379"}}},
		"bad format":         {AgentID: "a", WireFormat: "xml"},
		"bad address":        {AgentID: "a", Redis: RedisConfig{RedisTarget: RedisTarget{Addr: "localhost"}}},
		"sentinel no master": {AgentID: "a", Redis: RedisConfig{RedisTarget: RedisTarget{Sentinel: []string{"127.0.0.1:26379"}}}},
	} {
		if _, err := New(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", name, err)
		}
	}
}

func TestClosed(t *testing.T) {
	p, err := New(Options{AgentID: "a", Redis: RedisConfig{RedisTarget: RedisTarget{Addr: "127.0.0.1:1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if err := p.Publish(t.Context(), AgentStarted("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after close: %v", err)
	}
	if err := p.WriteContainerCount(t.Context(), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
}

// TestRedisRestart kills redis-server under a publishing producer: calls
// fail fast with errors while it is away, and succeed again once it is
// back on the same port, without a new Producer.
func TestRedisRestart(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	ctx := t.Context()
	if err := p.Publish(ctx, AgentStarted("before")); err != nil {
		t.Fatal(err)
	}
	s.stop()
	for i := range 10 {
		start := time.Now()
		err := p.Publish(ctx, AgentStarted("during"))
		if err == nil {
			t.Fatal("publish succeeded with redis-server gone")
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("call %d took %v to fail: %v", i, d, err)
		}
		if err := p.WriteContainerCount(ctx, i); err == nil {
			t.Fatal("write succeeded with redis-server gone")
		}
	}
	s.start(t)
	// go-redis redials a lost server once a second per client, so each
	// client's calls succeed again within about a second.
	eventually(t, "publish", func(ctx context.Context) error { return p.Publish(ctx, AgentStarted("after")) })
	eventually(t, "write", func(ctx context.Context) error { return p.WriteContainerCount(ctx, 3) })
	msgs, err := s.client(t, DBStream).XRange(ctx, StreamKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	// The server kept nothing (no persistence): only what came after.
	if len(msgs) != 1 || msgs[0].Values["name"] != NameAgentStarted {
		t.Errorf("stream after restart: %v", msgs)
	}
}

// eventually retries call until it succeeds, for up to 10 s.
func eventually(t *testing.T, what string, call func(context.Context) error) {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := call(ctx)
		cancel()
		if err == nil {
			t.Logf("%s resumed after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s did not resume: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
