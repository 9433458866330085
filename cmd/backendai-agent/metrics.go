//go:build !slimrun

package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baiagent/agent/internal/daemon"
	"github.com/baiagent/agent/stats"
	"github.com/baiagent/agent/stats/promstats"
)

// metricsRegistry is what the server's /metrics serves: the agent's own
// metrics and the collector's node and kernel series.
func metricsRegistry(col *stats.Collector) *prometheus.Registry {
	reg := daemon.NewRegistry(version)
	reg.MustRegister(promstats.New(col))
	return reg
}
