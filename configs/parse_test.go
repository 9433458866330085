package configs

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testWorkDir is the working directory of the install guide's systemd unit.
const testWorkDir = "/home/bai/agent"

// testOptions returns Options reading env instead of the process
// environment, with a fixed working directory and a fake user database
// that knows "bai" (uid and gid 1100).
func testOptions(env map[string]string) Options {
	lookup := func(name string) (int, error) {
		if name == "bai" {
			return 1100, nil
		}
		return 0, errors.New("unknown name")
	}
	return Options{
		Getenv:      func(k string) string { return env[k] },
		WorkDir:     testWorkDir,
		LookupUser:  lookup,
		LookupGroup: lookup,
	}
}

// problemStrings returns the lines of a Problems error.
func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T) is not Problems", err, err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// warningStrings returns the warnings as strings.
func warningStrings(ws []Warning) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}

// diffLines fails t when got and want differ, showing both.
func diffLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s:\ngot:\n\t%s\nwant:\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestInstallGuideGolden(t *testing.T) {
	const path = "testdata/install-guide.toml"
	cfg, warns, err := Load(path, testOptions(nil))
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	diffLines(t, "warnings", warningStrings(warns), []string{
		path + ":12:1: agent.scaling-group: deprecated name of initial-resource-group-name (upstream 26.8 rejects it); accepted",
		path + ":14:1: agent.event-loop: not implemented by this agent; ignored (the Go runtime has no selectable event loop)",
		path + ":65:1: debug.asyncio: not implemented by this agent; ignored (Python asyncio debug mode)",
		path + ":66:1: debug.enhanced-aiomonitor-task-info: not implemented by this agent; ignored (aiomonitor is a Python asyncio debugger)",
		path + ":72:1: debug.log-docker-events: not implemented by this agent; ignored (no Docker daemon is used)",
	})
	got, err := cfg.TOML(true)
	if err != nil {
		t.Fatalf("TOML: %v", err)
	}
	const golden = "testdata/install-guide.golden.toml"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("TOML(true) differs from %s (go test ./configs -update rewrites it):\n%s", golden, got)
	}
}

func TestInstallGuideValues(t *testing.T) {
	cfg, _, err := Load("testdata/install-guide.toml", testOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"etcd.addr", cfg.Etcd.Addr, []HostPort{{"bai-m1", 8120}}},
		{"agent.backend (mode)", cfg.Agent.Backend, "docker"},
		{"agent.rpc-listen-addr", cfg.Agent.RPCListenAddr, HostPort{"10.20.30.10", 6001}},
		{"agent.initial-resource-group-name (scaling-group)", cfg.Agent.ScalingGroup, "default"},
		{"agent.pid-file", cfg.Agent.PIDFile, "/home/bai/agent/agent.pid"},
		{"container.kernel-uid", cfg.Container.KernelUID, 1100},
		{"container.scratch-root", cfg.Container.ScratchRoot, "/home/bai/agent/scratches"},
		{"container.scratch-size", cfg.Container.ScratchSize, BinarySize(1 << 30)},
		{"container.stats-type", cfg.Container.StatsType, "docker"},
		{"watcher.service-addr", cfg.Watcher.ServiceAddr, HostPort{"bai-a01", 6009}},
		{"logging.console.colored", *cfg.Logging.Console.Colored, true},
		{"logging.file.path", cfg.Logging.File.Path, "/home/bai/agent/logs"},
		{"logging.file.rotation-size", cfg.Logging.File.RotationSize, BinarySize(10 << 20)},
		{"logging.pkg-ns", len(cfg.Logging.PkgNS), 5},
		{"debug.coredump.path", cfg.Debug.Coredump.Path, "/home/bai/agent/coredumps"},
		{"debug.heartbeat-interval", cfg.Debug.HeartbeatInterval, Duration(20 * time.Second)},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestAcceptanceThreeProblems(t *testing.T) {
	// A copy of the install guide with a misspelled key, a string where an
	// integer belongs and an unknown enum value.
	const path = "testdata/install-guide-bad.toml"
	cfg, _, err := Load(path, testOptions(nil))
	if cfg != nil {
		t.Fatal("Load returned a config along with problems")
	}
	diffLines(t, "problems", problemStrings(t, err), []string{
		path + ":18:1: container.port-rnage: unknown key; did you mean port-range?",
		path + ":23:14: container.stats-type: invalid value \"dockr\"; allowed: docker, cgroup",
		path + ":58:16: resource.reserved-cpu: expected integer, got string \"one\"",
	})
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		env  map[string]string
		want []string
	}{
		{
			name: "syntax error",
			doc:  "[agent\nid = \"x\"\n",
			want: []string{"agent.toml:1:7: expected ']' to close table name"},
		},
		{
			name: "key defined twice",
			doc:  "[agent]\nid = \"a\"\nid = \"b\"\n",
			want: []string{"agent.toml:3:1: key id is already defined"},
		},
		{
			name: "string for integer",
			doc:  "[agent]\nagent-sock-port = \"6007\"\n",
			want: []string{`agent.toml:2:19: agent.agent-sock-port: expected integer, got string "6007"`},
		},
		{
			name: "string for boolean",
			doc:  "[debug]\nenabled = \"yes\"\n",
			want: []string{`agent.toml:2:11: debug.enabled: expected boolean, got string "yes"`},
		},
		{
			name: "table for string",
			doc:  "[container]\nbind-host = { host = \"x\" }\n",
			want: []string{`agent.toml:2:13: container.bind-host: expected string, got table`},
		},
		{
			name: "array element of the wrong type",
			doc:  "[container]\njail-args = [\"--x\", 1]\n",
			want: []string{`agent.toml:2:21: container.jail-args[1]: expected string, got integer 1`},
		},
		{
			name: "port out of range in a table",
			doc:  "[agent]\nrpc-listen-addr = { host = \"0.0.0.0\", port = 70000 }\n",
			want: []string{`agent.toml:2:19: agent.rpc-listen-addr.port: port 70000 out of range 1..65535`},
		},
		{
			name: "port out of range in a string",
			doc:  "[watcher]\nservice-addr = \"0.0.0.0:0\"\n",
			want: []string{`agent.toml:2:16: watcher.service-addr.port: port 0 out of range 1..65535`},
		},
		{
			name: "address without port",
			doc:  "[etcd]\naddr = \"bai-m1\"\n",
			want: []string{`agent.toml:2:8: etcd.addr: invalid address "bai-m1": expected "host:port"`},
		},
		{
			name: "address table with a typo",
			doc:  "[agent]\ninternal-addr = { host = \"0.0.0.0\", prot = 6003 }\n",
			want: []string{
				`agent.toml:2:17: agent.internal-addr.port: required key is missing`,
				`agent.toml:2:37: agent.internal-addr.prot: unknown key; did you mean port?`,
			},
		},
		{
			name: "reversed port range",
			doc:  "[container]\nport-range = [31000, 30000]\n",
			want: []string{`agent.toml:2:14: container.port-range: start 31000 is after end 30000`},
		},
		{
			name: "port range of one port",
			doc:  "[container]\nport-range = [30000]\n",
			want: []string{`agent.toml:2:14: container.port-range: expected [start, end] array of two integers, got array`},
		},
		{
			name: "port range out of range",
			doc:  "[container]\nport-range = [0, 70000]\n",
			want: []string{
				`agent.toml:2:15: container.port-range[0]: port 0 out of range 1..65535`,
				`agent.toml:2:18: container.port-range[1]: port 70000 out of range 1..65535`,
			},
		},
		{
			name: "unknown stats type",
			doc:  "[container]\nstats-type = \"dockr\"\n",
			want: []string{`agent.toml:2:14: container.stats-type: invalid value "dockr"; allowed: docker, cgroup`},
		},
		{
			name: "kubernetes backend through the mode alias",
			doc:  "[agent]\nmode = \"kubernetes\"\n",
			want: []string{`agent.toml:2:8: agent.mode: "kubernetes" is not supported by this agent; use "docker" (kernels run through libcontainer either way)`},
		},
		{
			name: "dummy backend",
			doc:  "[agent]\nbackend = \"dummy\"\n",
			want: []string{`agent.toml:2:11: agent.backend: "dummy" is not supported by this agent; use "docker" (kernels run through libcontainer either way)`},
		},
		{
			name: "unknown backend",
			doc:  "[agent]\nbackend = \"podman\"\n",
			want: []string{`agent.toml:2:11: agent.backend: invalid value "podman"; allowed: docker, kubernetes, dummy`},
		},
		{
			name: "bad kernel subnets",
			doc:  "[container]\nbridge-subnet = \"10.230.0.1/16\"\nsession-network-pool = \"fd00::/64\"\nalternative-bridge = \"a-bridge-name-too-long\"\n",
			want: []string{
				`agent.toml:2:17: container.bridge-subnet: "10.230.0.1/16" has host bits set (did you mean 10.230.0.0/16?)`,
				`agent.toml:3:24: container.session-network-pool: "fd00::/64" is not IPv4`,
				`agent.toml:4:22: container.alternative-bridge: "a-bridge-name-too-long" is not a usable interface name (at most 15 characters, no '/', space or NUL)`,
			},
		},
		{
			name: "jail sandbox",
			doc:  "[container]\nsandbox-type = \"jail\"\n",
			want: []string{`agent.toml:2:16: container.sandbox-type: "jail" is not supported by this agent; use "docker"`},
		},
		{
			name: "k8s-nfs scratch",
			doc:  "[container]\nscratch-type = \"k8s-nfs\"\n",
			want: []string{`agent.toml:2:16: container.scratch-type: "k8s-nfs" is not supported by this agent (it needs the kubernetes backend)`},
		},
		{
			name: "unknown scratch type",
			doc:  "[container]\nscratch-type = \"tmpfs\"\n",
			want: []string{`agent.toml:2:16: container.scratch-type: invalid value "tmpfs"; allowed: hostdir, hostfile, memory, k8s-nfs`},
		},
		{
			name: "kernel creation concurrency too low and agent socket port too low",
			doc:  "[agent]\nkernel-creation-concurrency = 0\nagent-sock-port = 80\n",
			want: []string{
				`agent.toml:2:31: agent.kernel-creation-concurrency: 0 out of range 1..32`,
				`agent.toml:3:19: agent.agent-sock-port: 80 out of range 1024..65535`,
			},
		},
		{
			name: "kernel creation concurrency too high",
			doc:  "[agent]\nkernel-creation-concurrency = 33\n",
			want: []string{`agent.toml:2:31: agent.kernel-creation-concurrency: 33 out of range 1..32`},
		},
		{
			name: "unparsable size",
			doc:  "[container]\nscratch-size = \"1X\"\n",
			want: []string{`agent.toml:2:16: container.scratch-size: invalid size "1X": unknown size unit "x"`},
		},
		{
			name: "negative size",
			doc:  "[resource]\nreserved-mem = -1\n",
			want: []string{`agent.toml:2:16: resource.reserved-mem: size must not be negative, got -1`},
		},
		{
			name: "size of the wrong type",
			doc:  "[resource]\nreserved-mem = 1.5\n",
			want: []string{`agent.toml:2:16: resource.reserved-mem: expected size (bytes, or a string such as "64K", "10M", "1G"), got float 1.5`},
		},
		{
			name: "unparsable duration",
			doc:  "[debug]\nheartbeat-interval = \"soon\"\n",
			want: []string{`agent.toml:2:22: debug.heartbeat-interval: invalid duration: not a duration: "soon" (use seconds or a Go duration such as "30s")`},
		},
		{
			name: "zero heartbeat interval",
			doc:  "[debug]\nheartbeat-interval = 0\n",
			want: []string{`agent.toml:2:22: debug.heartbeat-interval: must be positive, got 0s`},
		},
		{
			name: "negative timeout",
			doc:  "[api]\npull-timeout = -1\n",
			want: []string{`agent.toml:2:16: api.pull-timeout: must not be negative, got -1s`},
		},
		{
			name: "misspelled key",
			doc:  "[container]\nport-rnage = [30000, 31000]\n",
			want: []string{`agent.toml:2:1: container.port-rnage: unknown key; did you mean port-range?`},
		},
		{
			name: "key of another section",
			doc:  "[agent]\nstats-type = \"cgroup\"\n",
			want: []string{`agent.toml:2:1: agent.stats-type: unknown key; did you mean container.stats-type?`},
		},
		{
			name: "misspelled section",
			doc:  "[contianer]\nstats-type = \"cgroup\"\n",
			want: []string{`agent.toml:1:2: contianer: unknown key; did you mean container?`},
		},
		{
			name: "unknown key without a hint",
			doc:  "[agent]\nfavourite-color = \"blue\"\n",
			want: []string{`agent.toml:2:1: agent.favourite-color: unknown key`},
		},
		{
			name: "one key under two names",
			doc:  "[agent]\nservice-addr = \"0.0.0.0:6003\"\ninternal_addr = \"0.0.0.0:6004\"\n",
			want: []string{`agent.toml:3:1: agent.internal_addr: internal-addr is already set (as service-addr)`},
		},
		{
			name: "log levels and formats",
			doc:  "[logging]\nlevel = \"LOUD\"\ndrivers = [\"console\", \"syslog\"]\n[logging.console]\nformat = \"fancy\"\n[logging.pkg-ns]\n\"ai.backend\" = \"CHATTY\"\n",
			want: []string{
				`agent.toml:2:9: logging.level: invalid value "LOUD"; allowed: TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL, NOTSET (any case)`,
				`agent.toml:3:23: logging.drivers[1]: invalid value "syslog"; allowed: console, file, logstash, graylog`,
				`agent.toml:5:10: logging.console.format: invalid value "fancy"; allowed: simple, verbose, json (any case)`,
				`agent.toml:7:16: logging.pkg-ns."ai.backend": invalid value "CHATTY"; allowed: TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL, NOTSET (any case)`,
			},
		},
		{
			name: "logging version",
			doc:  "[logging]\nversion = 2\n",
			want: []string{`agent.toml:2:11: logging.version: must be 1, got 2`},
		},
		{
			name: "affinity policy from the old sample",
			doc:  "[resource]\naffinity-policy = \"PACKED\"\n",
			want: []string{`agent.toml:2:19: resource.affinity-policy: invalid value "PACKED"; allowed: INTERLEAVED, PREFER_SINGLE_NODE (any case)`},
		},
		{
			name: "manual allocation without allocations",
			doc:  "[resource]\nallocation-mode = \"manual\"\n",
			want: []string{`agent.toml:1:2: resource.allocations: [resource.allocations] with cpu and mem is required when allocation-mode is "manual"`},
		},
		{
			name: "allocations in shared mode, incomplete",
			doc:  "[resource.allocations]\ncpu = 4\ndevices = { cuda.device = \"x\" }\n",
			want: []string{
				`agent.toml:1:11: resource.allocations.mem: required key is missing`,
			},
		},
		{
			name: "allocations in shared mode",
			doc:  "[resource.allocations]\ncpu = 4\nmem = \"8G\"\ndevices = { cuda.device = \"x\" }\n",
			want: []string{
				`agent.toml:1:11: resource.allocations: only allowed when allocation-mode is "manual"`,
				`agent.toml:4:27: resource.allocations.devices."cuda.device": expected a non-negative decimal amount, got "x"`,
			},
		},
		{
			name: "tls without certificate",
			doc:  "[agent]\nssl-enabled = true\n",
			want: []string{
				`agent.toml:1:2: agent.ssl-cert: must be set when ssl-enabled is true`,
				`agent.toml:1:2: agent.ssl-key: must be set when ssl-enabled is true`,
			},
		},
		{
			name: "link-local rpc host",
			doc:  "[agent]\nrpc-listen-addr = \"169.254.1.1:6001\"\n",
			want: []string{`agent.toml:2:19: agent.rpc-listen-addr.host: cannot listen on the link-local address 169.254.1.1`},
		},
		{
			name: "unknown kernel user",
			doc:  "[container]\nkernel-uid = \"nobody-here\"\nkernel-gid = -2\n",
			want: []string{
				`agent.toml:2:14: container.kernel-uid: no such user "nobody-here": unknown name`,
				`agent.toml:3:14: container.kernel-gid: must be at least -1, got -2`,
			},
		},
		{
			name: "service discovery endpoint without protocol",
			doc:  "[[service-discovery.endpoints]]\nrole = \"main\"\nscope = \"private\"\naddress = \"x\"\nport = 6003\n",
			want: []string{`agent.toml:1:21: service-discovery.endpoints[0].protocol: required key is missing`},
		},
		{
			name: "service discovery endpoint port",
			doc:  "[[service-discovery.endpoints]]\nrole = \"main\"\nscope = \"private\"\naddress = \"x\"\nport = 0\nprotocol = \"http\"\n",
			want: []string{`agent.toml:5:8: service-discovery.endpoints[0].port: port 0 out of range 1..65535`},
		},
		{
			name: "problems in file order, then the environment",
			doc:  "[resource]\nreserved-cpu = \"one\"\n[agent]\nid = 7\n",
			env:  map[string]string{"BACKEND_AGENT_PORT": "http"},
			want: []string{
				`agent.toml:2:16: resource.reserved-cpu: expected integer, got string "one"`,
				`agent.toml:4:6: agent.id: expected string, got integer 7`,
				`$BACKEND_AGENT_PORT: agent.rpc-listen-addr.port: expected an integer port, got "http"`,
			},
		},
		{
			name: "environment values",
			env: map[string]string{
				"BACKEND_ETCD_ADDR":            "etcd1",
				"BACKEND_AGENT_PORT":           "70000",
				"BACKEND_CONTAINER_PORT_RANGE": "nope",
				"BACKEND_SANDBOX_TYPE":         "jail",
				"BACKEND_WATCHER_SERVICE_PORT": "0",
			},
			want: []string{
				`$BACKEND_ETCD_ADDR: etcd.addr: invalid address "etcd1": expected "host:port"`,
				`$BACKEND_CONTAINER_PORT_RANGE: container.port-range: expected a port range such as "30000-31000", got "nope"`,
				`$BACKEND_AGENT_PORT: agent.rpc-listen-addr.port: port 70000 out of range 1..65535`,
				`$BACKEND_SANDBOX_TYPE: container.sandbox-type: "jail" is not supported by this agent; use "docker"`,
				`$BACKEND_WATCHER_SERVICE_PORT: watcher.service-addr.port: port 0 out of range 1..65535`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse("agent.toml", []byte(tt.doc), testOptions(tt.env))
			if err == nil {
				t.Fatalf("Parse succeeded, want problems:\n\t%s", strings.Join(tt.want, "\n\t"))
			}
			if cfg != nil {
				t.Error("Parse returned a config along with problems")
			}
			diffLines(t, "problems", problemStrings(t, err), tt.want)
		})
	}
}
