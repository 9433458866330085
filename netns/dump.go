package netns

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
)

// dumpTries is how often a netlink dump is asked for when the kernel
// interrupts it.
const dumpTries = 5

// redump runs a netlink dump (a list of links, addresses or routes)
// again when the kernel reports it interrupted (NLM_F_DUMP_INTR: the table
// changed while it was read, e.g. another kernel's veth came or went);
// such a partial answer is never used.
func redump[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range dumpTries {
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	var zero T
	return zero, fmt.Errorf("%w (%d times in a row)", err, dumpTries)
}
