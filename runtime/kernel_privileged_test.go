package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baiagent/agent/runtime/spec"
	"github.com/baiagent/agent/test/testenv"
)

func slots(cpu, mem string) map[string]string { return map[string]string{"cpu": cpu, "mem": mem} }

func logsOf(t *testing.T, m *Manager, id string) string {
	t.Helper()
	r, err := m.Logs(id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

func TestPrivilegedKernelLifecycle(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	m := e.manager(t)
	events, cancel := m.Subscribe()
	defer cancel()
	st, err := m.Create(t.Context(), CreateRequest{
		ID: "k-life", Image: e.image, Slots: slots("1", "67108864"),
		Args: []string{"/bin/sh", "-c", "echo hi; echo err >&2; cat /home/config/environ.txt | grep -c PATH; exit 3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusRunning || st.InitPID == 0 || len(st.Allocation.CPUs) != 1 {
		t.Fatalf("created state: %+v", st)
	}
	ex, err := m.Wait(t.Context(), "k-life")
	if err != nil {
		t.Fatal(err)
	}
	if ex.Code != 3 || ex.OOMKilled {
		t.Fatalf("exit = %+v, want code 3", ex)
	}
	if got := logsOf(t, m, "k-life"); !strings.Contains(got, "hi\n") || !strings.Contains(got, "err\n") || !strings.Contains(got, "1\n") {
		t.Fatalf("logs: %q", got)
	}
	var seen []EventType
	for len(seen) < 2 {
		select {
		case ev := <-events:
			seen = append(seen, ev.Type)
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far: %v", seen)
		}
	}
	if seen[0] != EventStarted || seen[1] != EventExited {
		t.Fatalf("events = %v", seen)
	}
	if _, err := m.Destroy(t.Context(), "k-life", time.Second); err != nil {
		t.Fatal(err)
	}
	if l := e.leaks(t, m, "k-life"); len(l) > 0 {
		t.Fatalf("destroy left: %v", l)
	}
	if _, err := m.Get("k-life"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("destroyed kernel still known: %v", err)
	}
}

func TestPrivilegedKernelBadInput(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	m := e.manager(t)
	for _, tc := range []struct {
		name string
		req  CreateRequest
		want string
	}{
		{"missing image", CreateRequest{ID: "k-bad1", Image: "bai/nothing:1.0", Slots: slots("1", "67108864")}, "not found"},
		{"beyond capacity", CreateRequest{ID: "k-bad2", Image: e.image, Slots: slots("1", "999999999999999")}, "insufficient"},
		{"unknown slot", CreateRequest{ID: "k-bad3", Image: e.image, Slots: map[string]string{"cpu": "1", "mem": "67108864", "tpu.device": "1"}}, "unknown resource slot"},
		{"missing vfolder", CreateRequest{ID: "k-bad4", Image: e.image, Slots: slots("1", "67108864"), Args: []string{"true"},
			Mounts: []spec.Mount{{Source: "/nonexistent/vfolder", Target: "/home/work/data"}}}, "/nonexistent/vfolder"},
		{"command not found", CreateRequest{ID: "k-bad5", Image: e.image, Slots: slots("1", "67108864"), Args: []string{"/no/such/cmd"}}, "/no/such/cmd"},
		{"bad id", CreateRequest{ID: "../x", Image: e.image, Slots: slots("1", "67108864")}, "invalid argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Create(t.Context(), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
			if tc.req.ID != "../x" {
				if l := e.leaks(t, m, tc.req.ID); len(l) > 0 {
					t.Fatalf("failed create left: %v", l)
				}
			}
		})
	}
	// duplicate id
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-dup", Image: e.image, Slots: slots("1", "67108864"), Args: []string{"sleep", "30"}}); err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(context.Background(), "k-dup", time.Second)
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-dup", Image: e.image, Slots: slots("1", "67108864")}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate id: %v", err)
	}
}

// TestPrivilegedCreateRollback fails a create at every step and proves
// that nothing is left behind.
func TestPrivilegedCreateRollback(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	withNetworking(t, e)
	steps := []string{"image", "allocate", "scratch", "config", "network", "rootfs", "spec", "state", "container", "start", "running"}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			o := e.opts
			o.failAt = func(s string) error {
				if s == step {
					return errors.New("injected failure")
				}
				return nil
			}
			m, err := New(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			id := "k-fail-" + step
			_, err = m.Create(t.Context(), CreateRequest{ID: id, Image: e.image, Slots: slots("1", "67108864"), Args: []string{"sleep", "30"},
				Network: NetBridge, Publish: []Publish{{ContainerPort: 8080}}})
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("create with a failure at %s: %v", step, err)
			}
			if l := e.leaks(t, m, id); len(l) > 0 {
				t.Fatalf("failure at %s left: %v", step, l)
			}
			n := e.opts.Networking
			if ms, _ := n.Publisher.Mappings(); len(ms) != 0 {
				t.Fatalf("failure at %s left rules: %v", step, ms)
			}
			if l := n.Bridge.IPAM().Leases(); len(l) != 0 {
				t.Fatalf("failure at %s left leases: %v", step, l)
			}
			if _, err := os.Stat(n.Bridge.PinPath(id)); err == nil {
				t.Fatalf("failure at %s left a namespace pin", step)
			}
			if n.Ports.Free() == 0 {
				t.Fatalf("failure at %s left the ports taken", step)
			}
		})
	}
}

// TestPrivilegedCreatingKernelIsNotListed: while a Create is under way its
// reserved id is neither listed nor found (a stats sweep or an RPC call
// that came then used to dereference its missing state), and once
// created it is.
func TestPrivilegedCreatingKernelIsNotListed(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	o := e.opts
	var m *Manager
	const id = "k-creating"
	checked := false
	o.failAt = func(step string) error {
		if step != "container" {
			return nil
		}
		checked = true
		for _, st := range m.List() {
			if st.ID == id {
				t.Errorf("listed while being created: %+v", st)
			}
		}
		if _, err := m.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get while being created: %v", err)
		}
		return nil
	}
	var err error
	if m, err = New(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(t.Context(), CreateRequest{ID: id, Image: e.image, Slots: slots("1", "67108864"), Args: []string{"sleep", "30"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = m.Destroy(context.WithoutCancel(t.Context()), id, time.Second) })
	if !checked {
		t.Fatal("the container step was never reached")
	}
	if _, err := m.Get(id); err != nil {
		t.Errorf("Get after create: %v", err)
	}
}

func TestPrivilegedExecAndSignal(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	m := e.manager(t)
	if _, err := m.Create(t.Context(), CreateRequest{ID: "k-exec", Image: e.image, Slots: slots("1", "67108864"),
		Args: []string{"/bin/sh", "-c", "trap 'exit 42' INT; while true; do sleep 0.05; done"}}); err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(context.Background(), "k-exec", time.Second)
	var out bytes.Buffer
	code, err := m.Exec(t.Context(), "k-exec", ExecRequest{Args: []string{"/bin/sh", "-c", "hostname; pwd; exit 5"}, Stdout: &out, Stderr: &out})
	if err != nil || code != 5 || !strings.Contains(out.String(), "k-exec\n/home/work\n") {
		t.Fatalf("exec: %d, %v, %q", code, err, out.String())
	}
	if err := m.Signal("k-exec", syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ex, err := m.Wait(t.Context(), "k-exec")
	if err != nil || ex.Code != 42 {
		t.Fatalf("after SIGINT: %+v, %v", ex, err)
	}
}

// The agent-kill test: an agent process (this test binary in child mode)
// creates kernels and is killed with SIGKILL; one kernel exits with code 7
// while no agent runs; a new agent reattaches the others and reports 7.
const envAgentChild = "RUNTIME_TEST_AGENT_CHILD"

// envAgentChildNet gives the child agent a network (a netSpec as JSON);
// it then creates one bridged kernel with a published port instead.
const envAgentChildNet = "RUNTIME_TEST_AGENT_CHILD_NET"

// agentChild creates the kernels described by the env var and then waits
// to be killed.
func agentChild() int {
	var o Options
	if err := json.Unmarshal([]byte(os.Getenv(envAgentChild)), &o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	e, err := childEnv(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if spec := os.Getenv(envAgentChildNet); spec != "" {
		var ns netSpec
		if err := json.Unmarshal([]byte(spec), &ns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if e.Networking, err = openNetworking(e.StateDir, ns); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	m, err := New(context.Background(), e)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	img, _ := e.Images.List(context.Background())
	if e.Networking != nil {
		if _, err := m.Create(context.Background(), CreateRequest{ID: "k-netrec", Image: img[0].ID, Slots: slots("1", "67108864"),
			Network: NetBridge, Publish: []Publish{{ContainerPort: 8080}},
			Args: []string{"/bin/sh", "-c", "mkdir -p /www && echo hello-after-restart > /www/index.html && exec httpd -f -p 8080 -h /www"}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("READY")
		select {}
	}
	for i, args := range [][]string{
		{"/bin/sh", "-c", "sleep 1.5; echo bye; exit 7"},
		{"/bin/sh", "-c", "while true; do echo tick; sleep 0.2; done"},
		{"/bin/sh", "-c", "sleep 600"},
	} {
		if _, err := m.Create(context.Background(), CreateRequest{ID: fmt.Sprintf("k-rec%d", i), Image: img[0].ID, Slots: slots("1", "67108864"), Args: args}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Println("READY")
	select {}
}

func TestPrivilegedRecoverAfterAgentKill(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	cmd := startAgentChild(t, e, nil)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	time.Sleep(2 * time.Second) // k-rec0 exits with 7 while no agent runs

	m := e.manager(t)
	defer func() {
		for _, st := range m.List() {
			_, _ = m.Destroy(context.Background(), st.ID, time.Second)
		}
	}()
	st, err := m.Get("k-rec0")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != StatusExited || st.Exit == nil || st.Exit.Code != 7 {
		t.Fatalf("k-rec0 after the restart: %+v exit %+v, want exited with 7", st, st.Exit)
	}
	for _, id := range []string{"k-rec1", "k-rec2"} {
		st, err := m.Get(id)
		if err != nil || st.Status != StatusRunning {
			t.Fatalf("%s after the restart: %+v, %v", id, st, err)
		}
	}
	// Logs kept flowing while the agent was down, and still do.
	n1 := strings.Count(logsOf(t, m, "k-rec1"), "tick")
	time.Sleep(500 * time.Millisecond)
	if n2 := strings.Count(logsOf(t, m, "k-rec1"), "tick"); n1 < 5 || n2 <= n1 {
		t.Fatalf("log of k-rec1 not flowing: %d then %d ticks", n1, n2)
	}
	// The reattached kernel's exit is still seen, with its code: SIGTERM
	// goes through the kernel's init to `sleep`, which dies of it.
	if err := m.Signal("k-rec2", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if ex, err := m.Wait(ctx, "k-rec2"); err != nil || ex.Code != 143 || ex.Signal != "SIGTERM" {
		t.Fatalf("reattached kernel's exit: %+v, %v", ex, err)
	}
	if u := e.alloc.Usage(); u["cpu"] == "0" {
		t.Fatalf("allocations not restored: %v", u)
	}
}

// startAgentChild starts this test binary as an agent that creates
// kernels and prints READY; with ns, one bridged kernel.
func startAgentChild(t *testing.T, e *env, ns *netSpec) *exec.Cmd {
	t.Helper()
	spec, _ := json.Marshal(childOptions(e))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envAgentChild+"="+string(spec))
	if ns != nil {
		b, _ := json.Marshal(ns)
		cmd.Env = append(cmd.Env, envAgentChildNet+"="+string(b))
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "READY\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("agent child: %q %v\n%s", buf, err, stderr.String())
	}
	return cmd
}

func childOptions(e *env) Options {
	o := e.opts
	o.Images, o.Alloc, o.Networking, o.ContainerInit = nil, nil, nil, nil
	return o
}

// childEnv rebuilds the image store and allocator in the child agent.
func childEnv(o Options) (Options, error) {
	var err error
	o.Images, err = openStoreAt(filepath.Join(filepath.Dir(o.LogDir), "images"))
	if err != nil {
		return o, err
	}
	o.Alloc, err = testAllocator()
	return o, err
}

// TestPrivilegedRestartKeepsScratch: restart runs the command again in a
// fresh container with the same scratch, rootfs changes and allocation.
func TestPrivilegedRestartKeepsScratch(t *testing.T) {
	testenv.RequirePrivileged(t)
	e := newEnv(t)
	m := e.manager(t)
	st, err := m.Create(t.Context(), CreateRequest{ID: "k-restart", Image: e.image, Slots: slots("1", "67108864"),
		Args: []string{"/bin/sh", "-c", "echo x >> /etc/rootfs-change; date +%s%N >> /home/work/starts; sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(context.Background(), "k-restart", time.Second)
	// lines counts the command's runs so far.
	lines := func() string {
		var out bytes.Buffer
		if _, err := m.Exec(t.Context(), "k-restart", ExecRequest{Args: []string{"/bin/sh", "-c", "wc -l < /home/work/starts; wc -l < /etc/rootfs-change"}, Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	for deadline := time.Now().Add(5 * time.Second); lines() != "1\n1\n"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("first run never wrote its marks: %q", lines())
		}
	}
	if err := m.Restart(t.Context(), "k-restart", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	after, err := m.Get("k-restart")
	if err != nil || after.Status != StatusRunning || !slices.Equal(after.Allocation.CPUs, st.Allocation.CPUs) {
		t.Fatalf("after restart: %+v, %v", after, err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := lines()
		if got == "2\n2\n" {
			break
		}
		if strings.HasPrefix(got, "2\n") || time.Now().After(deadline) {
			t.Fatalf("after restart: runs and rootfs marks %q, want \"2\\n2\\n\" (command run again, rootfs kept)", got)
		}
	}
}
