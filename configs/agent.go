package configs

// Agent is the [agent] section: identity, listening addresses and local
// directories of the agent process.
type Agent struct {
	// Backend is upstream's container backend (alias "mode"). Only "docker"
	// is accepted: this agent runs kernels itself through libcontainer and
	// keeps the value for the manager's sake. Upstream requires the key;
	// here it defaults to "docker".
	Backend string `toml:"backend" alias:"mode"`
	// ID is the agent ID; "" means auto-detected (cloud instance ID or
	// i-<hostname>). Pin it, or a hostname change registers a new agent.
	ID string `toml:"id"`
	// RPCListenAddr is where the manager's RPC connects. An empty host
	// means auto-detection through etcd config/network/subnet/agent.
	RPCListenAddr HostPort `toml:"rpc-listen-addr"`
	// AdvertisedRPCAddr, when set, is the RPC address reported to the
	// manager instead of RPCListenAddr (for NAT).
	AdvertisedRPCAddr *HostPort `toml:"advertised-rpc-addr"`
	// InternalAddr is the internal HTTP server: health, readiness and
	// Prometheus metrics (alias "service-addr").
	InternalAddr HostPort `toml:"internal-addr" alias:"service-addr"`
	// AnnounceInternalAddr is the internal address published through
	// service discovery (alias "announce-addr").
	AnnounceInternalAddr HostPort `toml:"announce-internal-addr" alias:"announce-addr"`
	// SSLEnabled turns on TLS for the internal HTTP server.
	SSLEnabled bool `toml:"ssl-enabled"`
	// SSLCert is the PEM certificate of the internal HTTP server.
	SSLCert string `toml:"ssl-cert" cfg:"path"`
	// SSLKey is the PEM private key of the internal HTTP server.
	SSLKey string `toml:"ssl-key" cfg:"path"`
	// RPCAuthManagerPublicKey is the manager's ZeroMQ CURVE public key file.
	RPCAuthManagerPublicKey string `toml:"rpc-auth-manager-public-key" cfg:"path"`
	// RPCAuthAgentKeypair is the agent's ZeroMQ CURVE keypair file;
	// setting it enables CURVE on the RPC socket.
	RPCAuthAgentKeypair string `toml:"rpc-auth-agent-keypair" cfg:"path"`
	// AgentSockPort is the port of the agent socket for in-container
	// helpers (1024..65535).
	AgentSockPort int `toml:"agent-sock-port"`
	// IPCBasePath holds the agent's unix sockets.
	IPCBasePath string `toml:"ipc-base-path" cfg:"path"`
	// VarBasePath holds persistent agent state.
	VarBasePath string `toml:"var-base-path" cfg:"path"`
	// MountPath is the base of storage mounts; "" means none.
	MountPath string `toml:"mount-path" cfg:"path"`
	// CohabitingStorageProxy says a storage proxy runs on the same host.
	CohabitingStorageProxy bool `toml:"cohabiting-storage-proxy"`
	// PublicHost is the host name users reach kernel services at; "" falls
	// back to container.advertised-host, then container.bind-host.
	PublicHost string `toml:"public-host"`
	// Region is the cloud region; "" means auto-detected.
	Region string `toml:"region"`
	// InstanceType is the cloud instance type; "" means auto-detected.
	InstanceType string `toml:"instance-type"`
	// ScalingGroup is the resource group the agent joins at its first
	// registration (key initial-resource-group-name since 26.8; alias
	// "scaling-group", accepted with a warning). "" means the manager's
	// default group.
	ScalingGroup string `toml:"initial-resource-group-name" alias:"scaling-group"`
	// ScalingGroupType is "compute" or "storage".
	ScalingGroupType string `toml:"scaling-group-type"`
	// PIDFile is where the agent writes its PID; "/dev/null" means none.
	PIDFile string `toml:"pid-file" cfg:"path"`
	// SkipManagerDetection skips waiting for a manager to be up in etcd.
	SkipManagerDetection bool `toml:"skip-manager-detection"`
	// MetadataServerBindHost is the bind host of the container metadata
	// server.
	MetadataServerBindHost string `toml:"metadata-server-bind-host"`
	// MetadataServerPort is the port of the container metadata server.
	MetadataServerPort int `toml:"metadata-server-port"`
	// AllowComputePlugins, when non-empty, lists the only compute plugins
	// to load (entry-point names such as ai.backend.accelerator.cuda_open).
	AllowComputePlugins []string `toml:"allow-compute-plugins"`
	// BlockComputePlugins lists compute plugins never to load.
	BlockComputePlugins []string `toml:"block-compute-plugins"`
	// AllowNetworkPlugins, when non-empty, lists the only network plugins
	// to load.
	AllowNetworkPlugins []string `toml:"allow-network-plugins"`
	// BlockNetworkPlugins lists network plugins never to load.
	BlockNetworkPlugins []string `toml:"block-network-plugins"`
	// ImageCommitPath holds temporary data of image commits.
	ImageCommitPath string `toml:"image-commit-path" cfg:"path"`
	// AbuseReportPath, when set, is read for abuse reports of kernels.
	AbuseReportPath string `toml:"abuse-report-path" cfg:"path"`
	// ForceTerminateAbusingContainers destroys kernels reported as abusing.
	ForceTerminateAbusingContainers bool `toml:"force-terminate-abusing-containers"`
	// EventWireFormat is the form of the events sent to Redis (ours, not
	// upstream's): "msgpack-26.8" (default), as Backend.AI up to 26.8
	// reads them, or "json", the form of upstream main after BA-7315.
	EventWireFormat string `toml:"event-wire-format"`
	// KernelCreationConcurrency bounds concurrent kernel creations within
	// one create_kernels call (1..32).
	KernelCreationConcurrency int `toml:"kernel-creation-concurrency"`
	// MountPathUIDGID is the "user:group" owning mounted directories; ""
	// means unchanged.
	MountPathUIDGID string `toml:"mount-path-uid-gid"`
	// SyncContainerLifecycles is [agent.sync-container-lifecycles].
	SyncContainerLifecycles SyncContainerLifecycles `toml:"sync-container-lifecycles"`
	// UtilizationMetric is [agent.utilization-metric].
	UtilizationMetric UtilizationMetric `toml:"utilization-metric"`
}

// SyncContainerLifecycles is [agent.sync-container-lifecycles]: the periodic
// reconciliation of kernel states with the manager.
type SyncContainerLifecycles struct {
	// Enabled turns the reconciliation loop on.
	Enabled bool `toml:"enabled"`
	// Interval is the time between two reconciliations.
	Interval Duration `toml:"interval"`
}

// UtilizationMetric is [agent.utilization-metric]: the stats collection
// loops.
type UtilizationMetric struct {
	// Node is the per-node loop.
	Node MetricLoop `toml:"node"`
	// Container is the per-kernel loop.
	Container MetricLoop `toml:"container"`
	// Process is the per-process loop.
	Process MetricLoop `toml:"process"`
}

// MetricLoop is one stats collection loop.
type MetricLoop struct {
	// Enable turns the loop on.
	Enable bool `toml:"enable"`
	// Interval is the time between two collections (> 0).
	Interval Duration `toml:"interval"`
}
