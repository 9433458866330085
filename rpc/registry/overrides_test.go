package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReadOverrides seeds the keys as upstream's tools write them (raw, in
// the namespace "local") and reads them back in upstream's shapes, with
// the node scope of agent i-node over the global keys.
func TestReadOverrides(t *testing.T) {
	srv := startEtcd(t)
	raw := rawClient(t, srv.Endpoints())
	rawPut(t, raw, map[string]string{
		"/sorna/local/config/redis/addr":                                 "10.0.0.5:6379",
		"/sorna/local/config/redis/password":                             "pw",
		"/sorna/local/config/redis/redis_helper_config/socket_timeout":   "7",
		"/sorna/local/volumes/_mount":                                    "/mnt/vfroot",
		"/sorna/local/volumes/_fsprefix":                                 "vf",
		"/sorna/local/config/agent/api/pull-timeout":                     "100",
		"/sorna/local/config/agent/kernel-lifecycles/init-timeout-sec":   "90",
		"/sorna/local/config/container/kernel-uid":                       "1100",
		"/sorna/local/config/container/kernel-gid":                       "1100",
		"/sorna/local/config/plugins/accelerator/cuda/device_mask":       "0,1",
		"/sorna/local/config/plugins/cpu/x":                              "1",
		"/sorna/local/config/plugins/memory/y":                           "2",
		"/sorna/local/config/network/subnet/agent":                       "10.0.0.0/8",
		"/sorna/local/config/network/subnet/container":                   "0.0.0.0/0",
		"/sorna/local/config/watcher/token":                              "global-token",
		"/sorna/local/nodes/agents/i-node/config/agent/api/push-timeout": "5",
		"/sorna/local/nodes/agents/i-node/config/network/subnet/agent":   "192.168.0.0/16",
		"/sorna/local/nodes/agents/i-node/config/watcher/token":          "node-token-ignored",
		"/sorna/other/config/container/kernel-uid":                       "9999",
	})
	c := open(t, testOptions(srv.Endpoints(), "local"))

	a := newAgent(t, c, AgentOptions{ID: "i-node"})
	got, err := a.ReadOverrides(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &Overrides{
		Redis: Tree{
			"addr": "10.0.0.5:6379", "password": "pw",
			"redis_helper_config": Tree{"socket_timeout": "7"},
		},
		Volumes: Tree{"_mount": "/mnt/vfroot", "_fsprefix": "vf"},
		// The node's "api" hides the global one entirely (ChainMap).
		Agent: Tree{
			"api":               Tree{"push-timeout": "5"},
			"kernel-lifecycles": Tree{"init-timeout-sec": "90"},
		},
		Container:          Tree{"kernel-uid": "1100", "kernel-gid": "1100"},
		AcceleratorPlugins: Tree{"cuda": Tree{"device_mask": "0,1"}},
		CPUPlugin:          Tree{"x": "1"},
		MemoryPlugin:       Tree{"y": "2"},
		AgentSubnet:        "192.168.0.0/16",
		ContainerSubnet:    "0.0.0.0/0",
		WatcherToken:       "global-token",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ReadOverrides (-want +got):\n%s", d)
	}
	r, err := ParseRedis(got.Redis)
	if err != nil {
		t.Fatal(err)
	}
	if r.Addr != "10.0.0.5:6379" || r.Password != "pw" || r.Helper.SocketTimeout.Seconds() != 7 {
		t.Errorf("ParseRedis = %+v", r)
	}

	// Another agent sees the global values only.
	b := newAgent(t, c, AgentOptions{ID: "i-other"})
	got, err = b.ReadOverrides(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.AgentSubnet != "10.0.0.0/8" || cmp.Diff(Tree{"pull-timeout": "100"}, got.Agent.Sub("api")) != "" {
		t.Errorf("i-other: subnet %q, api %v", got.AgentSubnet, got.Agent.Sub("api"))
	}
	v, ok, err := b.Get(t.Context(), KeyAgentSubnet)
	if err != nil || !ok || v != "10.0.0.0/8" {
		t.Errorf("Agent.Get = %q, %v, %v", v, ok, err)
	}
	v, _, _ = a.Get(t.Context(), KeyAgentSubnet)
	if v != "192.168.0.0/16" {
		t.Errorf("node-scoped Agent.Get = %q", v)
	}
}

func TestReadOverridesEmpty(t *testing.T) {
	srv := startEtcd(t)
	c := open(t, testOptions(srv.Endpoints(), "local"))
	got, err := newAgent(t, c, AgentOptions{ID: "i-x"}).ReadOverrides(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := &Overrides{
		Redis: Tree{}, Volumes: Tree{}, Agent: Tree{}, Container: Tree{},
		AcceleratorPlugins: Tree{}, CPUPlugin: Tree{}, MemoryPlugin: Tree{},
		WatcherToken: DefaultWatcherToken,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ReadOverrides (-want +got):\n%s", d)
	}
}

func TestNewAgentChecksID(t *testing.T) {
	for _, id := range []string{"", "a/b"} {
		if _, err := NewAgent(&Client{log: nopLog()}, AgentOptions{ID: id}); err == nil {
			t.Errorf("NewAgent(%q) accepted", id)
		}
	}
}
