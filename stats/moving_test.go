package stats

import (
	"testing"
	"time"
)

// t0 is a fixed base time for the tests; times carry no monotonic
// reading, so Sub uses the wall clock, which is what the tests set.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// at returns t0 plus s seconds.
func at(s float64) time.Time {
	return t0.Add(time.Duration(s * float64(time.Second)))
}

func TestMovingStatisticsEmpty(t *testing.T) {
	var s MovingStatistics
	for name, d := range map[string]Decimal{"min": s.Min(), "max": s.Max(), "sum": s.Sum(), "avg": s.Avg(), "diff": s.Diff(), "rate": s.Rate()} {
		if d.Sign() != 0 {
			t.Errorf("%s of no points = %s, want 0", name, d)
		}
	}
}

func TestMovingStatisticsSinglePoint(t *testing.T) {
	var s MovingStatistics
	s.Update(at(0), DecimalFromInt(7))
	if s.Count() != 1 || s.Min().String() != "7" || s.Max().String() != "7" || s.Sum().String() != "7" || s.Avg().String() != "7" {
		t.Errorf("count %d min %s max %s sum %s avg %s", s.Count(), s.Min(), s.Max(), s.Sum(), s.Avg())
	}
	if s.Diff().Sign() != 0 || s.Rate().Sign() != 0 {
		t.Errorf("diff %s rate %s with one point, want 0 0", s.Diff(), s.Rate())
	}
}

func TestMovingStatisticsSeries(t *testing.T) {
	var s MovingStatistics
	// 10 at 0 s, 4 at 1 s, 30 at 3 s, 40 at 5.5 s.
	for _, p := range []struct {
		at float64
		v  int64
	}{{0, 10}, {1, 4}, {3, 30}, {5.5, 40}} {
		s.Update(at(p.at), DecimalFromInt(p.v))
	}
	for _, tc := range []struct {
		name string
		got  Decimal
		want string
	}{
		{"min", s.Min(), "4"},
		{"max", s.Max(), "40"},
		{"sum", s.Sum(), "84"},
		{"avg", s.Avg(), "21"},
		{"diff", s.Diff(), "10"},
		{"rate", s.Rate(), "4"}, // 10 over 2.5 s
	} {
		if tc.got.String() != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

// Upstream's own cases (tests/unit/agent/test_stats.py).
func TestMovingStatisticsUpstreamCases(t *testing.T) {
	for _, tc := range []struct {
		name             string
		first, second    int64
		t1, t2           float64
		wantDiff, wantRt string
	}{
		{"increasing", 100, 150, 1, 2, "50", "50"},
		{"increasing over 2 s", 100, 200, 1, 3, "100", "50"},
		{"counter reset", 1000, 100, 1, 2, "0", "0"},
		{"counter reset rate", 500, 50, 1, 2, "0", "0"},
	} {
		var s MovingStatistics
		s.Update(at(tc.t1), DecimalFromInt(tc.first))
		s.Update(at(tc.t2), DecimalFromInt(tc.second))
		if s.Diff().String() != tc.wantDiff || s.Rate().String() != tc.wantRt {
			t.Errorf("%s: diff %s rate %s, want %s %s", tc.name, s.Diff(), s.Rate(), tc.wantDiff, tc.wantRt)
		}
	}
}

func TestMovingStatisticsRateNeedsTimeOrder(t *testing.T) {
	for _, dt := range []float64{0, -1} {
		var s MovingStatistics
		s.Update(at(10), DecimalFromInt(1))
		s.Update(at(10+dt), DecimalFromInt(5))
		if s.Rate().Sign() != 0 {
			t.Errorf("rate over %v s = %s, want 0", dt, s.Rate())
		}
		if s.Diff().String() != "4" {
			t.Errorf("diff = %s, want 4", s.Diff())
		}
	}
}

func TestMovingStatisticsMonotonicClock(t *testing.T) {
	// Two readings of time.Now carry monotonic readings; a wall-clock
	// step between them does not change their difference.
	var s MovingStatistics
	start := time.Now()
	s.Update(start, DecimalFromInt(0))
	s.Update(start.Add(2*time.Second), DecimalFromInt(1000))
	if s.Rate().String() != "500" {
		t.Errorf("rate = %s, want 500", s.Rate())
	}
}

func TestMovingStatisticsFractionalRate(t *testing.T) {
	var s MovingStatistics
	s.Update(at(0), DecimalFromInt(0))
	s.Update(at(3), DecimalFromInt(1000))
	if got := s.Rate().String(); got != "333.333" {
		t.Errorf("rate = %s, want 333.333", got)
	}
	if got := s.Avg().String(); got != "500" {
		t.Errorf("avg = %s, want 500", got)
	}
}
