package configs

import (
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
)

// Allowed values of enumerated keys.
var (
	logLevels        = []string{"TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "NOTSET"}
	logFormats       = []string{"simple", "verbose", "json"} // upstream: simple, verbose
	logDrivers       = []string{"console", "file", "logstash", "graylog"}
	affinityPolicies = []string{"INTERLEAVED", "PREFER_SINGLE_NODE"}
)

// normalize canonicalizes the case of case-insensitive enumerations, as
// upstream does: log levels upper-case, log formats lower-case, the
// affinity policy upper-case.
func normalize(c *Config) {
	c.Logging.Level = strings.ToUpper(c.Logging.Level)
	for k, l := range c.Logging.PkgNS {
		c.Logging.PkgNS[k] = strings.ToUpper(l)
	}
	c.Logging.Console.Format = strings.ToLower(c.Logging.Console.Format)
	c.Logging.File.Format = strings.ToLower(c.Logging.File.Format)
	c.Otel.LogLevel = strings.ToUpper(c.Otel.LogLevel)
	c.Resource.AffinityPolicy = strings.ToUpper(c.Resource.AffinityPolicy)
}

// checker collects problems by canonical key path.
type checker struct {
	problems []Problem
}

// add records a problem of key.
func (c *checker) add(key, format string, args ...any) {
	c.problems = append(c.problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

// oneOf checks an enumerated value (case-sensitively, as upstream).
func (c *checker) oneOf(key, v string, allowed ...string) bool {
	if slices.Contains(allowed, v) {
		return true
	}
	c.add(key, "invalid value %q; allowed: %s", v, strings.Join(allowed, ", "))
	return false
}

// oneOfFold checks an enumerated value case-insensitively.
func (c *checker) oneOfFold(key, v string, allowed ...string) {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return
		}
	}
	c.add(key, "invalid value %q; allowed: %s (any case)", v, strings.Join(allowed, ", "))
}

// intRange checks lo <= v <= hi.
func (c *checker) intRange(key string, v, lo, hi int) {
	if v < lo || v > hi {
		c.add(key, "%d out of range %d..%d", v, lo, hi)
	}
}

// atLeast checks v >= lo.
func (c *checker) atLeast(key string, v, lo int) {
	if v < lo {
		c.add(key, "must be at least %d, got %d", lo, v)
	}
}

// port checks a port number.
func (c *checker) port(key string, p int) {
	if p < 1 || p > 65535 {
		c.add(key, "port %d out of range 1..65535", p)
	}
}

// hostPort checks the port of an address.
func (c *checker) hostPort(key string, hp HostPort) {
	c.port(key+".port", hp.Port)
}

// positive checks d > 0.
func (c *checker) positive(key string, d Duration) {
	if d <= 0 {
		c.add(key, "must be positive, got %s", d)
	}
}

// nonNegative checks d >= 0.
func (c *checker) nonNegative(key string, d Duration) {
	if d < 0 {
		c.add(key, "must not be negative, got %s", d)
	}
}

// required checks that a string is set.
func (c *checker) required(key, v, why string) {
	if v == "" {
		c.add(key, "must be set%s", why)
	}
}

// validate returns every problem of c, keyed by canonical key path.
func validate(cfg *Config) []Problem {
	c := &checker{}
	validateEtcd(c, &cfg.Etcd)
	validateAgent(c, &cfg.Agent)
	validateContainer(c, &cfg.Container)
	validateResource(c, &cfg.Resource)
	validateWatcher(c, &cfg.Watcher)
	validateLogging(c, &cfg.Logging)
	validateDebug(c, &cfg.Debug)
	validateLifecycles(c, cfg)
	validateObservability(c, cfg)
	return c.problems
}

func validateEtcd(c *checker, e *Etcd) {
	c.required("etcd.namespace", e.Namespace, "")
	if len(e.Addr) == 0 {
		c.add("etcd.addr", "at least one address is required")
	}
	for _, a := range e.Addr {
		if a.Host == "" {
			c.add("etcd.addr.host", "host must not be empty")
		}
		c.hostPort("etcd.addr", a)
	}
	if e.LocalFallback && len(e.Addr) > 0 && !IsLoopbackHost(e.Addr[0].Host) {
		c.add("etcd.local-fallback", "only allowed when the first etcd.addr is a loopback address (127.0.0.1, ::1 or localhost), not %q: the local etcd listens on loopback only", e.Addr[0].Host)
	}
}

func validateAgent(c *checker, a *Agent) {
	switch a.Backend {
	case "docker":
	case "kubernetes", "dummy":
		c.add("agent.backend", `%q is not supported by this agent; use "docker" (kernels run through libcontainer either way)`, a.Backend)
	default:
		c.oneOf("agent.backend", a.Backend, "docker", "kubernetes", "dummy")
	}
	c.hostPort("agent.rpc-listen-addr", a.RPCListenAddr)
	if ip, err := netip.ParseAddr(strings.Trim(a.RPCListenAddr.Host, "[]")); err == nil && (ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()) {
		c.add("agent.rpc-listen-addr.host", "cannot listen on the link-local address %s", ip)
	}
	if a.AdvertisedRPCAddr != nil {
		c.hostPort("agent.advertised-rpc-addr", *a.AdvertisedRPCAddr)
	}
	c.hostPort("agent.internal-addr", a.InternalAddr)
	c.hostPort("agent.announce-internal-addr", a.AnnounceInternalAddr)
	if a.SSLEnabled {
		c.required("agent.ssl-cert", a.SSLCert, " when ssl-enabled is true")
		c.required("agent.ssl-key", a.SSLKey, " when ssl-enabled is true")
	}
	c.intRange("agent.agent-sock-port", a.AgentSockPort, 1024, 65535)
	c.required("agent.ipc-base-path", a.IPCBasePath, "")
	c.required("agent.var-base-path", a.VarBasePath, "")
	c.required("agent.image-commit-path", a.ImageCommitPath, "")
	c.required("agent.pid-file", a.PIDFile, ` (use "/dev/null" for none)`)
	c.oneOf("agent.scaling-group-type", a.ScalingGroupType, "compute", "storage")
	c.port("agent.metadata-server-port", a.MetadataServerPort)
	c.intRange("agent.kernel-creation-concurrency", a.KernelCreationConcurrency, 1, 32)
	c.oneOf("agent.event-wire-format", a.EventWireFormat, "msgpack-26.8", "json")
	c.nonNegative("agent.sync-container-lifecycles.interval", a.SyncContainerLifecycles.Interval)
	c.positive("agent.utilization-metric.node.interval", a.UtilizationMetric.Node.Interval)
	c.positive("agent.utilization-metric.container.interval", a.UtilizationMetric.Container.Interval)
	c.positive("agent.utilization-metric.process.interval", a.UtilizationMetric.Process.Interval)
}

func validateContainer(c *checker, ct *Container) {
	c.atLeast("container.kernel-uid", ct.KernelUID, -1)
	c.atLeast("container.kernel-gid", ct.KernelGID, -1)
	c.port("container.port-range[0]", ct.PortRange[0])
	c.port("container.port-range[1]", ct.PortRange[1])
	if ct.PortRange[0] > ct.PortRange[1] {
		c.add("container.port-range", "start %d is after end %d", ct.PortRange[0], ct.PortRange[1])
	}
	c.nonNegative("container.port-reuse-cooldown-sec", ct.PortReuseCooldown)
	c.oneOf("container.stats-type", ct.StatsType, "docker", "cgroup")
	if c.oneOf("container.sandbox-type", ct.SandboxType, "docker", "jail") && ct.SandboxType == "jail" {
		c.add("container.sandbox-type", `"jail" is not supported by this agent; use "docker"`)
	}
	if c.oneOf("container.scratch-type", ct.ScratchType, "hostdir", "hostfile", "memory", "k8s-nfs") && ct.ScratchType == "k8s-nfs" {
		c.add("container.scratch-type", `"k8s-nfs" is not supported by this agent (it needs the kubernetes backend)`)
	}
	c.required("container.scratch-root", ct.ScratchRoot, "")
	c.ipv4Prefix("container.bridge-subnet", ct.BridgeSubnet, 8, 28)
	c.ipv4Prefix("container.session-network-pool", ct.SessionNetworkPool, 8, 24)
	if b := ct.AlternativeBridge; b != "" && (len(b) > 15 || strings.ContainsAny(b, "/ \x00") || b == "." || b == ".." || b == "all" || b == "default") {
		c.add("container.alternative-bridge", "%q is not a usable interface name (at most 15 characters, no '/', space or NUL)", b)
	}
}

// ipv4Prefix checks that v is an IPv4 subnet ("10.230.0.0/16") with a
// prefix length in [minBits, maxBits].
func (c *checker) ipv4Prefix(key, v string, minBits, maxBits int) {
	p, err := netip.ParsePrefix(v)
	switch {
	case err != nil:
		c.add(key, "%q is not a subnet like 10.230.0.0/16", v)
	case !p.Addr().Is4():
		c.add(key, "%q is not IPv4", v)
	case p.Bits() < minBits || p.Bits() > maxBits:
		c.add(key, "prefix length /%d is outside /%d to /%d", p.Bits(), minBits, maxBits)
	case p.Masked() != p:
		c.add(key, "%q has host bits set (did you mean %s?)", v, p.Masked())
	}
}

func validateResource(c *checker, r *Resource) {
	c.atLeast("resource.reserved-cpu", r.ReservedCPU, 0)
	if r.MemoryAlignSize <= 0 {
		c.add("resource.memory-align-size", "must be positive")
	}
	seen := map[string]bool{}
	for i, s := range r.AllocationOrder {
		key := fmt.Sprintf("resource.allocation-order[%d]", i)
		switch {
		case s == "":
			c.add(key, "empty device name")
		case seen[s]:
			c.add(key, "%q is listed twice", s)
		}
		seen[s] = true
	}
	c.oneOfFold("resource.affinity-policy", r.AffinityPolicy, affinityPolicies...)
	if !c.oneOf("resource.allocation-mode", r.AllocationMode, "shared", "auto-split", "manual") {
		return
	}
	switch {
	case r.AllocationMode == "manual" && r.Allocations == nil:
		c.add("resource.allocations", `[resource.allocations] with cpu and mem is required when allocation-mode is "manual"`)
	case r.AllocationMode != "manual" && r.Allocations != nil:
		c.add("resource.allocations", `only allowed when allocation-mode is "manual"`)
	}
	if a := r.Allocations; a != nil {
		c.atLeast("resource.allocations.cpu", a.CPU, 0)
		for _, k := range sortedKeys(a.Devices) {
			v, ok := new(big.Rat).SetString(a.Devices[k])
			if !ok || v.Sign() < 0 {
				c.add("resource.allocations.devices."+quoteKey(k), "expected a non-negative decimal amount, got %q", a.Devices[k])
			}
		}
	}
}

func validateWatcher(c *checker, w *Watcher) {
	c.hostPort("watcher.service-addr", w.ServiceAddr)
	if w.SSLEnabled {
		c.required("watcher.ssl-cert", w.SSLCert, " when ssl-enabled is true")
		c.required("watcher.ssl-key", w.SSLKey, " when ssl-enabled is true")
	}
	c.required("watcher.target-service", w.TargetService, "")
}

func validateLogging(c *checker, l *Logging) {
	if l.Version != 1 {
		c.add("logging.version", "must be 1, got %d", l.Version)
	}
	c.oneOfFold("logging.level", l.Level, logLevels...)
	for i, d := range l.Drivers {
		c.oneOf(fmt.Sprintf("logging.drivers[%d]", i), d, logDrivers...)
	}
	c.oneOfFold("logging.console.format", l.Console.Format, logFormats...)
	c.oneOfFold("logging.file.format", l.File.Format, logFormats...)
	if slices.Contains(l.Drivers, "file") {
		c.required("logging.file.path", l.File.Path, " when the file driver is on")
		c.required("logging.file.filename", l.File.Filename, " when the file driver is on")
	}
	c.atLeast("logging.file.backup-count", l.File.BackupCount, 0)
	for _, k := range sortedKeys(l.PkgNS) {
		c.oneOfFold("logging.pkg-ns."+quoteKey(k), l.PkgNS[k], logLevels...)
	}
}

func validateDebug(c *checker, d *Debug) {
	c.positive("debug.heartbeat-interval", d.HeartbeatInterval)
	c.atLeast("debug.coredump.backup-count", d.Coredump.BackupCount, 1)
	if d.Coredump.Enabled {
		c.required("debug.coredump.path", d.Coredump.Path, " when coredump is enabled")
	}
}

func validateLifecycles(c *checker, cfg *Config) {
	c.nonNegative("api.pull-timeout", cfg.API.PullTimeout)
	c.nonNegative("api.commit-timeout", cfg.API.CommitTimeout)
	c.nonNegative("api.push-timeout", cfg.API.PushTimeout)
	kl := &cfg.KernelLifecycles
	c.atLeast("kernel-lifecycles.init-polling-attempt", kl.InitPollingAttempt, 1)
	c.positive("kernel-lifecycles.init-polling-timeout-sec", kl.InitPollingTimeout)
	c.positive("kernel-lifecycles.init-timeout-sec", kl.InitTimeout)
	cl := &cfg.ContainerLogs
	c.oneOf("container-logs.driver", cl.Driver, "local", "json-file")
	if cl.ChunkSize <= 0 {
		c.add("container-logs.chunk-size", "must be positive")
	}
}

func validateObservability(c *checker, cfg *Config) {
	o := &cfg.Otel
	c.oneOfFold("otel.log-level", o.LogLevel, logLevels...)
	c.atLeast("otel.max-queue-size", o.MaxQueueSize, 1)
	c.intRange("otel.max-export-batch-size", o.MaxExportBatchSize, 1, max(o.MaxQueueSize, 1))
	sd := &cfg.ServiceDiscovery
	c.oneOf("service-discovery.type", sd.Type, "redis", "etcd")
	for i, e := range sd.Endpoints {
		c.port(fmt.Sprintf("service-discovery.endpoints[%d].port", i), e.Port)
	}
	c.atLeast("pyroscope.sample-rate", cfg.Pyroscope.SampleRate, 0)
}

// driverWarnings warns about enabled log drivers this agent ignores.
func (d *decoder) driverWarnings(l *Logging) {
	for i, drv := range l.Drivers {
		if slices.Contains(ignoredDrivers, drv) {
			o, ok := d.origins[fmt.Sprintf("logging.drivers[%d]", i)]
			if !ok {
				o = d.origins["logging.drivers"]
			}
			d.warn(o.at, o.key, fmt.Sprintf("log driver %q is not implemented by this agent; ignored", drv))
		}
	}
}
