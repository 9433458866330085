package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRegisterSetRunningDeregister(t *testing.T) {
	srv := startEtcd(t)
	raw := rawClient(t, srv.Endpoints())
	c := open(t, testOptions(srv.Endpoints(), "local"))
	a := newAgent(t, c, AgentOptions{ID: "i-agent1"})
	ctx := t.Context()

	if err := a.SetRunning(ctx); !errors.Is(err, ErrNotRegistered) {
		t.Fatalf("SetRunning before Register = %v, want ErrNotRegistered", err)
	}
	if err := a.Register(ctx, Registration{IP: "10.0.0.7", WatcherPort: 6009}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/sorna/local/nodes/agents/i-agent1/":             "starting",
		"/sorna/local/nodes/agents/i-agent1/ip":           "10.0.0.7",
		"/sorna/local/nodes/agents/i-agent1/watcher_port": "6009",
	}
	if d := cmp.Diff(want, rawDump(t, raw)); d != "" {
		t.Errorf("after Register (-want +got):\n%s", d)
	}

	if err := a.SetRunning(ctx); err != nil {
		t.Fatal(err)
	}
	want["/sorna/local/nodes/agents/i-agent1/"] = "running"
	if d := cmp.Diff(want, rawDump(t, raw)); d != "" {
		t.Errorf("after SetRunning (-want +got):\n%s", d)
	}
	// What the manager's get_prefix and get see.
	tr, err := c.GetPrefix(ctx, "nodes/agents/i-agent1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Tree{"": "running", "ip": "10.0.0.7", "watcher_port": "6009"}, tr); d != "" {
		t.Errorf("manager's view (-want +got):\n%s", d)
	}
	if v, _, _ := c.Get(ctx, StatusKey("i-agent1")); v != StatusRunning {
		t.Errorf("status = %q", v)
	}

	if err := a.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	delete(want, "/sorna/local/nodes/agents/i-agent1/")
	if d := cmp.Diff(want, rawDump(t, raw)); d != "" {
		t.Errorf("after Deregister (-want +got):\n%s", d)
	}
	// Deregistered: nothing to keep.
	if restored, err := a.refreshOnce(ctx); err != nil || restored {
		t.Errorf("refresh after Deregister = %v, %v", restored, err)
	}
}

func TestRegisterWithoutWatcherPort(t *testing.T) {
	srv := startEtcd(t)
	raw := rawClient(t, srv.Endpoints())
	c := open(t, testOptions(srv.Endpoints(), "local"))
	a := newAgent(t, c, AgentOptions{ID: "i-2"})
	if err := a.Register(t.Context(), Registration{IP: "agent-host"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/sorna/local/nodes/agents/i-2/":   "starting",
		"/sorna/local/nodes/agents/i-2/ip": "agent-host",
	}
	if d := cmp.Diff(want, rawDump(t, raw)); d != "" {
		t.Errorf("after Register (-want +got):\n%s", d)
	}
}

func TestRegisterChecksInfo(t *testing.T) {
	a := &Agent{id: "i-x", node: StatusKey("i-x"), log: nopLog()}
	for _, r := range []Registration{{}, {IP: "h", WatcherPort: 70000}, {IP: "h", WatcherPort: -1}} {
		if err := a.Register(t.Context(), r); err == nil {
			t.Errorf("Register(%+v) accepted", r)
		}
	}
}

func TestKeepRegisteredRestoresRemovedKeys(t *testing.T) {
	srv := startEtcd(t)
	var logs logBuffer
	opts := testOptions(srv.Endpoints(), "local")
	opts.Log = logs.logger()
	c := open(t, opts)
	a := newAgent(t, c, AgentOptions{ID: "i-k", RefreshInterval: 50 * ms})
	ctx := t.Context()
	if err := a.Register(ctx, Registration{IP: "10.0.0.9", WatcherPort: 6009}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRunning(ctx); err != nil {
		t.Fatal(err)
	}
	done := runKeep(t, a)
	if err := c.DeletePrefix(ctx, "nodes/agents/"); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "nodes/agents/i-k/ip", "wrong"); err != nil {
		t.Fatal(err)
	}
	wantRegistered(t, c, "i-k", Tree{"": "running", "ip": "10.0.0.9", "watcher_port": "6009"})
	// The keys can be visible here before the writing check has its
	// answer from etcd; stopping it then would end the call before it
	// can log. So wait for the line first.
	line := `"msg":"registration restored","component":"etcd","agent_id":"i-k"`
	eventually(t, 5*time.Second, func() error {
		if !strings.Contains(logs.String(), line) {
			return fmt.Errorf("no log line with %s in:\n%s", line, logs.String())
		}
		return nil
	})
	done()
}
