package configs

// Watcher is the [watcher] section, read by the agent watcher (a separate
// service that restarts the agent). Upstream's agent schema does not know it;
// it is validated here so that one file serves both.
type Watcher struct {
	// ServiceAddr is where the watcher's HTTP API listens.
	ServiceAddr HostPort `toml:"service-addr"`
	// SSLEnabled turns on TLS for the watcher's HTTP API.
	SSLEnabled bool `toml:"ssl-enabled"`
	// SSLCert is the watcher's PEM certificate.
	SSLCert string `toml:"ssl-cert" cfg:"path"`
	// SSLKey is the watcher's PEM private key (alias "ssl-privkey", the
	// key upstream's watcher code actually reads).
	SSLKey string `toml:"ssl-key" alias:"ssl-privkey" cfg:"path"`
	// TargetService is the systemd unit of the agent.
	TargetService string `toml:"target-service"`
	// SoftResetAvailable allows POST /soft-reset (a systemd reload).
	SoftResetAvailable bool `toml:"soft-reset-available"`
}
