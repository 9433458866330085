package registry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitAsync runs a.WaitForManager and returns its result channel.
func waitAsync(t testing.TB, ctx context.Context, a *Agent) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- a.WaitForManager(ctx) }()
	return errc
}

// notYet fails t if errc delivers within d.
func notYet(t testing.TB, errc <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-errc:
		t.Fatalf("WaitForManager returned early: %v", err)
	case <-time.After(d):
	}
}

// returns fails t unless errc delivers nil within d.
func returns(t testing.TB, errc <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("WaitForManager = %v", err)
		}
	case <-time.After(d):
		t.Fatalf("WaitForManager still waiting after %s", d)
	}
}

func TestWaitForManagerBlocksUntilUp(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	a := newAgent(t, c, AgentOptions{ID: "i-w"})
	errc := waitAsync(t, t.Context(), a)
	notYet(t, errc, 300*ms)
	// A value other than "up" does not count, nor does a delete.
	if err := c.Put(t.Context(), "nodes/manager/i-mgr", "down"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(t.Context(), "nodes/manager/i-mgr"); err != nil {
		t.Fatal(err)
	}
	notYet(t, errc, 300*ms)
	// The manager's register_myself: put_dict({"nodes/manager/{id}": "up"}).
	if err := c.PutDict(t.Context(), "nodes/manager", map[string]any{"i-mgr": ManagerUp}); err != nil {
		t.Fatal(err)
	}
	returns(t, errc, 5*time.Second)
}

func TestWaitForManagerAlreadyThere(t *testing.T) {
	srv := startEtcd(t)
	raw := rawClient(t, srv.Endpoints())
	// Any key under the prefix counts, whatever its value, as upstream.
	rawPut(t, raw, map[string]string{"/sorna/local/nodes/manager/i-mgr": "whatever"})
	c := open(t, testOptions(srv.Endpoints(), "local"))
	returns(t, waitAsync(t, t.Context(), newAgent(t, c, AgentOptions{ID: "i-w"})), 2*time.Second)
}

func TestWaitForManagerSkipped(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	a := newAgent(t, c, AgentOptions{ID: "i-w", SkipManagerDetection: true})
	srv.Stop() // skipping touches no etcd at all
	start := time.Now()
	if err := a.WaitForManager(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*ms {
		t.Errorf("skipped WaitForManager took %s", d)
	}
}

func TestWaitForManagerCancelled(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	ctx, cancel := context.WithCancel(t.Context())
	errc := waitAsync(t, ctx, newAgent(t, c, AgentOptions{ID: "i-w"}))
	notYet(t, errc, 200*ms)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitForManager = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitForManager ignored the cancel")
	}
}

// TestWaitForManagerAcrossRestart: the manager comes up while etcd was
// away; the watch resumes and sees it.
func TestWaitForManagerAcrossRestart(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	errc := waitAsync(t, t.Context(), newAgent(t, c, AgentOptions{ID: "i-w"}))
	notYet(t, errc, 200*ms)
	srv.Restart(false)
	notYet(t, errc, 200*ms)
	raw := rawClient(t, srv.Endpoints())
	rawPut(t, raw, map[string]string{"/sorna/local/nodes/manager/i-mgr": "up"})
	returns(t, errc, 10*time.Second)
}
