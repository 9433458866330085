package runtime

import (
	"log/slog"
	"strings"
	"time"
)

// stepClock times the steps of one create, for a debug log line: where a
// slow start went.
type stepClock struct {
	start, last time.Time
	current     string
	steps       []stepTime
}

type stepTime struct {
	name string
	d    time.Duration
}

func newStepClock(first string) *stepClock {
	now := time.Now()
	return &stepClock{start: now, last: now, current: first}
}

// mark ends the current step and starts the named one ("" to stop).
func (c *stepClock) mark(name string) {
	now := time.Now()
	if c.current != "" {
		c.steps = append(c.steps, stepTime{c.current, now.Sub(c.last)})
	}
	c.current, c.last = name, now
}

// LogValue prints "step=duration ... total=duration".
func (c *stepClock) LogValue() slog.Value {
	var b strings.Builder
	for _, s := range c.steps {
		b.WriteString(s.name + "=" + s.d.Round(10*time.Microsecond).String() + " ")
	}
	b.WriteString("total=" + c.last.Sub(c.start).Round(10*time.Microsecond).String())
	return slog.StringValue(b.String())
}
