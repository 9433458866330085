package registry

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// EnvEtcdBinary makes TestEtcdBinary fail, instead of logging and
// returning, when Debian's etcd (package etcd-server) is not installed.
const EnvEtcdBinary = "AGENT_TEST_ETCD_BINARY"

// etcdBinary is where Debian's etcd-server puts the server.
const etcdBinary = "/usr/bin/etcd"

// etcdProcess runs etcdBinary on free loopback ports.
type etcdProcess struct {
	t          testing.TB
	dir        string
	clientPort int
	peerPort   int
	cmd        *exec.Cmd
	out        logBuffer // the server's output, shown when the test fails
}

func (p *etcdProcess) Endpoints() []string {
	return []string{fmt.Sprintf("127.0.0.1:%d", p.clientPort)}
}

func (p *etcdProcess) start() {
	p.t.Helper()
	cu := fmt.Sprintf("http://127.0.0.1:%d", p.clientPort)
	pu := fmt.Sprintf("http://127.0.0.1:%d", p.peerPort)
	p.cmd = exec.Command(etcdBinary,
		"--name", "registry-test",
		"--data-dir", p.dir,
		"--listen-client-urls", cu, "--advertise-client-urls", cu,
		"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
		"--initial-cluster", "registry-test="+pu,
		"--logger", "zap", "--log-level", "error",
	)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", etcdBinary, err)
	}
}

// Stop ends the process (idempotent).
func (p *etcdProcess) Stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// requireEtcdBinary returns false (after logging why) when etcdBinary is
// missing and EnvEtcdBinary is not "1"; it fails t when it is "1".
func requireEtcdBinary(t testing.TB) bool {
	t.Helper()
	if _, err := os.Stat(etcdBinary); err != nil {
		if os.Getenv(EnvEtcdBinary) == "1" {
			t.Fatalf("%s=1 but %s is missing (apt-get install etcd-server): %v", EnvEtcdBinary, etcdBinary, err)
		}
		t.Logf("%s missing: the test against Debian's etcd did not run (apt-get install etcd-server; %s=1 makes this fail)", etcdBinary, EnvEtcdBinary)
		return false
	}
	return true
}

// TestEtcdBinary runs the agent's side against Debian's etcd: overrides,
// registration, manager detection, and a restart with KeepRegistered.
func TestEtcdBinary(t *testing.T) {
	if !requireEtcdBinary(t) {
		return
	}
	p := &etcdProcess{t: t, dir: t.TempDir() + "/data", clientPort: freePort(t), peerPort: freePort(t)}
	p.start()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", etcdBinary, p.out.String())
		}
	})

	opts := testOptions(p.Endpoints(), "local")
	var c *Client
	eventually(t, 20*time.Second, func() error {
		var err error
		c, err = Open(t.Context(), opts)
		return err
	})
	t.Cleanup(func() { _ = c.Close() })
	ctx := t.Context()

	raw := rawClient(t, p.Endpoints())
	rawPut(t, raw, map[string]string{
		"/sorna/local/config/redis/addr":                           "10.0.0.5:6379",
		"/sorna/local/config/plugins/accelerator/cuda/device_mask": "0",
		"/sorna/local/config/network/subnet/agent":                 "10.0.0.0/8",
	})
	a := newAgent(t, c, AgentOptions{ID: "i-deb", RefreshInterval: 100 * ms})
	o, err := a.ReadOverrides(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := o.Redis.String("addr"); v != "10.0.0.5:6379" || o.AgentSubnet != "10.0.0.0/8" ||
		o.AcceleratorPlugins.Sub("cuda") == nil || o.WatcherToken != DefaultWatcherToken {
		t.Errorf("ReadOverrides = %+v", o)
	}

	errc := waitAsync(t, ctx, a)
	notYet(t, errc, 200*ms)
	if err := c.PutDict(ctx, ManagerPrefix, map[string]any{"i-mgr": ManagerUp}); err != nil {
		t.Fatal(err)
	}
	returns(t, errc, 5*time.Second)

	if err := a.Register(ctx, Registration{IP: "10.0.0.8", WatcherPort: 6009}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRunning(ctx); err != nil {
		t.Fatal(err)
	}
	want := Tree{"": "running", "ip": "10.0.0.8", "watcher_port": "6009"}
	wantRegistered(t, c, "i-deb", want)

	stop := runKeep(t, a)
	p.Stop()
	if _, _, err := c.Get(ctx, "x"); err == nil {
		t.Error("Get with etcd stopped succeeded")
	}
	if err := os.RemoveAll(p.dir); err != nil {
		t.Fatal(err)
	}
	p.start()
	wantRegistered(t, c, "i-deb", want)
	stop()
}
