package configs

// API is the [api] section: timeouts of image operations. Upstream fills it
// from etcd config/agent/api at startup; the file gives the defaults.
type API struct {
	// PullTimeout bounds an image pull; 0 means no timeout.
	PullTimeout Duration `toml:"pull-timeout"`
	// CommitTimeout bounds an image commit; 0 means no timeout.
	CommitTimeout Duration `toml:"commit-timeout"`
	// PushTimeout bounds an image push; 0 means no timeout.
	PushTimeout Duration `toml:"push-timeout"`
}

// KernelLifecycles is the [kernel-lifecycles] section: the readiness loop of
// a new kernel. Upstream fills it from etcd config/agent/kernel-lifecycles.
type KernelLifecycles struct {
	// InitPollingAttempt is how many times readiness is polled (>= 1).
	InitPollingAttempt int `toml:"init-polling-attempt"`
	// InitPollingTimeout bounds one readiness poll.
	InitPollingTimeout Duration `toml:"init-polling-timeout-sec"`
	// InitTimeout bounds the whole kernel initialization.
	InitTimeout Duration `toml:"init-timeout-sec"`
}

// ContainerLogs is the [container-logs] section: how kernel logs are kept.
// Upstream fills it from etcd config/agent/container-logs.
type ContainerLogs struct {
	// Driver is "local" or "json-file".
	Driver string `toml:"driver"`
	// MaxLength is the most log bytes kept per kernel.
	MaxLength BinarySize `toml:"max-length"`
	// ChunkSize is the size of the log chunks sent to Redis.
	ChunkSize BinarySize `toml:"chunk-size"`
}
