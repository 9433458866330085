package registry

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestUnavailableFailsFastAndReconnects: with etcd stopped, every kind of
// call fails within the call timeout with ErrUnavailable; once etcd is back
// on the same ports and data, the same client works again by itself.
func TestUnavailableFailsFastAndReconnects(t *testing.T) {
	srv := startEtcd(t)
	opts := testOptions(srv.Endpoints(), "local")
	c := open(t, opts)
	a := newAgent(t, c, AgentOptions{ID: "i-r"})
	ctx := t.Context()
	if err := c.Put(ctx, "config/k", "v"); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, _, err := c.Get(ctx, "config/k"); return err }},
		{"put", func() error { return c.Put(ctx, "config/k", "w") }},
		{"get prefix", func() error { _, err := c.GetPrefix(ctx, "config"); return err }},
		{"put dict", func() error { return c.PutDict(ctx, "config", map[string]any{"a": "b"}) }},
		{"delete", func() error { return c.Delete(ctx, "config/k") }},
		{"read overrides", func() error { _, err := a.ReadOverrides(ctx); return err }},
		{"register", func() error { return a.Register(ctx, Registration{IP: "10.0.0.1"}) }},
		{"wait for manager", func() error { return a.WaitForManager(ctx) }},
	} {
		start := time.Now()
		err := tc.call()
		took := time.Since(start)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s with etcd down = %v, want ErrUnavailable", tc.name, err)
			continue
		}
		if took > opts.CallTimeout+time.Second {
			t.Errorf("%s took %s, call timeout is %s", tc.name, took, opts.CallTimeout)
		}
		if !strings.Contains(err.Error(), "etcd unavailable") {
			t.Errorf("%s error %q does not say etcd is unavailable", tc.name, err)
		}
	}

	srv.Restart(false)
	eventually(t, 10*time.Second, func() error {
		v, ok, err := c.Get(ctx, "config/k")
		if err == nil && (!ok || v != "v") {
			t.Fatalf("after restart config/k = %q, %v; want the value written before", v, ok)
		}
		return err
	})
}

func TestOpenFailsFastWithoutEtcd(t *testing.T) {
	opts := testOptions([]string{"127.0.0.1:" + itoa(freePort(t))}, "local")
	opts.DialTimeout = 500 * ms
	start := time.Now()
	c, err := Open(t.Context(), opts)
	if err == nil {
		_ = c.Close()
		t.Fatal("Open without etcd succeeded")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Open took %s with a dial timeout of %s", took, opts.DialTimeout)
	}
}

// TestKeepRegisteredAfterEtcdLostItsData: etcd goes away and comes back
// empty (same ports, wiped data dir); KeepRegistered writes the
// registration again, with the status last set.
func TestKeepRegisteredAfterEtcdLostItsData(t *testing.T) {
	srv := startEtcd(t)
	var logs logBuffer
	opts := testOptions(srv.Endpoints(), "local")
	opts.Log = logs.logger()
	c := open(t, opts)
	a := newAgent(t, c, AgentOptions{ID: "i-keep", RefreshInterval: 100 * ms})
	ctx := t.Context()
	if err := a.Register(ctx, Registration{IP: "10.1.2.3", WatcherPort: 6009}); err != nil {
		t.Fatal(err)
	}
	stop := runKeep(t, a)
	if err := a.SetRunning(ctx); err != nil {
		t.Fatal(err)
	}
	want := Tree{"": "running", "ip": "10.1.2.3", "watcher_port": "6009"}
	wantRegistered(t, c, "i-keep", want)

	srv.Stop()
	eventually(t, 5*time.Second, func() error { // a check failed while etcd is away
		if !strings.Contains(logs.String(), `"msg":"etcd unreachable"`) {
			return errors.New("no failed check yet")
		}
		return nil
	})
	srv.Restart(true)
	wantRegistered(t, c, "i-keep", want)
	stop()
	// "registration restored" is not checked here: the write may land in
	// etcd just as its call times out, and the next check then finds the
	// keys in place.
	for _, line := range []string{
		`"msg":"etcd unreachable","component":"etcd"`,
		`"msg":"etcd reachable again","component":"etcd"`,
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("no log line with %s in:\n%s", line, logs.String())
		}
	}
}

// TestKeepRegisteredAfterFailedRegister: Register failed while etcd was
// away; the recorded registration is written once etcd is there.
func TestKeepRegisteredAfterFailedRegister(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	a := newAgent(t, c, AgentOptions{ID: "i-late", RefreshInterval: 100 * ms})
	srv.Stop()
	if err := a.Register(t.Context(), Registration{IP: "10.9.9.9"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Register with etcd down = %v", err)
	}
	if err := a.SetRunning(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SetRunning with etcd down = %v", err)
	}
	stop := runKeep(t, a)
	srv.Restart(false)
	wantRegistered(t, c, "i-late", Tree{"": "running", "ip": "10.9.9.9"})
	stop()
}
