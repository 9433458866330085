package stats

import (
	"fmt"
	"slices"
	"strings"
)

// MetricValue is one metric as upstream sends it to the manager (its
// MetricValue TypedDict): "current" (string), "capacity" (string, or nil
// for null), "pct" (string), "unit_hint" (string) and "stats.<name>" for
// each statistic in the metric's filter (strings, except
// "stats.version", the int StatsVersion). A msgpack encoder writes it as
// a map of these values.
type MetricValue map[string]any

// Keys returns v's keys in upstream's order: current, capacity, pct,
// unit_hint, then the statistics in the order min, max, sum, avg, diff,
// rate, version. Keys of any other name follow, sorted.
func (v MetricValue) Keys() []string {
	keys := make([]string, 0, len(v))
	seen := make(map[string]bool, len(v))
	add := func(k string) {
		if _, ok := v[k]; ok && !seen[k] {
			keys = append(keys, k)
			seen[k] = true
		}
	}
	for _, k := range []string{"current", "capacity", "pct", "unit_hint"} {
		add(k)
	}
	for _, k := range statsKeys() {
		add("stats." + k)
	}
	var rest []string
	for k := range v {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// String returns v as "key=value" pairs in Keys order, with null for a
// nil value: a stable text for logs and golden tests.
func (v MetricValue) String() string {
	var b strings.Builder
	for i, k := range v.Keys() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		switch x := v[k].(type) {
		case nil:
			b.WriteString("null")
		case string:
			b.WriteString(x)
		default:
			fmt.Fprint(&b, x)
		}
	}
	return b.String()
}
