package agent

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/spec"
)

func TestKernelUser(t *testing.T) {
	uidMatch := map[string]string{"ai.backend.features": "query uid-match"}
	po := parseOptions{kernelUID: 1000, kernelGID: 100}
	for _, tc := range []struct {
		name   string
		cfg    map[string]any
		labels map[string]string
		want   []string
	}{
		{"nothing", map[string]any{}, nil, nil},
		{"uid-match", map[string]any{"uid": nil, "main_gid": nil}, uidMatch, []string{"LOCAL_USER_ID=1000", "LOCAL_GROUP_ID=100"}},
		{"manager's ids", map[string]any{"uid": int64(2001), "main_gid": int64(2002), "supplementary_gids": []any{int64(44), int64(27)}}, nil,
			[]string{"LOCAL_USER_ID=2001", "LOCAL_GROUP_ID=2002", "ADDITIONAL_GIDS=44,27"}},
		{"manager's over uid-match", map[string]any{"uid": int64(2001)}, uidMatch, []string{"LOCAL_USER_ID=2001", "LOCAL_GROUP_ID=100"}},
	} {
		var kc kernelConfig
		if err := kernelUser(&kc.req, tc.cfg, tc.labels, po); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(kc.req.Env, tc.want) {
			t.Errorf("%s: env %q, want %q", tc.name, kc.req.Env, tc.want)
		}
	}
	for _, bad := range []map[string]any{{"uid": "root"}, {"main_gid": int64(-5)}, {"supplementary_gids": []any{"x"}}, {"supplementary_gids": "44"}} {
		var kc kernelConfig
		if err := kernelUser(&kc.req, bad, nil, po); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestDotfilesOf(t *testing.T) {
	if b, err := dotfilesOf(map[string]any{"internal_data": nil, "bootstrap_script": nil}); err != nil || b != nil {
		t.Errorf("nothing: %s, %v", b, err)
	}
	b, err := dotfilesOf(map[string]any{
		"internal_data": map[string]any{
			"dotfiles":    []any{map[string]any{"path": ".vimrc", "data": "set nu", "perm": "644"}},
			"ssh_keypair": map[string]any{"public_key": "ssh-rsa AAAA", "private_key": "-----BEGIN"},
		},
		"bootstrap_script": "echo hi",
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []dotfile
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []dotfile{
		{".vimrc", "set nu", "644"},
		{".ssh/authorized_keys", "ssh-rsa AAAA", "600"}, {".ssh/id_rsa", "-----BEGIN", "600"}, {"id_container", "-----BEGIN", "600"},
		{"bootstrap.sh", "echo hi", "755"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []map[string]any{
		{"internal_data": map[string]any{"dotfiles": []any{"x"}}},
		{"internal_data": map[string]any{"dotfiles": []any{map[string]any{"data": "no path"}}}},
		{"internal_data": map[string]any{"dotfiles": []any{map[string]any{"path": int64(1)}}}},
		{"bootstrap_script": codec.UUID{}},
	} {
		if _, err := dotfilesOf(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRelabel(t *testing.T) {
	cfg := map[string]any{"image": map[string]any{"canonical": "bai/busybox:1.0"}, "preopen_ports": []any{int64(9000)}}
	kc, err := parseKernelConfig(cfg, map[string]any{}, codec.UUID{1}, "0f1e2d3c-4b5a-4697-8877-665544332211",
		parseOptions{networking: true, kernelUID: 1000, kernelGID: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(kc.req.Publish) != 1 || slices.ContainsFunc(kc.req.Env, func(s string) bool { return s == "LOCAL_USER_ID=1000" }) {
		t.Fatalf("before: publish %v, env %v", kc.req.Publish, kc.req.Env)
	}
	if err := kc.relabel(map[string]string{"ai.backend.features": "uid-match", "ai.backend.service-ports": "http:http:8080"}); err != nil {
		t.Fatal(err)
	}
	if len(kc.req.Publish) != 2 || kc.req.Publish[0].ContainerPort != 8080 || !slices.Contains(kc.req.Env, "LOCAL_USER_ID=1000") {
		t.Errorf("after: publish %v, env %v", kc.req.Publish, kc.req.Env)
	}
	// The manager's labels are never replaced.
	if err := kc.relabel(map[string]string{"ai.backend.service-ports": "x:http:1"}); err != nil || len(kc.req.Publish) != 2 {
		t.Errorf("second relabel: %v, %v", err, kc.req.Publish)
	}
}

func TestAddIntrinsicServices(t *testing.T) {
	kc := kernelConfig{req: runtime.CreateRequest{Network: runtime.NetBridge, Labels: map[string]string{labelServicePorts: "jupyter:http:8080,ttyd:http:7000"},
		Publish: []runtime.Publish{{ContainerPort: 8080}, {ContainerPort: 7000}}}}
	kc.addIntrinsicServices()
	if got := kc.req.Labels[labelServicePorts]; got != "jupyter:http:8080,ttyd:http:7000,sshd:tcp:2200" {
		t.Errorf("label %q", got)
	}
	if len(kc.req.Publish) != 3 || kc.req.Publish[2].ContainerPort != 2200 {
		t.Errorf("publish %v", kc.req.Publish)
	}
	host := kernelConfig{req: runtime.CreateRequest{Network: runtime.NetHost, Labels: map[string]string{}}}
	host.addIntrinsicServices()
	if len(host.req.Labels) != 0 || len(host.req.Publish) != 0 {
		t.Errorf("host mode: %v %v", host.req.Labels, host.req.Publish)
	}
}

func TestHostModeServicePorts(t *testing.T) {
	f := newFixture(t, true)
	st := runtime.State{
		ID: kernelA, Args: []string{"/opt/kernel/bai-init", "--", spec.RunnerTarget, "--setup-user"},
		Labels: map[string]string{labelServicePorts: "web:http:8080"},
		Net:    runtime.NetState{Mode: runtime.NetHost, HostPorts: []int{30010, 30011, 30012, 30013}},
	}
	got := f.svc.creationInfo(st)["service_ports"]
	want := []any{
		map[string]any{"name": "web", "protocol": "http", "container_ports": []any{8080}, "host_ports": []any{8080}, "is_inference": false},
		map[string]any{"name": "sshd", "protocol": "tcp", "container_ports": []any{30012}, "host_ports": []any{30012}, "is_inference": false},
		map[string]any{"name": "ttyd", "protocol": "http", "container_ports": []any{30013}, "host_ports": []any{30013}, "is_inference": false},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("host-mode service_ports (-want +got):\n%s", d)
	}
	// A kernel that does not run the runner has no intrinsic services.
	st.Args = []string{"/opt/kernel/bai-init", "--", "sleep", "1"}
	if got := f.svc.creationInfo(st)["service_ports"].([]any); len(got) != 1 {
		t.Errorf("a plain host kernel's service_ports: %v", got)
	}
}
