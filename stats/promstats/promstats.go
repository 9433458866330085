// Package promstats is the stats collector as a Prometheus collector, for
// the server's /metrics (kept out of package stats, so that `run` does not
// link Prometheus).
package promstats

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baiagent/agent/stats"
)

// Prometheus is the collector's live view for /metrics: a
// prometheus.Collector built from the last sweeps at every scrape, so a
// kernel's series are gone as soon as the collector dropped the kernel.
// Families (current values; "_capacity" where a metric has one):
//
//	backendai_kernel_<metric>{kernel_id}
//	backendai_node_<metric>
//	backendai_device_<metric>{device}
//
// It is an unchecked collector: the set of series changes with the
// kernels, so Describe announces nothing.
type Prometheus struct{ c *stats.Collector }

// New returns c's Prometheus view.
func New(c *stats.Collector) *Prometheus { return &Prometheus{c: c} }

// Describe announces nothing (unchecked collector).
func (p *Prometheus) Describe(chan<- *prometheus.Desc) {}

// Collect sends the current values of every kernel, node and device
// metric.
func (p *Prometheus) Collect(ch chan<- prometheus.Metric) {
	for _, id := range slices.Sorted(slices.Values(p.c.KernelIDs())) {
		ms, ok := p.c.Kernel(id)
		if !ok {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(ms)) {
			sendValue(ch, "backendai_kernel_"+promName(key), ms[key], []string{"kernel_id"}, id)
		}
	}
	ns := p.c.Node()
	for _, key := range slices.Sorted(maps.Keys(ns.Node)) {
		sendValue(ch, "backendai_node_"+promName(key), ns.Node[key], nil)
	}
	for _, key := range slices.Sorted(maps.Keys(ns.Devices)) {
		devs := ns.Devices[key]
		for _, dev := range slices.Sorted(maps.Keys(devs)) {
			sendValue(ch, "backendai_device_"+promName(key), devs[dev], []string{"device"}, dev)
		}
	}
}

// sendValue sends a metric's current value, and its capacity when it has
// one, as gauges.
func sendValue(ch chan<- prometheus.Metric, name string, v stats.MetricValue, labels []string, values ...string) {
	unit, _ := v["unit_hint"].(string)
	help := "Backend.AI metric " + strings.TrimPrefix(name, "backendai_") + " (" + unit + ")"
	if f, ok := decimalOf(v["current"]); ok {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue, f, values...)
	}
	if f, ok := decimalOf(v["capacity"]); ok {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name+"_capacity", help+", capacity", labels, nil), prometheus.GaugeValue, f, values...)
	}
}

func decimalOf(v any) (float64, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// promName makes a metric key a valid Prometheus name part.
func promName(key string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, key)
}
