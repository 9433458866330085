package stats

import "time"

// StatsVersion is the value upstream reports as "stats.version" (the
// version of its moving-statistics format) when a filter asks for it.
const StatsVersion = 2

// MovingStatistics summarizes the measured values of one metric: minimum,
// maximum, sum, count and average over all updates, and the last two
// points with their times, from which Diff and Rate come. It follows
// upstream's MovingStatistics. The zero value holds no point yet.
type MovingStatistics struct {
	min, max, sum Decimal
	count         int64
	// last holds the newest points, last[n-1] the newest; n is 0, 1 or 2.
	last [2]point
	n    int
}

// point is one measured value and when it was taken.
type point struct {
	value Decimal
	at    time.Time
}

// Update adds the value v measured at now. now should come from
// time.Now, whose monotonic reading makes Rate immune to wall-clock steps.
func (s *MovingStatistics) Update(now time.Time, v Decimal) {
	if s.count == 0 || v.Cmp(s.min) < 0 {
		s.min = v
	}
	if s.count == 0 || v.Cmp(s.max) > 0 {
		s.max = v
	}
	s.sum = s.sum.add(v)
	s.count++
	p := point{value: v, at: now}
	if s.n < 2 {
		s.last[s.n] = p
		s.n++
		return
	}
	s.last[0], s.last[1] = s.last[1], p
}

// Count returns the number of updates.
func (s *MovingStatistics) Count() int64 { return s.count }

// Min returns the smallest value seen, or 0 before the first update.
func (s *MovingStatistics) Min() Decimal { return s.min }

// Max returns the largest value seen, or 0 before the first update.
func (s *MovingStatistics) Max() Decimal { return s.max }

// Sum returns the sum of all values seen.
func (s *MovingStatistics) Sum() Decimal { return s.sum }

// Avg returns Sum / Count, or 0 before the first update.
func (s *MovingStatistics) Avg() Decimal {
	if s.count == 0 {
		return Decimal{}
	}
	return s.sum.quo(DecimalFromInt(s.count))
}

// Diff returns the newest value minus the one before it. It is 0 with
// fewer than two points, and 0 when the value went down (a counter
// reset, such as a restarted kernel): upstream applies that rule to every
// metric type, gauges included.
func (s *MovingStatistics) Diff() Decimal {
	d, ok := s.delta()
	if !ok {
		return Decimal{}
	}
	return d
}

// Rate returns Diff per second between the last two points. It is 0
// where Diff is, and also when the two points are not in time order.
func (s *MovingStatistics) Rate() Decimal {
	d, ok := s.delta()
	if !ok {
		return Decimal{}
	}
	elapsed := s.last[1].at.Sub(s.last[0].at)
	if elapsed <= 0 {
		return Decimal{}
	}
	return d.mul(DecimalFromInt(int64(time.Second))).quo(DecimalFromInt(int64(elapsed)))
}

// delta returns the difference of the last two points, and false when
// there are fewer than two or the value went down.
func (s *MovingStatistics) delta() (Decimal, bool) {
	if s.n < 2 {
		return Decimal{}, false
	}
	d := s.last[1].value.sub(s.last[0].value)
	if d.Sign() < 0 {
		return Decimal{}, false
	}
	return d, true
}

// statsKeys returns the names of the statistics in upstream's order, the
// order in which MetricValue lists the filtered ones.
func statsKeys() [7]string {
	return [...]string{"min", "max", "sum", "avg", "diff", "rate", "version"}
}

// field returns the statistic named k in wire form: a string, or the int
// StatsVersion for "version".
func (s *MovingStatistics) field(k string) (any, bool) {
	switch k {
	case "min":
		return s.Min().String(), true
	case "max":
		return s.Max().String(), true
	case "sum":
		return s.Sum().String(), true
	case "avg":
		return s.Avg().String(), true
	case "diff":
		return s.Diff().String(), true
	case "rate":
		return s.Rate().String(), true
	case "version":
		return StatsVersion, true
	}
	return nil, false
}
