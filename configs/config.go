package configs

import (
	"fmt"
	"os"
	"os/user"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// Config is a whole agent.toml. Every section is optional in a file; what a
// file leaves out keeps the value of Default.
type Config struct {
	// Etcd is [etcd].
	Etcd Etcd `toml:"etcd"`
	// Agent is [agent].
	Agent Agent `toml:"agent"`
	// Container is [container].
	Container Container `toml:"container"`
	// Resource is [resource].
	Resource Resource `toml:"resource"`
	// Watcher is [watcher].
	Watcher Watcher `toml:"watcher"`
	// Logging is [logging].
	Logging Logging `toml:"logging"`
	// Debug is [debug].
	Debug Debug `toml:"debug"`
	// API is [api].
	API API `toml:"api"`
	// KernelLifecycles is [kernel-lifecycles].
	KernelLifecycles KernelLifecycles `toml:"kernel-lifecycles"`
	// ContainerLogs is [container-logs].
	ContainerLogs ContainerLogs `toml:"container-logs"`
	// Otel is [otel].
	Otel Otel `toml:"otel"`
	// ServiceDiscovery is [service-discovery].
	ServiceDiscovery ServiceDiscovery `toml:"service-discovery"`
	// Pyroscope is [pyroscope] (not implemented; see Pyroscope).
	Pyroscope Pyroscope `toml:"pyroscope"`
}

// Default returns a configuration with every key at its default: upstream's
// code defaults (config/unified.py), except for directories. Upstream
// defaults those relative to the working directory (./var/lib/backend.ai,
// ./scratches, ...) or under /tmp; a root daemon needs fixed absolute
// places, so they default under /var/lib/backend.ai, /run/backend.ai and
// /var/log/backend.ai instead. Other deviations are noted where they are
// set. Slices and maps are never nil.
func Default() *Config {
	const varBase = "/var/lib/backend.ai"
	return &Config{
		Etcd: Etcd{
			Namespace: "local",
			Addr:      []HostPort{{Host: "127.0.0.1", Port: 2379}},
		},
		Agent: Agent{
			Backend:                   "docker", // upstream: required, no default
			RPCListenAddr:             HostPort{Host: "0.0.0.0", Port: 6001},
			InternalAddr:              HostPort{Host: "0.0.0.0", Port: 6003},
			AnnounceInternalAddr:      HostPort{Host: "host.docker.internal", Port: 6003},
			AgentSockPort:             6007,
			IPCBasePath:               "/run/backend.ai/ipc", // upstream: /tmp/backend.ai/ipc
			VarBasePath:               varBase,               // upstream: ./var/lib/backend.ai
			CohabitingStorageProxy:    true,
			ScalingGroupType:          "compute",
			PIDFile:                   os.DevNull,
			MetadataServerBindHost:    "0.0.0.0",
			MetadataServerPort:        40128,
			AllowComputePlugins:       []string{},
			BlockComputePlugins:       []string{},
			AllowNetworkPlugins:       []string{},
			BlockNetworkPlugins:       []string{},
			ImageCommitPath:           varBase + "/commit", // upstream: ./tmp/backend.ai/commit
			KernelCreationConcurrency: 4,
			EventWireFormat:           "msgpack-26.8",
			SyncContainerLifecycles: SyncContainerLifecycles{
				Enabled:  true,
				Interval: Duration(10 * time.Second),
			},
			UtilizationMetric: UtilizationMetric{
				Node:      MetricLoop{Enable: true, Interval: Duration(30 * time.Second)},
				Container: MetricLoop{Enable: true, Interval: Duration(30 * time.Second)},
				Process:   MetricLoop{Enable: true, Interval: Duration(30 * time.Second)},
			},
		},
		Container: Container{
			KernelUID:          -1,
			KernelGID:          -1,
			PortRange:          [2]int{30000, 31000},
			PortReuseCooldown:  Duration(60 * time.Second),
			StatsType:          "docker",
			SandboxType:        "docker",
			JailArgs:           []string{},
			ScratchType:        "hostdir",
			ScratchRoot:        varBase + "/scratches", // upstream: ./scratches
			BridgeSubnet:       "10.230.0.0/16",
			SessionNetworkPool: "10.240.0.0/16",
		},
		Resource: Resource{
			ReservedCPU:     1,
			ReservedMem:     1 << 30,
			ReservedDisk:    8 << 30,
			MemoryAlignSize: 16 << 20,
			AllocationOrder: []string{"cuda", "rocm", "tpu", "cpu", "mem"},
			AffinityPolicy:  "INTERLEAVED",
			AllocationMode:  "shared",
		},
		Watcher: Watcher{
			ServiceAddr:   HostPort{Host: "0.0.0.0", Port: 6009},
			TargetService: "backendai-agent.service",
		},
		Logging: Logging{
			Version: 1,
			Level:   "INFO",
			Drivers: []string{"console"},
			Console: LoggingConsole{Format: "verbose"},
			// Upstream has no defaults for path and filename: [logging.file]
			// is required when the file driver is on.
			File: LoggingFile{
				Path:         "/var/log/backend.ai",
				Filename:     "agent.log",
				BackupCount:  5,
				RotationSize: 10 << 20, // upstream: pydantic "10MB", 10^7 bytes
				Format:       "verbose",
			},
			PkgNS: map[string]string{"": "WARNING", "ai.backend": "INFO", "tests": "DEBUG"},
		},
		Debug: Debug{
			HeartbeatInterval: Duration(20 * time.Second),
			Coredump: Coredump{
				Path:        varBase + "/coredumps", // upstream: ./coredumps
				BackupCount: 10,
				SizeLimit:   64 << 20,
			},
		},
		API: API{PullTimeout: Duration(7200 * time.Second)},
		KernelLifecycles: KernelLifecycles{
			InitPollingAttempt: 10,
			InitPollingTimeout: Duration(60 * time.Second),
			InitTimeout:        Duration(60 * time.Second),
		},
		ContainerLogs: ContainerLogs{Driver: "local", MaxLength: 10 << 20, ChunkSize: 64 << 10},
		Otel: Otel{
			LogLevel:           "INFO",
			Endpoint:           "http://localhost:4317",
			MaxQueueSize:       65536,
			MaxExportBatchSize: 4096,
		},
		ServiceDiscovery: ServiceDiscovery{
			Type:        "redis",
			ExtraLabels: map[string]string{},
			Endpoints:   []ServiceEndpoint{},
		},
	}
}

// Options tune Parse and Load. The zero value reads the process
// environment and working directory.
type Options struct {
	// Getenv is the source of BACKEND_* overrides and of $HOME for "~"
	// in paths; nil means os.Getenv. An empty value counts as unset.
	Getenv func(string) string
	// WorkDir is the base of relative paths in the file; "" means the
	// process working directory (upstream resolves against the cwd too,
	// which systemd sets with WorkingDirectory=).
	WorkDir string
	// LookupUser resolves a kernel-uid given as a user name; nil means
	// os/user.Lookup.
	LookupUser func(name string) (uid int, err error)
	// LookupGroup resolves a kernel-gid given as a group name; nil means
	// os/user.LookupGroup.
	LookupGroup func(name string) (gid int, err error)
}

// withDefaults fills the nil hooks of o.
func (o Options) withDefaults() (Options, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.WorkDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return o, fmt.Errorf("get working directory: %w", err)
		}
		o.WorkDir = wd
	}
	if o.LookupUser == nil {
		o.LookupUser = func(name string) (int, error) {
			u, err := user.Lookup(name)
			if err != nil {
				return 0, err
			}
			return strconv.Atoi(u.Uid)
		}
	}
	if o.LookupGroup == nil {
		o.LookupGroup = func(name string) (int, error) {
			g, err := user.LookupGroup(name)
			if err != nil {
				return 0, err
			}
			return strconv.Atoi(g.Gid)
		}
	}
	return o, nil
}

// Load reads the file at path and parses it with Parse.
func Load(path string, o Options) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return Parse(path, data, o)
}

// Parse decodes the TOML document data, read from filename (used in
// messages only), over Default; applies the BACKEND_* environment overrides;
// resolves relative paths against o.WorkDir; and validates the result.
//
// When anything is wrong it returns a nil Config and a Problems error that
// lists every problem found, in file order, then those of environment
// variables. Warnings name the keys present in the file that upstream knows
// but this agent ignores; they are returned whether or not there are
// problems.
func Parse(filename string, data []byte, o Options) (*Config, []Warning, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	root, perr := parseTree(filename, data)
	if perr != nil {
		return nil, nil, Problems{*perr}
	}
	cfg := Default()
	d := newDecoder(filename, o)
	d.decodeConfig(root, cfg)
	d.applyEnv(cfg)
	d.driverWarnings(&cfg.Logging)
	fillEmpty(reflect.ValueOf(cfg))
	normalize(cfg)
	for _, p := range validate(cfg) {
		d.problems = append(d.problems, d.locate(p))
	}
	sortProblems(d.warnings)
	sortProblems(d.problems)
	if len(d.problems) > 0 {
		return nil, d.warnings, d.problems
	}
	return cfg, d.warnings, nil
}

// Validate checks c as Parse does after decoding, without positions: each
// Problem carries only the key path. It returns nil or a Problems error.
func (c *Config) Validate() error {
	ps := validate(c)
	if len(ps) == 0 {
		return nil
	}
	return Problems(slices.Clone(ps))
}
