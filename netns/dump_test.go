package netns

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestRedump(t *testing.T) {
	calls := 0
	got, err := redump(func() ([]int, error) {
		calls++
		if calls < 3 {
			return []int{1}, netlink.ErrDumpInterrupted // partial: never used
		}
		return []int{1, 2}, nil
	})
	if err != nil || len(got) != 2 || calls != 3 {
		t.Errorf("after two interrupted dumps: %v, %v, %d calls", got, err, calls)
	}
	calls = 0
	got, err = redump(func() ([]int, error) { calls++; return []int{1}, netlink.ErrDumpInterrupted })
	if !errors.Is(err, netlink.ErrDumpInterrupted) || got != nil || calls != dumpTries {
		t.Errorf("always interrupted: %v, %v, %d calls", got, err, calls)
	}
	other := errors.New("no permission")
	calls = 0
	if _, err := redump(func() ([]int, error) { calls++; return nil, other }); !errors.Is(err, other) || calls != 1 {
		t.Errorf("another error: %v after %d calls", err, calls)
	}
}
