package runtime

import (
	"regexp"
	"testing"
	"time"
)

func TestStepClockAttributesTimeToTheStepItEnds(t *testing.T) {
	c := newStepClock("prepare")
	time.Sleep(2 * time.Millisecond)
	c.mark("image")
	c.mark("start")
	time.Sleep(3 * time.Millisecond)
	c.mark("")
	if len(c.steps) != 3 || c.steps[0].name != "prepare" || c.steps[2].name != "start" {
		t.Fatalf("steps %+v", c.steps)
	}
	if c.steps[0].d < 2*time.Millisecond || c.steps[2].d < 3*time.Millisecond || c.steps[1].d > c.steps[2].d {
		t.Fatalf("durations %+v", c.steps)
	}
	got := c.LogValue().String()
	if !regexp.MustCompile(`^prepare=\S+ image=\S+ start=\S+ total=\S+$`).MatchString(got) {
		t.Fatalf("log value %q", got)
	}
	c.mark("") // marking after the stop adds nothing
	if len(c.steps) != 3 {
		t.Fatalf("steps after stop %+v", c.steps)
	}
}
