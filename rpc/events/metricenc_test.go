package events

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/stats"
)

// TestMetricKeyOrder holds metricKeyOrder to stats.MetricValue.Keys.
func TestMetricKeyOrder(t *testing.T) {
	full := stats.MetricValue{}
	for _, k := range metricKeyOrder() {
		full[k] = "x"
	}
	full["zz.extra"], full["aa.extra"] = "y", "y"
	want := full.Keys()
	order := metricKeyOrder()
	got := append(order[:], "aa.extra", "zz.extra")
	if !slices.Equal(got, want) {
		t.Errorf("metricKeyOrder + rest = %v, stats.MetricValue.Keys = %v", got, want)
	}
	for r, k := range order {
		if metricRank(k) != r {
			t.Errorf("metricRank(%s) = %d, want %d", k, metricRank(k), r)
		}
	}
}

// TestMetricEncoderMatchesCodec: the direct encoder writes the bytes
// codec.Encode writes for the same ordered maps.
func TestMetricEncoderMatchesCodec(t *testing.T) {
	long := strings.Repeat("9", 40)
	longer := strings.Repeat("8", 300)
	metrics := map[string]stats.MetricValue{
		"cpu_util": metricValue1(),
		"mem":      {"current": long, "capacity": nil, "pct": "0.00", "unit_hint": "bytes", "stats.version": 300},
		"odd":      {"current": longer, "extra": int64(-5), "another": "ü", "stats.rate": "1"},
		"empty":    {},
	}
	var enc metricEncoder
	if err := enc.metricMap(metrics); err != nil {
		t.Fatal(err)
	}
	var want codec.OrderedMap
	for _, k := range sortedKeys(metrics) {
		var mv codec.OrderedMap
		for _, f := range metrics[k].Keys() {
			mv = append(mv, codec.KV{Key: f, Value: metrics[k][f]})
		}
		want = append(want, codec.KV{Key: k, Value: mv})
	}
	wantBytes, err := codec.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc.buf, wantBytes) {
		t.Errorf("encoder\n got %x\nwant %x", enc.buf, wantBytes)
	}
	enc.buf = enc.buf[:0]
	if err := enc.metricMap(map[string]stats.MetricValue{"bad": {"current": "\xff"}}); err == nil {
		t.Error("invalid UTF-8 encoded")
	}
}
