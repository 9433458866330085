package events

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/stats"
)

// metricKeyOrder is the order of stats.MetricValue.Keys for the keys a
// MetricValue has; TestMetricKeyOrder holds the two together. Keys of any
// other name follow, sorted.
func metricKeyOrder() [11]string {
	return [...]string{"current", "capacity", "pct", "unit_hint",
		"stats.min", "stats.max", "stats.sum", "stats.avg", "stats.diff", "stats.rate", "stats.version"}
}

// metricEncoder writes stats maps as msgpack straight into a buffer, for
// the values a MetricValue holds (str, nil, small ints) without building
// codec values first; anything else goes through codec.Encode. It writes
// the bytes codec.Encode writes for the same ordered maps. One call uses
// an encoder at a time.
type metricEncoder struct {
	buf  []byte
	keys []string
}

// metricMap appends {key: MetricValue} with the keys sorted.
func (e *metricEncoder) metricMap(m map[string]stats.MetricValue) error {
	e.mapHeader(len(m))
	start := len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	keys := e.keys[start:]
	slices.Sort(keys)
	defer func() { e.keys = e.keys[:start] }()
	for _, k := range keys {
		if err := e.str(k); err != nil {
			return err
		}
		if err := e.metricValue(m[k]); err != nil {
			return fmt.Errorf("metric %s: %w", k, err)
		}
	}
	return nil
}

// metricRank is k's place in metricKeyOrder, or -1.
func metricRank(k string) int {
	switch k {
	case "current":
		return 0
	case "capacity":
		return 1
	case "pct":
		return 2
	case "unit_hint":
		return 3
	case "stats.min":
		return 4
	case "stats.max":
		return 5
	case "stats.sum":
		return 6
	case "stats.avg":
		return 7
	case "stats.diff":
		return 8
	case "stats.rate":
		return 9
	case "stats.version":
		return 10
	}
	return -1
}

// metricValue appends v with its keys in upstream's order. It walks v
// once, placing each field by its rank, instead of looking every known
// key up.
func (e *metricEncoder) metricValue(v stats.MetricValue) error {
	e.mapHeader(len(v))
	var (
		ranked [11]any
		has    [11]bool
		rest   []string
	)
	for k, x := range v {
		if r := metricRank(k); r >= 0 {
			ranked[r], has[r] = x, true
		} else {
			rest = append(rest, k)
		}
	}
	order := metricKeyOrder()
	for r, k := range order {
		if !has[r] {
			continue
		}
		e.strTrusted(k)
		if err := e.value(ranked[r]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		if err := e.str(k); err != nil {
			return err
		}
		if err := e.value(v[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// value appends one field value.
func (e *metricEncoder) value(x any) error {
	switch v := x.(type) {
	case nil:
		e.buf = append(e.buf, 0xc0)
		return nil
	case string:
		return e.str(v)
	case int:
		if v >= 0 && v < 0x80 {
			e.buf = append(e.buf, byte(v))
			return nil
		}
	}
	b, err := codec.Encode(x)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, b...)
	return nil
}

// str appends a msgpack str, as upstream's packer with use_bin_type.
func (e *metricEncoder) str(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("string %q is not valid UTF-8", s)
	}
	e.strTrusted(s)
	return nil
}

// strTrusted appends s, known to be valid UTF-8, as a msgpack str.
func (e *metricEncoder) strTrusted(s string) {
	switch n := len(s); {
	case n < 32:
		e.buf = append(e.buf, 0xa0|byte(n))
	case n <= 0xff:
		e.buf = append(e.buf, 0xd9, byte(n))
	case n <= 0xffff:
		e.buf = append(e.buf, 0xda, byte(n>>8), byte(n))
	default:
		e.buf = append(e.buf, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	e.buf = append(e.buf, s...)
}

// mapHeader appends the header of a map of n entries.
func (e *metricEncoder) mapHeader(n int) {
	switch {
	case n < 16:
		e.buf = append(e.buf, 0x80|byte(n))
	case n <= 0xffff:
		e.buf = append(e.buf, 0xde, byte(n>>8), byte(n))
	default:
		e.buf = append(e.buf, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// nodeStats appends {"node": {...}, "devices": {metric: {device: ...}}}.
func (e *metricEncoder) nodeStats(ns stats.NodeStats) error {
	e.mapHeader(2)
	e.strTrusted("node")
	if err := e.metricMap(ns.Node); err != nil {
		return err
	}
	e.strTrusted("devices")
	e.mapHeader(len(ns.Devices))
	for _, metric := range sortedKeys(ns.Devices) {
		if err := e.str(metric); err != nil {
			return err
		}
		if err := e.metricMap(ns.Devices[metric]); err != nil {
			return fmt.Errorf("devices of %s: %w", metric, err)
		}
	}
	return nil
}
