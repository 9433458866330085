package runner

import (
	"encoding/binary"
	"math"
)

// encodeStatus encodes the `status` reply, the one msgpack message of the
// protocol, {"started_at": t}, by hand: a msgpack library for one fixed
// map is not worth carrying into every container.
func encodeStatus(startedAt float64) []byte {
	const key = "started_at"
	b := make([]byte, 0, 1+1+len(key)+9)
	b = append(b, 0x81)                // fixmap, 1 entry
	b = append(b, 0xa0|byte(len(key))) // fixstr (len < 32)
	b = append(b, key...)
	b = append(b, 0xcb) // float 64
	return binary.BigEndian.AppendUint64(b, math.Float64bits(startedAt))
}
