package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/codec"
)

// ctlTestError is a handler error naming its Python class.
type ctlTestError struct{ name, msg string }

func (e *ctlTestError) Error() string         { return e.msg }
func (e *ctlTestError) ExceptionName() string { return e.name }

// ctlServer is a Callosum server that records the calls it gets and
// answers them with reply.
type ctlServer struct {
	addr  string
	mu    sync.Mutex
	calls []ctlRecorded
}

type ctlRecorded struct {
	method string
	call   codec.Call
}

func startCtlServer(t *testing.T, reply func(method string, call codec.Call) (any, error)) *ctlServer {
	t.Helper()
	s := &ctlServer{}
	h := callosum.HandlerFunc(func(ctx context.Context, method string, body []byte) ([]byte, error) {
		call, err := codec.DecodeCall(body)
		if err != nil {
			t.Errorf("%s: %v", method, err)
			return nil, err
		}
		s.mu.Lock()
		s.calls = append(s.calls, ctlRecorded{method, call})
		s.mu.Unlock()
		v, err := reply(method, call)
		if err != nil {
			return nil, err
		}
		return codec.EncodeResult(v)
	})
	srv, err := callosum.NewServer(callosum.Options{Addr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	s.addr = "tcp://" + srv.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// only returns the one recorded call, which must be of method.
func (s *ctlServer) only(t *testing.T, method string) codec.Call {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) != 1 || s.calls[0].method != method {
		t.Fatalf("calls %+v, want one %s", s.calls, method)
	}
	c := s.calls[0].call
	if v, ok := c.Kwargs["agent_id"]; !ok || v != nil {
		t.Errorf("%s: kwargs %v, want agent_id=None", method, c.Kwargs)
	}
	return c
}

// runCtlCmd runs `backendai-agent ctl ARGS...`.
func runCtlCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"ctl"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// echoPing answers ping with its argument.
func echoPing(method string, call codec.Call) (any, error) {
	if method == "ping" {
		return call.String(0, "msg")
	}
	return nil, fmt.Errorf("%s: %w", method, callosum.ErrUnknownMethod)
}

func TestCtlPing(t *testing.T) {
	s := startCtlServer(t, echoPing)
	code, out, errOut := runCtlCmd(t, "--addr", s.addr, "ping")
	if code != 0 || !strings.HasPrefix(out, "pong ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(out, "pong "))); err != nil {
		t.Errorf("rtt in %q: %v", out, err)
	}
	c := s.only(t, "ping")
	if len(c.Args) != 1 {
		t.Fatalf("args %v", c.Args)
	}
	if msg, _ := c.Args[0].(string); !strings.HasPrefix(msg, "ctl-") {
		t.Errorf("ping arg %#v, want ctl-<random>", c.Args[0])
	}
}

func TestCtlPingCount(t *testing.T) {
	s := startCtlServer(t, echoPing)
	// The address without a scheme, and flags after the command.
	code, out, errOut := runCtlCmd(t, "ping", "--count", "20", "--addr", strings.TrimPrefix(s.addr, "tcp://"))
	if code != 0 || !strings.HasPrefix(out, "pong count=20 ") || !strings.Contains(out, " p50=") || !strings.Contains(out, " p99=") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	s.mu.Lock()
	n := len(s.calls)
	seen := map[any]bool{}
	for _, c := range s.calls {
		seen[c.call.Args[0]] = true
	}
	s.mu.Unlock()
	if n != 20 || len(seen) != 20 {
		t.Errorf("%d calls with %d distinct messages, want 20", n, len(seen))
	}
}

func TestCtlCreate(t *testing.T) {
	const kid = "0f1e2d3c-4b5a-4697-8877-665544332211"
	result := []any{map[string]any{
		"id": kid, "kernel_host": "10.0.0.5", "repl_in_port": 30001, "repl_out_port": 30002,
		"stdin_port": 30003, "stdout_port": 30004,
		"service_ports": []any{map[string]any{"name": "jupyter", "protocol": "http",
			"container_ports": []any{8080}, "host_ports": []any{30005}, "is_inference": false}},
		"container_id": strings.Repeat("c", 64), "resource_spec": map[string]any{},
		"attached_devices": map[string]any{}, "agent_addr": "tcp://10.0.0.5:6001", "scaling_group": "default",
	}}
	s := startCtlServer(t, func(string, codec.Call) (any, error) { return result, nil })
	src := t.TempDir()
	code, out, errOut := runCtlCmd(t, "--addr", s.addr, "create", "cr.backend.ai/stable/python:3.13-ubuntu24.04",
		"--cpu", "2", "--mem", "512m", "--env", "FOO=bar", "--env", "EMPTY=",
		"--mount", src+":/data:ro", "--mount", src+":work2",
		"--id", strings.ToUpper(kid), "--cmd", "sleep infinity")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := kid + "\ncontainer_id " + strings.Repeat("c", 64) + "\nkernel_host 10.0.0.5\nservice jupyter http 8080->30005\n"
	if out != want {
		t.Errorf("stdout\n%s\nwant\n%s", out, want)
	}

	c := s.only(t, "create_kernels")
	if len(c.Args) != 5 {
		t.Fatalf("%d args, want 5", len(c.Args))
	}
	if c.Args[0] != kid {
		t.Errorf("session_id %#v, want the kernel id", c.Args[0])
	}
	if ids, _ := c.Args[1].([]any); len(ids) != 1 || ids[0] != kid {
		t.Errorf("kernel_ids %#v", c.Args[1])
	}
	configs, _ := c.Args[2].([]any)
	if len(configs) != 1 {
		t.Fatalf("configs %#v", c.Args[2])
	}
	cfg, ok := configs[0].(map[string]any)
	if !ok {
		t.Fatalf("config %T", configs[0])
	}
	checkEnum := func(where string, v any, class, value string) {
		t.Helper()
		e, ok := v.(codec.Enum)
		if !ok || e.Module != "ai.backend.common.types" || e.Class != class || e.Value != value {
			t.Errorf("%s = %#v, want %s(%q)", where, v, class, value)
		}
	}
	image := cfg["image"].(map[string]any)
	if image["canonical"] != "cr.backend.ai/stable/python:3.13-ubuntu24.04" || image["is_local"] != true ||
		image["digest"] != "" || image["repo_digest"] != nil || image["project"] != "stable" {
		t.Errorf("image %#v", image)
	}
	if reg := image["registry"].(map[string]any); len(reg) != 4 || reg["username"] != nil || reg["password"] != nil {
		t.Errorf("image.registry %#v", reg)
	}
	checkEnum("image.auto_pull", image["auto_pull"], "AutoPullBehavior", "digest")
	checkEnum("session_type", cfg["session_type"], "SessionTypes", "interactive")
	checkEnum("cluster_mode", cfg["cluster_mode"], "ClusterMode", "single-node")
	for k, want := range map[string]any{
		"kernel_id": kid, "session_id": kid, "network_id": kid, "owner_project_id": nil,
		"cluster_role": "main", "cluster_idx": int64(1), "cluster_hostname": "main1", "local_rank": int64(0),
		"uid": nil, "main_gid": nil, "idle_timeout": int64(0), "bootstrap_script": "",
		"startup_command": "sleep infinity", "scaling_group": "default", "agent_addr": s.addr,
		"endpoint_id": nil, "internal_data": nil,
	} {
		if got, ok := cfg[k]; !ok || got != want {
			t.Errorf("config[%s] = %#v, want %#v", k, got, want)
		}
	}
	if _, err := codec.ParseUUID(cfg["owner_user_id"].(string)); err != nil {
		t.Errorf("owner_user_id: %v", err)
	}
	for _, k := range []string{"supplementary_gids", "package_directory", "preopen_ports", "allocated_host_ports"} {
		if l, ok := cfg[k].([]any); !ok || len(l) != 0 {
			t.Errorf("config[%s] = %#v, want []", k, cfg[k])
		}
	}
	slots := cfg["resource_slots"].(map[string]any)
	if len(slots) != 2 || slots["cpu"] != "2" || slots["mem"] != "536870912" {
		t.Errorf("resource_slots %#v", slots)
	}
	if opts, ok := cfg["resource_opts"].(map[string]any); !ok || len(opts) != 0 {
		t.Errorf("resource_opts %#v", cfg["resource_opts"])
	}
	env := cfg["environ"].(map[string]any)
	for k, want := range map[string]string{
		"FOO": "bar", "EMPTY": "", "BACKENDAI_KERNEL_ID": kid, "BACKENDAI_SESSION_ID": kid,
		"BACKENDAI_CLUSTER_ROLE": "main", "BACKENDAI_CLUSTER_IDX": "1", "BACKENDAI_CLUSTER_HOST": "main1",
		"BACKENDAI_CLUSTER_SIZE": "1",
	} {
		if env[k] != want {
			t.Errorf("environ[%s] = %#v, want %q", k, env[k], want)
		}
	}
	mounts := cfg["mounts"].([]any)
	if len(mounts) != 2 {
		t.Fatalf("mounts %#v", mounts)
	}
	for i, want := range []map[string]any{
		{"name": "data", "vfsubpath": ".", "host_path": src, "kernel_path": "/data", "mount_perm": "ro", "usage_mode": "general"},
		{"name": "work2", "vfsubpath": ".", "host_path": src, "kernel_path": "/home/work/work2", "mount_perm": "rw", "usage_mode": "general"},
	} {
		m := mounts[i].(map[string]any)
		for k, v := range want {
			if m[k] != v {
				t.Errorf("mounts[%d][%s] = %#v, want %#v", i, k, m[k], v)
			}
		}
		if vfid, _ := m["vfid"].(string); vfid == "" {
			t.Errorf("mounts[%d] vfid %#v", i, m["vfid"])
		}
	}

	ci := c.Args[3].(map[string]any)
	checkEnum("cluster_info.mode", ci["mode"], "ClusterMode", "single-node")
	if ci["size"] != int64(1) || ci["ssh_keypair"] != nil || ci["cluster_ssh_port_mapping"] != nil {
		t.Errorf("cluster_info %#v", ci)
	}
	if r := ci["replicas"].(map[string]any); len(r) != 1 || r["main"] != int64(1) {
		t.Errorf("replicas %#v", r)
	}
	if nc, ok := ci["network_config"].(map[string]any); !ok || len(nc) != 0 {
		t.Errorf("network_config %#v, want {} for bridge", ci["network_config"])
	}

	refs, ok := c.Args[4].(map[any]any)
	if !ok || len(refs) != 1 {
		t.Fatalf("kernel_image_refs %#v", c.Args[4])
	}
	ref, ok := refs[mustUUID(t, kid)].(codec.ImageRef)
	if !ok {
		t.Fatalf("kernel_image_refs %#v, want ImageRef under UUID(%s)", refs, kid)
	}
	if ref.Name != "stable/python" || ref.Tag != "3.13-ubuntu24.04" || ref.Registry != "cr.backend.ai" ||
		ref.Project == nil || *ref.Project != "stable" || !ref.IsLocal || ref.Architecture == "" {
		t.Errorf("ImageRef %#v", ref)
	}
}

func mustUUID(t *testing.T, s string) codec.UUID {
	t.Helper()
	u, err := codec.ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCtlCreateNetworkAndDefaults(t *testing.T) {
	for _, tc := range []struct {
		net  string
		want map[string]any
	}{{"", map[string]any{}}, {"host", map[string]any{"mode": "host"}}, {"none", map[string]any{"mode": "none"}}} {
		s := startCtlServer(t, func(string, codec.Call) (any, error) { return []any{}, nil })
		args := []string{"--addr", s.addr, "create", "alpine"}
		if tc.net != "" {
			args = append(args, "--net", tc.net)
		}
		code, out, errOut := runCtlCmd(t, args...)
		if code != 0 {
			t.Fatalf("--net %q: exit %d, stderr %q", tc.net, code, errOut)
		}
		c := s.only(t, "create_kernels")
		kid := strings.TrimSpace(out)
		if u := mustUUID(t, kid); u[6]>>4 != 4 || u.String() != kid {
			t.Errorf("kernel id %q is not a UUID v4", kid)
		}
		if nc := c.Args[3].(map[string]any)["network_config"]; fmt.Sprint(nc) != fmt.Sprint(tc.want) {
			t.Errorf("--net %q: network_config %#v, want %#v", tc.net, nc, tc.want)
		}
		cfg := c.Args[2].([]any)[0].(map[string]any)
		if slots := cfg["resource_slots"].(map[string]any); slots["cpu"] != "1" || slots["mem"] != "1073741824" {
			t.Errorf("default resource_slots %#v", slots)
		}
		if cfg["startup_command"] != nil {
			t.Errorf("startup_command %#v, want None", cfg["startup_command"])
		}
		ref := c.Args[4].(map[any]any)[mustUUID(t, kid)].(codec.ImageRef)
		if ref.Name != "alpine" || ref.Tag != "latest" || ref.Registry != "" || ref.Project != nil {
			t.Errorf("ImageRef of alpine %#v", ref)
		}
	}
}

func TestCtlList(t *testing.T) {
	created := 1767225600.5 // 2026-01-01T00:00:00.5Z
	s := startCtlServer(t, func(string, codec.Call) (any, error) {
		return []any{
			map[string]any{"id": "k1", "session_id": "k1", "image": "alpine:3.20", "status": "running", "created": created, "exit_code": nil},
			map[string]any{"id": "k2", "session_id": "s2", "image": "python:3.13", "status": "exited", "created": created, "exit_code": 3},
		}, nil
	})
	code, out, errOut := runCtlCmd(t, "--addr", s.addr, "list")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if c := s.only(t, "list_kernels"); len(c.Args) != 0 {
		t.Errorf("list_kernels args %v, want none", c.Args)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	when := time.Unix(1767225600, 0).Local().Format(time.DateTime)
	if len(lines) != 3 || strings.Fields(lines[0])[0] != "ID" ||
		strings.Join(strings.Fields(lines[1]), " ") != "k1 alpine:3.20 running "+when+" -" ||
		strings.Join(strings.Fields(lines[2]), " ") != "k2 python:3.13 exited "+when+" 3" {
		t.Errorf("table:\n%s", out)
	}
}

func TestCtlLogs(t *testing.T) {
	s := startCtlServer(t, func(string, codec.Call) (any, error) {
		return map[string]any{"logs": "hello\nworld\n"}, nil
	})
	code, out, errOut := runCtlCmd(t, "logs", "--addr", s.addr, "k1")
	if code != 0 || out != "hello\nworld\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if c := s.only(t, "get_logs"); len(c.Args) != 1 || c.Args[0] != "k1" {
		t.Errorf("get_logs args %#v", c.Args)
	}
}

func TestCtlDestroy(t *testing.T) {
	for _, tc := range []struct {
		flags       []string
		session     string
		reason      any
		description string
	}{
		{nil, "k1", codec.Enum{Module: "ai.backend.common.events.event_types.kernel.types", Class: "KernelLifecycleEventReason", Value: "user-requested"}, "defaults"},
		{[]string{"--session", "s1", "--reason", "idle-timeout"}, "s1", codec.Enum{Module: "ai.backend.common.events.event_types.kernel.types", Class: "KernelLifecycleEventReason", Value: "idle-timeout"}, "enum reason"},
		{[]string{"--reason", "because"}, "k1", "because", "free-text reason"},
	} {
		s := startCtlServer(t, func(string, codec.Call) (any, error) { return nil, nil })
		code, out, errOut := runCtlCmd(t, append([]string{"--addr", s.addr, "destroy", "k1"}, tc.flags...)...)
		if code != 0 || out != "destroyed k1\n" {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", tc.description, code, out, errOut)
		}
		c := s.only(t, "destroy_kernel")
		if len(c.Args) != 3 || c.Args[0] != "k1" || c.Args[1] != tc.session || c.Args[2] != tc.reason {
			t.Errorf("%s: args %#v", tc.description, c.Args)
		}
		if v, ok := c.Kwargs["suppress_events"]; !ok || v != false {
			t.Errorf("%s: kwargs %#v, want suppress_events=False", tc.description, c.Kwargs)
		}
	}
}

// TestCtlJSON: hwinfo and call print results as JSON, codec types
// included.
func TestCtlJSON(t *testing.T) {
	u := mustUUID(t, "6a1b7c2d-0e4f-4a5b-9c8d-7e6f5a4b3c2d")
	s := startCtlServer(t, func(method string, call codec.Call) (any, error) {
		switch method {
		case "gather_hwinfo":
			return map[string]any{"cpu": map[string]any{"status": "healthy", "status_info": nil, "metadata": map[string]any{"cores": "8"}}}, nil
		case "echo_args":
			return map[string]any{"args": call.Args, "kwargs": call.Kwargs}, nil
		}
		return map[any]any{u: codec.Decimal("1.5"), int64(3): []byte{0xff, 0x00}, "text": []byte("plain")}, nil
	})
	code, out, errOut := runCtlCmd(t, "--addr", s.addr, "hwinfo")
	if code != 0 {
		t.Fatalf("hwinfo: exit %d, stderr %q", code, errOut)
	}
	var hw map[string]map[string]any
	if err := json.Unmarshal([]byte(out), &hw); err != nil || hw["cpu"]["status"] != "healthy" {
		t.Fatalf("hwinfo output %q: %v", out, err)
	}
	if c := s.only(t, "gather_hwinfo"); len(c.Args) != 0 {
		t.Errorf("gather_hwinfo args %v", c.Args)
	}

	code, out, errOut = runCtlCmd(t, "--addr", s.addr, "call", "scan_gpu_alloc_map")
	if code != 0 {
		t.Fatalf("call: exit %d, stderr %q", code, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("call output %q: %v", out, err)
	}
	if got[u.String()] != "1.5" || got["3"] != "/wA=" || got["text"] != "plain" {
		t.Errorf("call output %v", got)
	}

	code, out, errOut = runCtlCmd(t, "--addr", s.addr, "call", "--kwarg", "suppress_events=true",
		"echo_args", `"s"`, "7", "-2", "1.25", `[1,"x",null]`, `{"a":{"b":true}}`, "bare-word", "--", "--not-a-flag")
	if code != 0 {
		t.Fatalf("call echo_args: exit %d, stderr %q", code, errOut)
	}
	s.mu.Lock()
	c := s.calls[len(s.calls)-1].call
	s.mu.Unlock()
	want := []any{"s", int64(7), int64(-2), 1.25, []any{int64(1), "x", nil}, map[string]any{"a": map[string]any{"b": true}}, "bare-word", "--", "--not-a-flag"}
	if fmt.Sprintf("%#v", c.Args) != fmt.Sprintf("%#v", want) {
		t.Errorf("call args\n%#v\nwant\n%#v", c.Args, want)
	}
	if c.Kwargs["suppress_events"] != true || c.Kwargs["agent_id"] != nil || len(c.Kwargs) != 2 {
		t.Errorf("call kwargs %#v", c.Kwargs)
	}
	if !strings.Contains(out, `"bare-word"`) {
		t.Errorf("echo output %q", out)
	}
	if code, _, errOut := runCtlCmd(t, "--addr", s.addr, "call", "m", `{"broken`); code != exitUsage || !strings.Contains(errOut, "broken") {
		t.Errorf("broken JSON: exit %d, stderr %q", code, errOut)
	}
}

func TestCtlFailure(t *testing.T) {
	s := startCtlServer(t, func(method string, _ codec.Call) (any, error) {
		if method == "get_logs" {
			return nil, fmt.Errorf("get logs: %w", &ctlTestError{name: "KernelNotFound", msg: "no such kernel"})
		}
		return nil, fmt.Errorf("%s: %w", method, callosum.ErrUnknownMethod)
	})
	code, out, errOut := runCtlCmd(t, "--addr", s.addr, "logs", "nope")
	if code != exitFailure || out != "" || errOut != "backendai-agent ctl: KernelNotFound: KernelNotFound('get logs: no such kernel')\n" {
		t.Errorf("FAILURE: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runCtlCmd(t, "--addr", s.addr, "list")
	if code != exitFailure || errOut != "backendai-agent ctl: KeyError: KeyError('list_kernels')\n" {
		t.Errorf("ERROR: exit %d, stderr %q", code, errOut)
	}
}

func TestCtlCallTimeout(t *testing.T) {
	release := make(chan struct{})
	s := startCtlServer(t, func(method string, _ codec.Call) (any, error) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		return nil, nil
	})
	t.Cleanup(func() { close(release) }) // before the server stops
	start := time.Now()
	code, _, errOut := runCtlCmd(t, "--addr", s.addr, "--timeout", "300ms", "hwinfo")
	if code != exitFailure || !strings.Contains(errOut, "gather_hwinfo: no reply from "+s.addr+" within 300ms") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("took %s", d)
	}
}

func TestCtlNoServer(t *testing.T) {
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
	start := time.Now()
	code, out, errOut := runCtlCmd(t, "--addr", addr, "--timeout", "500ms", "ping")
	elapsed := time.Since(start)
	want := "backendai-agent ctl: no agent answering at " + addr + ": is it running?\n"
	if code != exitFailure || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	if elapsed > 2*time.Second {
		t.Errorf("took %s, want under 2 s", elapsed)
	}
}

// TestCtlConfigAddr: without --addr the address is agent.rpc-listen-addr,
// a wildcard host standing for loopback.
func TestCtlConfigAddr(t *testing.T) {
	s := startCtlServer(t, echoPing)
	port := s.addr[strings.LastIndexByte(s.addr, ':')+1:]
	conf := filepath.Join(t.TempDir(), "agent.toml")
	writeFile(t, conf, "[agent]\nrpc-listen-addr = { host = \"0.0.0.0\", port = "+port+" }\n")
	code, out, errOut := runCtlCmd(t, "-f", conf, "ping")
	if code != 0 || !strings.HasPrefix(out, "pong ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	s.only(t, "ping")

	// A config with CURVE needs the manager's keypair.
	writeFile(t, conf, "[agent]\nrpc-listen-addr = \"127.0.0.1:"+port+"\"\nrpc-auth-agent-keypair = \"agent.key_secret\"\nrpc-auth-manager-public-key = \"manager.key\"\n")
	code, _, errOut = runCtlCmd(t, "-f", conf, "ping")
	if code == exitOK || !strings.Contains(errOut, "--keypair") {
		t.Errorf("CURVE config without --keypair: exit %d, stderr %q", code, errOut)
	}
}

func TestCtlUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"create"},
		{"logs"},
		{"ping", "extra"},
		{"create", "alpine", "--mem", "lots"},
		{"create", "alpine", "--cpu", "0"},
		{"create", "alpine", "--env", "NOEQUALS"},
		{"create", "alpine", "--mount", "/a"},
		{"create", "alpine", "--mount", "/a:/b:rx"},
		{"create", "alpine", "--net", "overlay"},
		{"create", "alpine", "--id", "not-a-uuid"},
		{"call"},
		{"call", "--kwarg", "novalue", "m"},
		{"ping", "--count", "0"},
		{"--timeout", "0s", "ping"},
	} {
		// Nothing listens there: a usage error must come before connecting.
		code, _, errOut := runCtlCmd(t, append([]string{"--addr", "tcp://127.0.0.1:1", "--timeout", "200ms"}, args...)...)
		if code != exitUsage {
			t.Errorf("ctl %q: exit %d, want %d; stderr %q", args, code, exitUsage, errOut)
		}
	}
	if code, out, _ := runCtlCmd(t, "help"); code != 0 || !strings.Contains(out, "create IMAGE") {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestCtlJSONValue(t *testing.T) {
	u := mustUUID(t, "6a1b7c2d-0e4f-4a5b-9c8d-7e6f5a4b3c2d")
	p := "stable"
	got := compactJSON(map[string]any{
		"u": u, "d": codec.Decimal("1E+3"), "e": codec.Enum{Module: "m", Class: "C", Value: "v"},
		"b": []byte("ok"), "bin": []byte{0xff}, "ref": codec.ImageRef{Name: "n", Project: &p, Tag: "t"},
		"slots": codec.ResourceSlot{{Slot: "cpu", Quantity: "2"}}, "size": codec.BinarySize(5),
		"ordered": codec.OrderedMap{{Key: int64(1), Value: "one"}},
	})
	want := `{"b":"ok","bin":"/w==","d":"1E+3","e":"v","ordered":{"1":"one"},` +
		`"ref":{"architecture":"","is_local":false,"name":"n","project":"stable","registry":"","tag":"t"},` +
		`"size":5,"slots":{"cpu":"2"},"u":"6a1b7c2d-0e4f-4a5b-9c8d-7e6f5a4b3c2d"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := parseJSONArg(`[1,`); err == nil {
		t.Error("broken JSON list accepted")
	}
	if v, err := parseJSONArg("18446744073709551615"); err != nil || v != uint64(18446744073709551615) {
		t.Errorf("big uint: %#v %v", v, err)
	}
}
