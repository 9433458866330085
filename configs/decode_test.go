package configs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// mustParse parses doc or fails t.
func mustParse(t *testing.T, doc string, env map[string]string) (*Config, []Warning) {
	t.Helper()
	cfg, warns, err := Parse("agent.toml", []byte(doc), testOptions(env))
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return cfg, warns
}

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate():\n%v", err)
	}
}

func TestEmptyDocumentIsDefault(t *testing.T) {
	for _, doc := range []string{"", "# nothing\n", "[agent]\n[container]\n"} {
		cfg, warns := mustParse(t, doc, nil)
		if len(warns) > 0 {
			t.Errorf("%q: warnings %v", doc, warns)
		}
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("%q: Parse differs from Default()", doc)
		}
	}
}

func TestAliases(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		get  func(*Config) any
		want any
	}{
		{"mode", "[agent]\nmode = \"docker\"", func(c *Config) any { return c.Agent.Backend }, "docker"},
		{"snake_case key", "[agent]\nrpc_listen_addr = \"10.0.0.1:7001\"", func(c *Config) any { return c.Agent.RPCListenAddr }, HostPort{"10.0.0.1", 7001}},
		{"service-addr", "[agent]\nservice-addr = \"10.0.0.1:7003\"", func(c *Config) any { return c.Agent.InternalAddr }, HostPort{"10.0.0.1", 7003}},
		{"service_addr", "[agent]\nservice_addr = \"10.0.0.1:7003\"", func(c *Config) any { return c.Agent.InternalAddr }, HostPort{"10.0.0.1", 7003}},
		{"announce-addr", "[agent]\nannounce-addr = \"10.0.0.1:7003\"", func(c *Config) any { return c.Agent.AnnounceInternalAddr }, HostPort{"10.0.0.1", 7003}},
		{"scaling-group", "[agent]\nscaling-group = \"gpu\"", func(c *Config) any { return c.Agent.ScalingGroup }, "gpu"},
		{"initial_resource_group_name", "[agent]\ninitial_resource_group_name = \"gpu\"", func(c *Config) any { return c.Agent.ScalingGroup }, "gpu"},
		{"kernel-host", "[container]\nkernel-host = \"10.0.0.1\"", func(c *Config) any { return c.Container.BindHost }, "10.0.0.1"},
		{"snake_case section", "[container_logs]\nchunk_size = \"128K\"", func(c *Config) any { return c.ContainerLogs.ChunkSize }, BinarySize(128 << 10)},
		{"pkg_ns", "[logging.pkg_ns]\n\"\" = \"debug\"", func(c *Config) any { return c.Logging.PkgNS }, map[string]string{"": "DEBUG"}},
		{"ssl-privkey", "[watcher]\nssl-privkey = \"/etc/w.key\"", func(c *Config) any { return c.Watcher.SSLKey }, "/etc/w.key"},
		{"address as array", "[agent]\nrpc-listen-addr = [\"10.0.0.1\", 7001]", func(c *Config) any { return c.Agent.RPCListenAddr }, HostPort{"10.0.0.1", 7001}},
		{"etcd address list", "[etcd]\naddr = [\"e1:2379\", { host = \"e2\", port = 2379 }]", func(c *Config) any { return c.Etcd.Addr }, []HostPort{{"e1", 2379}, {"e2", 2379}}},
		{"etcd address pair", "[etcd]\naddr = [\"e1\", 2379]", func(c *Config) any { return c.Etcd.Addr }, []HostPort{{"e1", 2379}}},
		{"IPv6 address", "[agent]\nrpc-listen-addr = \"[::]:6001\"", func(c *Config) any { return c.Agent.RPCListenAddr.String() }, "[::]:6001"},
		{"duration string", "[debug]\nheartbeat-interval = \"1m\"", func(c *Config) any { return c.Debug.HeartbeatInterval }, Duration(time.Minute)},
		{"duration integer", "[api]\npull-timeout = 30", func(c *Config) any { return c.API.PullTimeout }, Duration(30 * time.Second)},
		{"size integer", "[resource]\nreserved-mem = 1048576", func(c *Config) any { return c.Resource.ReservedMem }, BinarySize(1 << 20)},
		{"uid as string", "[container]\nkernel-uid = \"1000\"", func(c *Config) any { return c.Container.KernelUID }, 1000},
		{"uid as name", "[container]\nkernel-uid = \"bai\"\nkernel-gid = \"bai\"", func(c *Config) any { return [2]int{c.Container.KernelUID, c.Container.KernelGID} }, [2]int{1100, 1100}},
		{"uid empty", "[container]\nkernel-uid = \"\"", func(c *Config) any { return c.Container.KernelUID }, -1},
		{"level any case", "[logging]\nlevel = \"debug\"", func(c *Config) any { return c.Logging.Level }, "DEBUG"},
		{"format any case", "[logging.console]\nformat = \"JSON\"", func(c *Config) any { return c.Logging.Console.Format }, "json"},
		{"affinity any case", "[resource]\naffinity-policy = \"prefer_single_node\"", func(c *Config) any { return c.Resource.AffinityPolicy }, "PREFER_SINGLE_NODE"},
		{"manual allocations", "[resource]\nallocation-mode = \"manual\"\n[resource.allocations]\ncpu = 4\nmem = \"8G\"\ndevices = { cuda.device = 1, \"cuda.mem\" = \"0.5\" }",
			func(c *Config) any { return *c.Resource.Allocations },
			Allocations{CPU: 4, Mem: 8 << 30, Devices: map[string]string{"cuda.device": "1", "cuda.mem": "0.5"}}},
		{"relative path", "[container]\nscratch-root = \"scratch/../s\"", func(c *Config) any { return c.Container.ScratchRoot }, "/home/bai/agent/s"},
		{"home path", "[logging.file]\npath = \"~/logs\"", func(c *Config) any { return c.Logging.File.Path }, "/home/bai/logs"},
		{"pid file none", "[agent]\npid-file = \"/dev/null\"", func(c *Config) any { return c.Agent.PIDFile }, "/dev/null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := mustParse(t, tt.doc, map[string]string{"HOME": "/home/bai"})
			if got := tt.get(cfg); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestWarningsForIgnoredKeys(t *testing.T) {
	tests := []struct {
		doc  string
		want string // the one warning, after "agent.toml:L:C: "
	}{
		{"[agent]\nevent-loop = \"uvloop\"", "agent.event-loop: not implemented by this agent; ignored (the Go runtime has no selectable event loop)"},
		{"[agent]\naiomonitor-termui-port = 38200", "agent.aiomonitor-termui-port: not implemented by this agent; ignored (aiomonitor is a Python asyncio debugger)"},
		{"[agent]\naiomonitor_port = 38200", "agent.aiomonitor_port: not implemented by this agent; ignored (aiomonitor is a Python asyncio debugger)"},
		{"[agent]\naiomonitor-webui-port = 39200", "agent.aiomonitor-webui-port: not implemented by this agent; ignored (aiomonitor is a Python asyncio debugger)"},
		{"[agent]\ndocker-mode = \"native\"", "agent.docker-mode: not implemented by this agent; ignored (no Docker daemon is used)"},
		{"[container]\nswarm-enabled = false", "container.swarm-enabled: not implemented by this agent; ignored (Docker Swarm is not used)"},
		{"[container]\nkrunner-volumes = { x = \"y\" }", "container.krunner-volumes: not implemented by this agent; ignored (kernel runner files are not Docker volumes here)"},
		{"[debug]\nasyncio = true", "debug.asyncio: not implemented by this agent; ignored (Python asyncio debug mode)"},
		{"[debug]\nenhanced-aiomonitor-task-info = true", "debug.enhanced-aiomonitor-task-info: not implemented by this agent; ignored (aiomonitor is a Python asyncio debugger)"},
		{"[debug]\nlog-docker-events = true", "debug.log-docker-events: not implemented by this agent; ignored (no Docker daemon is used)"},
		{"[logging.logstash]\nendpoint = { host = \"l\", port = 1 }\nprotocol = \"tcp\"", "logging.logstash: not implemented by this agent; ignored (the logstash driver is not implemented)"},
		{"[logging.graylog]\nhost = \"g\"", "logging.graylog: not implemented by this agent; ignored (the graylog driver is not implemented)"},
		{"[logging]\nhandlers = {}", "logging.handlers: not implemented by this agent; ignored (a setting of Python's logging.config)"},
		{"[logging]\ndrivers = [\"console\", \"graylog\"]", `logging.drivers[1]: log driver "graylog" is not implemented by this agent; ignored`},
		{"[pyroscope]\nenabled = true\nsample-rate = 100", "pyroscope: not implemented by this agent; accepted and validated, but has no effect (continuous profiling is not implemented)"},
		{"[license]\naddr = { host = \"127.0.0.1\", port = 6099 }", "license: not implemented by this agent; ignored (commercial license settings)"},
		{"[[agents]]\n[agents.agent]\nid = \"a\"\n[[agents]]\n[agents.agent]\nid = \"b\"", "agents: not implemented by this agent; ignored (multi-agent mode is not supported; only [agent], [container] and [resource] are used)"},
		{"[redis]\naddr = \"r:6379\"", "redis: not implemented by this agent; ignored (upstream fills it from etcd config/redis at startup)"},
		{"[agent]\nscaling-group = \"default\"", "agent.scaling-group: deprecated name of initial-resource-group-name (upstream 26.8 rejects it); accepted"},
	}
	for _, tt := range tests {
		t.Run(strings.SplitN(tt.want, ":", 2)[0], func(t *testing.T) {
			_, warns := mustParse(t, tt.doc, nil)
			if len(warns) != 1 {
				t.Fatalf("got %d warnings, want 1: %v", len(warns), warns)
			}
			got := warns[0].String()
			if _, rest, _ := strings.Cut(got, ": "); rest != tt.want || warns[0].Line == 0 {
				t.Fatalf("warning %q, want position and %q", got, tt.want)
			}
		})
	}
}

func TestPyroscopeStillValidated(t *testing.T) {
	_, _, err := Parse("agent.toml", []byte("[pyroscope]\nsample-rate = \"fast\"\n"), testOptions(nil))
	diffLines(t, "problems", problemStrings(t, err), []string{`agent.toml:2:15: pyroscope.sample-rate: expected integer, got string "fast"`})
}

func TestEnvOverrides(t *testing.T) {
	doc := "[etcd]\naddr = \"file:2379\"\n[container]\nport-range = [0, 1]\nscratch-root = \"/file\"\n"
	cfg, _ := mustParse(t, doc, map[string]string{
		"BACKEND_NAMESPACE":            "prod",
		"BACKEND_ETCD_ADDR":            "e1:2379, e2:2379",
		"BACKEND_ETCD_USER":            "bai",
		"BACKEND_ETCD_PASSWORD":        "s3cret",
		"BACKEND_AGENT_HOST_OVERRIDE":  "10.0.0.9",
		"BACKEND_AGENT_PORT":           "7001",
		"BACKEND_PID_FILE":             "run/agent.pid",
		"BACKEND_CONTAINER_PORT_RANGE": "40000-40100", // replaces the file's bad range
		"BACKEND_BIND_HOST_OVERRIDE":   "10.0.0.8",
		"BACKEND_SANDBOX_TYPE":         "docker",
		"BACKEND_SCRATCH_ROOT":         "/srv/scratch",
		"BACKEND_WATCHER_SERVICE_IP":   "127.0.0.1",
		"BACKEND_WATCHER_SERVICE_PORT": "6099",
	})
	checks := []struct {
		name      string
		got, want any
	}{
		{"etcd.namespace", cfg.Etcd.Namespace, "prod"},
		{"etcd.addr", cfg.Etcd.Addr, []HostPort{{"e1", 2379}, {"e2", 2379}}},
		{"etcd.user", cfg.Etcd.User, "bai"},
		{"etcd.password", cfg.Etcd.Password, "s3cret"},
		{"agent.rpc-listen-addr", cfg.Agent.RPCListenAddr, HostPort{"10.0.0.9", 7001}},
		{"agent.pid-file", cfg.Agent.PIDFile, "/home/bai/agent/run/agent.pid"},
		{"container.port-range", cfg.Container.PortRange, [2]int{40000, 40100}},
		{"container.bind-host", cfg.Container.BindHost, "10.0.0.8"},
		{"container.sandbox-type", cfg.Container.SandboxType, "docker"},
		{"container.scratch-root", cfg.Container.ScratchRoot, "/srv/scratch"},
		{"watcher.service-addr", cfg.Watcher.ServiceAddr, HostPort{"127.0.0.1", 6099}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestParsePortRangeForms(t *testing.T) {
	for _, s := range []string{"30000-31000", "30000:31000", "30000,31000", "[30000, 31000]", " 30000 - 31000 "} {
		r, err := parsePortRange(s)
		if err != nil || r != [2]int{30000, 31000} {
			t.Errorf("parsePortRange(%q) = %v, %v", s, r, err)
		}
	}
}

func TestProblemsErrorsAs(t *testing.T) {
	_, _, err := Parse("agent.toml", []byte("[agent]\nid = 1\n[debug]\nenabled = 2\n"), testOptions(nil))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("errors.As(Problems) = %v", ps)
	}
	var pp *Problems
	if !errors.As(err, &pp) || len(*pp) != 2 {
		t.Fatalf("errors.As(*Problems) failed")
	}
	want := "agent.toml:2:6: agent.id: expected string, got integer 1\nagent.toml:4:11: debug.enabled: expected boolean, got integer 2"
	if err.Error() != want {
		t.Fatalf("Error() =\n%s\nwant\n%s", err, want)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.toml", Line: 3, Col: 5, Key: "agent.id", Msg: "bad"}, "a.toml:3:5: agent.id: bad"},
		{Problem{File: "a.toml", Key: "agent.id", Msg: "bad"}, "a.toml: agent.id: bad"},
		{Problem{File: "a.toml", Line: 1, Col: 1, Msg: "syntax"}, "a.toml:1:1: syntax"},
		{Problem{Env: "BACKEND_AGENT_PORT", Key: "agent.rpc-listen-addr.port", Msg: "bad"}, "$BACKEND_AGENT_PORT: agent.rpc-listen-addr.port: bad"},
		{Problem{Key: "agent.id", Msg: "bad"}, "agent.id: bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestValidateWithoutPositions(t *testing.T) {
	c := Default()
	c.Container.StatsType = "dockr"
	c.Container.PortRange = [2]int{2, 1}
	err := c.Validate()
	want := []string{
		"container.port-range: start 2 is after end 1",
		`container.stats-type: invalid value "dockr"; allowed: docker, cgroup`,
	}
	diffLines(t, "problems", problemStrings(t, err), want)
}

func TestDecodeEtcdLocalFallback(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{"", false},
		{"[etcd]\nlocal-fallback = true", true},
		{"[etcd]\nlocal_fallback = true", true},
		{"[etcd]\naddr = \"localhost:2379\"\nlocal-fallback = true", true},
		{"[etcd]\naddr = \"[::1]:2379\"\nlocal-fallback = true", true},
		{"[etcd]\naddr = [\"127.0.0.2:2379\", \"e2:2379\"]\nlocal-fallback = true", true},
		{"[etcd]\naddr = \"e1:2379\"\nlocal-fallback = false", false},
	}
	for _, tt := range tests {
		cfg, warns := mustParse(t, tt.doc, nil)
		if len(warns) > 0 {
			t.Errorf("%q: warnings %v", tt.doc, warns)
		}
		if cfg.Etcd.LocalFallback != tt.want {
			t.Errorf("%q: etcd.local-fallback = %v, want %v", tt.doc, cfg.Etcd.LocalFallback, tt.want)
		}
	}
	_, _, err := Parse("agent.toml", []byte("[etcd]\nlocal-fallback = \"yes\"\n"), testOptions(nil))
	diffLines(t, "problems", problemStrings(t, err), []string{`agent.toml:2:18: etcd.local-fallback: expected boolean, got string "yes"`})
}

func TestValidateEtcdLocalFallback(t *testing.T) {
	_, _, err := Parse("agent.toml", []byte("[etcd]\naddr = [\"e1:2379\", \"127.0.0.1:2379\"]\nlocal-fallback = true\n"), testOptions(nil))
	diffLines(t, "problems", problemStrings(t, err), []string{
		`agent.toml:3:18: etcd.local-fallback: only allowed when the first etcd.addr is a loopback address (127.0.0.1, ::1 or localhost), not "e1": the local etcd listens on loopback only`,
	})

	c := Default()
	c.Etcd.LocalFallback = true
	if err := c.Validate(); err != nil {
		t.Fatalf("local-fallback with the default address:\n%v", err)
	}
	c.Etcd.Addr = []HostPort{{"10.0.0.1", 2379}}
	diffLines(t, "problems", problemStrings(t, c.Validate()), []string{
		`etcd.local-fallback: only allowed when the first etcd.addr is a loopback address (127.0.0.1, ::1 or localhost), not "10.0.0.1": the local etcd listens on loopback only`,
	})

	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true, "localhost": true, "LOCALHOST": true,
		"::ffff:127.0.0.1": true, "0.0.0.0": false, "::": false, "10.0.0.1": false, "etcd": false, "": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
