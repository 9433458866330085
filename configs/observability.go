package configs

// Otel is the [otel] section: OpenTelemetry export.
type Otel struct {
	// Enabled turns export on.
	Enabled bool `toml:"enabled"`
	// LogLevel is the level of exported logs.
	LogLevel string `toml:"log-level"`
	// Endpoint is the OTLP collector.
	Endpoint string `toml:"endpoint"`
	// MaxQueueSize bounds the export queue.
	MaxQueueSize int `toml:"max-queue-size"`
	// MaxExportBatchSize bounds one export batch (<= MaxQueueSize).
	MaxExportBatchSize int `toml:"max-export-batch-size"`
}

// ServiceDiscovery is the [service-discovery] section: how the agent
// announces itself to the other Backend.AI services.
type ServiceDiscovery struct {
	// Type is "redis" or "etcd".
	Type string `toml:"type"`
	// InstanceID overrides the announced instance ID; "" means agent-{id}.
	InstanceID string `toml:"instance-id"`
	// ServiceGroup overrides the announced service group; "" means "agent".
	ServiceGroup string `toml:"service-group"`
	// DisplayName overrides the announced display name.
	DisplayName string `toml:"display-name"`
	// ExtraLabels are added to the announcement.
	ExtraLabels map[string]string `toml:"extra-labels"`
	// Endpoints are [[service-discovery.endpoints]].
	Endpoints []ServiceEndpoint `toml:"endpoints"`
}

// ServiceEndpoint is one [[service-discovery.endpoints]] entry.
type ServiceEndpoint struct {
	// Role of the endpoint, such as "main".
	Role string `toml:"role" cfg:"required"`
	// Scope of the endpoint, such as "public" or "private".
	Scope string `toml:"scope" cfg:"required"`
	// Address is the host of the endpoint.
	Address string `toml:"address" cfg:"required"`
	// Port is the port of the endpoint.
	Port int `toml:"port" cfg:"required"`
	// Protocol is the protocol of the endpoint, such as "http".
	Protocol string `toml:"protocol" cfg:"required"`
	// Metadata are free-form labels.
	Metadata map[string]string `toml:"metadata"`
}

// Pyroscope is the [pyroscope] section. This agent does not implement
// continuous profiling: the section is validated and kept, and its presence
// in a file is warned about.
type Pyroscope struct {
	// Enabled turns profiling on.
	Enabled bool `toml:"enabled"`
	// AppName is the profiled application's name.
	AppName string `toml:"app-name"`
	// ServerAddr is the Pyroscope server.
	ServerAddr string `toml:"server-addr"`
	// SampleRate is the sampling rate; 0 means the client's default.
	SampleRate int `toml:"sample-rate"`
}
