package configs

// Debug is the [debug] section.
type Debug struct {
	// Enabled turns on debug mode (also set by the --debug flag).
	Enabled bool `toml:"enabled"`
	// KernelRunner passes --debug to the in-kernel runner.
	KernelRunner bool `toml:"kernel-runner"`
	// SkipContainerDeletion keeps kernels' containers after termination.
	SkipContainerDeletion bool `toml:"skip-container-deletion"`
	// LogStats logs collected stats.
	LogStats bool `toml:"log-stats"`
	// LogKernelConfig logs kernel creation configs.
	LogKernelConfig bool `toml:"log-kernel-config"`
	// LogAllocMap logs the device allocation maps.
	LogAllocMap bool `toml:"log-alloc-map"`
	// LogEvents logs events sent to the manager.
	LogEvents bool `toml:"log-events"`
	// LogHeartbeats logs heartbeats.
	LogHeartbeats bool `toml:"log-heartbeats"`
	// HeartbeatInterval is the time between two heartbeats (> 0).
	HeartbeatInterval Duration `toml:"heartbeat-interval"`
	// Coredump is [debug.coredump].
	Coredump Coredump `toml:"coredump"`
}

// Coredump is [debug.coredump]: collection of kernels' core dumps.
type Coredump struct {
	// Enabled turns collection on.
	Enabled bool `toml:"enabled"`
	// Path is where core dumps are kept.
	Path string `toml:"path" cfg:"path"`
	// BackupCount is how many core dumps are kept (>= 1).
	BackupCount int `toml:"backup-count"`
	// SizeLimit is the largest core dump kept.
	SizeLimit BinarySize `toml:"size-limit"`
}
