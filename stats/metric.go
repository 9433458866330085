package stats

import (
	"slices"
	"time"
)

// MetricType says what kind of quantity a metric is, as upstream's
// MetricTypes. Like upstream, it is metadata for readers: how a metric is
// computed and shown follows from its Spec's Current, UnitHint and
// StatsFilter.
type MetricType int

// The metric types, with upstream's numbers.
const (
	// Gauge is an instantly measured occupancy: used bytes, a count.
	Gauge MetricType = 0
	// Usage is Gauge under its older name, kept by upstream for compute
	// plugins.
	Usage MetricType = 0
	// Rate is a rate of change derived from a gauge or an accumulation,
	// such as bytes per second from byte counters.
	Rate MetricType = 1
	// Utilization is the share of each interval a resource was busy,
	// such as CPU time per second.
	Utilization MetricType = 2
	// Accumulation is a value that only grows: events, total busy time.
	Accumulation MetricType = 3
)

// String returns upstream's name of t.
func (t MetricType) String() string {
	switch t {
	case Gauge:
		return "GAUGE"
	case Rate:
		return "RATE"
	case Utilization:
		return "UTILIZATION"
	case Accumulation:
		return "ACCUMULATION"
	}
	return "UNKNOWN"
}

// Unit hints: the "unit_hint" of a metric, telling the manager and the
// web UI how to show it.
const (
	UnitBytes   = "bytes"
	UnitMsec    = "msec"
	UnitPercent = "percent"
	UnitBPS     = "bps"
	UnitCount   = "count"
)

// Measurement is one reading of a metric: a value and, where the metric
// has one, the capacity the value is a share of.
type Measurement struct {
	Value Decimal
	// Capacity is nil when the reading has no capacity; an earlier
	// capacity of the metric then stays.
	Capacity *Decimal
}

// CurrentSource says what a metric reports as "current", standing in for
// upstream's current_hook.
type CurrentSource int

const (
	// CurrentValue reports the newest measured value.
	CurrentValue CurrentSource = iota
	// CurrentDiff reports the difference of the last two measured
	// values (node cpu_util: busy ms in the last interval).
	CurrentDiff
	// CurrentRate reports that difference per second (kernel cpu_util,
	// net_rx and net_tx).
	CurrentRate
)

// Spec describes a metric.
type Spec struct {
	// Key is the metric's name, such as "cpu_util".
	Key string
	// Type is the kind of quantity.
	Type MetricType
	// UnitHint is one of the Unit constants (upstream's default is
	// "count").
	UnitHint string
	// StatsFilter names the statistics reported as "stats.<name>": any
	// of min, max, sum, avg, diff, rate and version. Others are ignored.
	StatsFilter []string
	// Current says what "current" reports.
	Current CurrentSource
}

// Metric is one metric of a node, a device or a kernel over time: the
// newest value and capacity and the moving statistics of every measured
// value, as upstream's Metric. A Metric is not safe for concurrent use.
type Metric struct {
	spec        Spec
	current     Decimal
	capacity    Decimal
	hasCapacity bool
	stats       MovingStatistics
}

// NewMetric starts a node or device metric with its first measurement,
// taken at now. Its capacity is first's, absent if first has none.
func NewMetric(spec Spec, now time.Time, first Measurement) *Metric {
	m := &Metric{spec: spec}
	m.Update(now, first)
	return m
}

// NewKernelMetric starts a kernel (or process) metric with its first
// measurement, taken at now. Like upstream, a first measurement without a
// capacity, or with a zero one, takes its own value as the capacity, so
// a kernel metric's capacity is never null; later measurements without a
// capacity keep it.
func NewKernelMetric(spec Spec, now time.Time, first Measurement) *Metric {
	if first.Capacity == nil || first.Capacity.Sign() == 0 {
		v := first.Value
		first.Capacity = &v
	}
	return NewMetric(spec, now, first)
}

// Update adds the measurement v taken at now.
func (m *Metric) Update(now time.Time, v Measurement) {
	if v.Capacity != nil {
		m.capacity, m.hasCapacity = *v.Capacity, true
	}
	m.stats.Update(now, v.Value)
	switch m.spec.Current {
	case CurrentDiff:
		m.current = m.stats.Diff()
	case CurrentRate:
		m.current = m.stats.Rate()
	default:
		m.current = v.Value
	}
}

// Spec returns the metric's description.
func (m *Metric) Spec() Spec { return m.spec }

// Current returns what the metric reports as "current".
func (m *Metric) Current() Decimal { return m.current }

// Capacity returns the metric's capacity, and false when it has none.
func (m *Metric) Capacity() (Decimal, bool) { return m.capacity, m.hasCapacity }

// Stats returns a copy of the metric's moving statistics.
func (m *Metric) Stats() MovingStatistics { return m.stats }

// Value returns the metric in upstream's wire form (MetricValue).
func (m *Metric) Value() MetricValue {
	v := MetricValue{
		"current":   m.current.String(),
		"capacity":  nil,
		"pct":       "0.00",
		"unit_hint": m.spec.UnitHint,
	}
	if m.hasCapacity {
		v["capacity"] = m.capacity.String()
		if m.capacity.Sign() > 0 {
			v["pct"] = m.current.mul(DecimalFromInt(100)).quo(m.capacity).text(2)
		}
	}
	for _, k := range statsKeys() {
		if slices.Contains(m.spec.StatsFilter, k) {
			v["stats."+k], _ = m.stats.field(k)
		}
	}
	return v
}
