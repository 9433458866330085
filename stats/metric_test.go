package stats

import (
	"slices"
	"testing"
)

func TestMetricValueFormatting(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		m    Measurement
		want string
	}{
		{
			name: "capacity and pct",
			spec: Spec{Key: "mem", Type: Gauge, UnitHint: UnitBytes, StatsFilter: []string{"max"}},
			m:    Measurement{Value: DecimalFromInt(1 << 30), Capacity: ptr(DecimalFromInt(4 << 30))},
			want: "current=1073741824 capacity=4294967296 pct=25 unit_hint=bytes stats.max=1073741824",
		},
		{
			name: "null capacity",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitCount},
			m:    Measurement{Value: DecimalFromInt(3)},
			want: "current=3 capacity=null pct=0.00 unit_hint=count",
		},
		{
			name: "zero capacity",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitCount},
			m:    Measurement{Value: DecimalFromInt(3), Capacity: ptr(Decimal{})},
			want: "current=3 capacity=0 pct=0.00 unit_hint=count",
		},
		{
			name: "negative capacity",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitCount},
			m:    Measurement{Value: DecimalFromInt(3), Capacity: ptr(DecimalFromInt(-6))},
			want: "current=3 capacity=-6 pct=0.00 unit_hint=count",
		},
		{
			name: "zero current",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitCount},
			m:    Measurement{Value: Decimal{}, Capacity: ptr(DecimalFromInt(1000))},
			want: "current=0 capacity=1000 pct=0 unit_hint=count",
		},
		{
			name: "negative current",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitCount},
			m:    Measurement{Value: DecimalFromInt(-1), Capacity: ptr(DecimalFromInt(3))},
			want: "current=-1 capacity=3 pct=-33.33 unit_hint=count",
		},
		{
			name: "fractions quantized",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitMsec},
			m:    Measurement{Value: decimalFrac(1, 3), Capacity: ptr(DecimalFromInt(8))},
			want: "current=0.333 capacity=8 pct=4.17 unit_hint=msec",
		},
		{
			name: "big numbers",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitBytes},
			m:    Measurement{Value: DecimalFromUint(18446744073709551615), Capacity: ptr(DecimalFromUint(18446744073709551615))},
			want: "current=18446744073709551615 capacity=18446744073709551615 pct=100 unit_hint=bytes",
		},
		{
			name: "every statistic",
			spec: Spec{Key: "x", Type: Gauge, UnitHint: UnitCount, StatsFilter: []string{"version", "rate", "diff", "avg", "sum", "max", "min", "bogus"}},
			m:    Measurement{Value: DecimalFromInt(5)},
			want: "current=5 capacity=null pct=0.00 unit_hint=count stats.min=5 stats.max=5 stats.sum=5 stats.avg=5 stats.diff=0 stats.rate=0 stats.version=2",
		},
	} {
		got := NewMetric(tc.spec, at(0), tc.m).Value()
		if got.String() != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestMetricValueTypes(t *testing.T) {
	spec := Spec{Key: "x", UnitHint: UnitCount, StatsFilter: []string{"max", "version"}}
	v := NewMetric(spec, at(0), Measurement{Value: DecimalFromInt(1)}).Value()
	if v["capacity"] != nil {
		t.Errorf("capacity = %#v, want untyped nil", v["capacity"])
	}
	for _, k := range []string{"current", "pct", "unit_hint", "stats.max"} {
		if _, ok := v[k].(string); !ok {
			t.Errorf("%s = %#v, want a string", k, v[k])
		}
	}
	if v["stats.version"] != 2 {
		t.Errorf("stats.version = %#v, want int 2", v["stats.version"])
	}
	want := []string{"current", "capacity", "pct", "unit_hint", "stats.max", "stats.version"}
	if got := v.Keys(); !slices.Equal(got, want) {
		t.Errorf("Keys() = %q, want %q", got, want)
	}
}

func TestMetricValueKeysExtra(t *testing.T) {
	v := MetricValue{"zeta": "1", "current": "0", "alpha": "2", "stats.rate": "3"}
	want := []string{"current", "stats.rate", "alpha", "zeta"}
	if got := v.Keys(); !slices.Equal(got, want) {
		t.Errorf("Keys() = %q, want %q", got, want)
	}
}

// Upstream's own cases (tests/unit/agent/test_stats.py, TestMetric).
func TestMetricCurrentHook(t *testing.T) {
	spec := Spec{Key: KeyCPUUtil, Type: Utilization, UnitHint: UnitPercent, StatsFilter: []string{"avg", "max"}, Current: CurrentRate}
	huge := Measurement{Value: DecimalFromInt(10_000_000), Capacity: ptr(DecimalFromInt(1000))}

	m := NewMetric(spec, at(1), huge)
	if got := m.Value()["pct"]; got != "0" || m.Current().Sign() != 0 {
		t.Errorf("rate metric on its first point: current %s pct %v, want 0 0", m.Current(), got)
	}
	raw := spec
	raw.Current = CurrentValue
	if got := NewMetric(raw, at(1), huge).Value()["pct"]; got != "1000000" {
		t.Errorf("raw metric pct = %v, want 1000000", got)
	}

	m = NewMetric(spec, at(1), Measurement{Value: DecimalFromInt(1000), Capacity: ptr(DecimalFromInt(1000))})
	m.Update(at(2), Measurement{Value: DecimalFromInt(1500)})
	if m.Current().String() != "500" || m.Value()["pct"] != "50" {
		t.Errorf("after update: current %s pct %v, want 500 50", m.Current(), m.Value()["pct"])
	}
	if c, ok := m.Capacity(); !ok || c.String() != "1000" {
		t.Errorf("capacity %s %v, want 1000 kept", c, ok)
	}
}

func TestMetricCurrentDiff(t *testing.T) {
	spec := Spec{Key: KeyCPUUtil, Type: Utilization, UnitHint: UnitMsec, Current: CurrentDiff}
	m := NewMetric(spec, at(0), Measurement{Value: DecimalFromInt(100)})
	m.Update(at(5), Measurement{Value: DecimalFromInt(350), Capacity: ptr(DecimalFromInt(5000))})
	if got := m.Value().String(); got != "current=250 capacity=5000 pct=5 unit_hint=msec" {
		t.Errorf("got %s", got)
	}
}

func TestNewKernelMetricCapacity(t *testing.T) {
	spec := Spec{Key: KeyCPUUsed, Type: Accumulation, UnitHint: UnitMsec}
	for _, tc := range []struct {
		name  string
		first Measurement
		want  string
	}{
		{"absent takes the first value", Measurement{Value: DecimalFromInt(200)}, "200"},
		{"zero takes the first value", Measurement{Value: DecimalFromInt(200), Capacity: ptr(Decimal{})}, "200"},
		{"given stays", Measurement{Value: DecimalFromInt(200), Capacity: ptr(DecimalFromInt(1000))}, "1000"},
	} {
		m := NewKernelMetric(spec, at(0), tc.first)
		m.Update(at(1), Measurement{Value: DecimalFromInt(400)})
		if got := m.Value()["capacity"]; got != tc.want {
			t.Errorf("%s: capacity %v, want %s", tc.name, got, tc.want)
		}
	}
	if got := NewMetric(spec, at(0), Measurement{Value: DecimalFromInt(200)}).Value()["capacity"]; got != nil {
		t.Errorf("node metric capacity = %v, want null", got)
	}
}

func TestMetricTypeString(t *testing.T) {
	for typ, want := range map[MetricType]string{Usage: "GAUGE", Rate: "RATE", Utilization: "UTILIZATION", Accumulation: "ACCUMULATION", 9: "UNKNOWN"} {
		if typ.String() != want {
			t.Errorf("%d.String() = %s, want %s", int(typ), typ, want)
		}
	}
}
