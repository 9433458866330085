// Package daemon holds the service plumbing of the agent process: the pid
// file, systemd notification (READY, STOPPING, watchdog) and the internal
// HTTP server with health, liveness, readiness and Prometheus metrics.
// It knows nothing of kernels or of the manager.
package daemon
