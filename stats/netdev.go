package stats

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// netTotals are the bytes received and sent, summed over interfaces.
type netTotals struct {
	rx, tx Decimal
}

// parseNetDev sums the received and transmitted bytes of every interface
// in /proc/net/dev except the loopback "lo". Lines without a colon (the
// two headers) are skipped.
func parseNetDev(r io.Reader) (netTotals, error) {
	lines, err := readLines(r)
	if err != nil {
		return netTotals{}, fmt.Errorf("read net/dev: %w", err)
	}
	var t netTotals
	for i, line := range lines {
		// Counters never hold a colon, so the last one ends the name.
		colon := strings.LastIndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := strings.TrimSpace(line[:colon])
		// rx: bytes packets errs drop fifo frame compressed multicast,
		// then tx: bytes ...
		fields := strings.Fields(line[colon+1:])
		if len(fields) < 9 {
			return netTotals{}, malformed(i+1, "too few fields", line)
		}
		if name == "lo" {
			continue
		}
		rx, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return netTotals{}, malformed(i+1, "rx bytes", fields[0])
		}
		tx, err := strconv.ParseUint(fields[8], 10, 64)
		if err != nil {
			return netTotals{}, malformed(i+1, "tx bytes", fields[8])
		}
		t.rx = t.rx.add(DecimalFromUint(rx))
		t.tx = t.tx.add(DecimalFromUint(tx))
	}
	return t, nil
}
