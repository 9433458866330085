package configs

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time. In a config file it is written as a number
// of seconds, integer or float, as upstream does (heartbeat-interval = 20.0),
// or as a Go duration string such as "30s" or "1m30s".
type Duration time.Duration

// ParseDuration parses a Go duration string ("30s") or a number of seconds
// ("20", "0.5").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return Duration(d), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("not a duration: %q (use seconds or a Go duration such as \"30s\")", s)
	}
	return durationFromSeconds(f)
}

// durationFromSeconds converts a number of seconds, rejecting NaN and
// values that overflow.
func durationFromSeconds(f float64) (Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("duration must be a finite number of seconds")
	}
	ns := f * float64(time.Second)
	if ns > math.MaxInt64 || ns < math.MinInt64 {
		return 0, errors.New("duration is too large")
	}
	return Duration(math.Round(ns)), nil
}

// Seconds returns the duration as a floating-point number of seconds.
func (d Duration) Seconds() float64 {
	return time.Duration(d).Seconds()
}

// String returns the duration in Go syntax, such as "20s".
func (d Duration) String() string {
	return time.Duration(d).String()
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
