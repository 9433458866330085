package codec

import (
	"errors"
	"fmt"
	"time"
)

// temporenc (temporenc.org), as the Python package temporenc 0.1.0 that
// upstream pins reads and writes it. Fields, most significant bit first:
// D = year(12) month-1(4) day-1(5), T = hour(5) minute(6) second(6),
// S = sub-second (ms 10, us 20, ns 30 bits, by the precision tag PP),
// Z = offset/15min + 64 (7). An all-ones field is empty. Aware values hold
// UTC and the original offset.

// temporencLayout says where the fields of one type lie (bit offsets).
type temporencLayout struct {
	size             int // bytes
	date, time, frac int // -1 when absent
	fracBits, zone   int
}

// fracWidth is the sub-second width for precision tag PP: milli, micro,
// nano, none.
func fracWidth(pp byte) int {
	return [4]int{10, 20, 30, 0}[pp&3]
}

func temporencType(b []byte) (temporencLayout, error) {
	first := b[0]
	switch {
	case first <= 0x3f: // 00: DT
		return temporencLayout{size: 5, date: 2, time: 23, frac: -1, zone: -1}, nil
	case first <= 0x7f: // 01PP: DTS
		w := fracWidth(first >> 4)
		return temporencLayout{size: (42 + w + 7) / 8, date: 4, time: 25, frac: 42, fracBits: w, zone: -1}, nil
	case first <= 0x9f: // 100: D
		return temporencLayout{size: 3, date: 3, time: -1, frac: -1, zone: -1}, nil
	case first <= 0xa1: // 1010000: T
		return temporencLayout{size: 3, date: -1, time: 7, frac: -1, zone: -1}, nil
	case first <= 0xbf:
		return temporencLayout{}, fmt.Errorf("first byte 0x%02x has no valid tag", first)
	case first <= 0xdf: // 110: DTZ
		return temporencLayout{size: 6, date: 3, time: 24, frac: -1, zone: 41}, nil
	default: // 111PP: DTSZ
		w := fracWidth(first >> 3)
		return temporencLayout{size: (50 + w + 7) / 8, date: 5, time: 26, frac: 43, fracBits: w, zone: 43 + w}, nil
	}
}

// bitsAt reads n bits at bit offset off, most significant first.
func bitsAt(b []byte, off, n int) uint64 {
	var v uint64
	for i := off; i < off+n; i++ {
		v = v<<1 | uint64(b[i/8]>>(7-i%8)&1)
	}
	return v
}

// putBits writes the low n bits of v at bit offset off.
func putBits(b []byte, off, n int, v uint64) {
	for i := 0; i < n; i++ {
		if v>>(n-1-i)&1 != 0 {
			b[(off+i)/8] |= 1 << (7 - (off+i)%8)
		}
	}
}

// decodeTemporenc gives what Moment.datetime() (strict) accepts: a full
// date and time. Aware values come back in their original offset (Python
// returns them in UTC: the same instant). Nanoseconds are kept.
func decodeTemporenc(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, errors.New("temporenc: empty")
	}
	l, err := temporencType(b)
	if err != nil {
		return nil, fmt.Errorf("temporenc: %w", err)
	}
	if len(b) != l.size {
		return nil, fmt.Errorf("temporenc: %d bytes, want %d", len(b), l.size)
	}
	if l.date < 0 || l.time < 0 {
		return nil, errors.New("temporenc: incomplete date or time")
	}
	d, t := bitsAt(b, l.date, 21), bitsAt(b, l.time, 17)
	year, month, day := int(d>>9), int(d>>5&0xf), int(d&0x1f)
	hour, minute, second := int(t>>12), int(t>>6&0x3f), int(t&0x3f)
	if year == 4095 || month == 15 || day == 31 || hour == 31 || minute == 63 || second == 63 {
		return nil, errors.New("temporenc: incomplete date or time")
	}
	if month > 11 || hour > 23 || minute > 59 || second > 59 || year < 1 {
		return nil, fmt.Errorf("temporenc: out of range: %04d-%02d-%02d %02d:%02d:%02d",
			year, month+1, day+1, hour, minute, second)
	}
	var nsec uint64
	if l.frac >= 0 {
		nsec = bitsAt(b, l.frac, l.fracBits)
		switch l.fracBits {
		case 10:
			nsec *= 1e6
		case 20:
			nsec *= 1e3
		}
		if nsec > 999999999 {
			return nil, errors.New("temporenc: sub-second out of range")
		}
	}
	v := time.Date(year, time.Month(month+1), day+1, hour, minute, second, int(nsec), time.UTC)
	if v.Day() != day+1 {
		return nil, fmt.Errorf("temporenc: day %d out of range for %04d-%02d", day+1, year, month+1)
	}
	if l.zone < 0 {
		return NaiveDateTime{v}, nil
	}
	offset := (int(bitsAt(b, l.zone, 7)) - 64) * 15 * 60
	if offset == 0 {
		return v, nil
	}
	return v.In(time.FixedZone("", offset)), nil
}

// encodeTemporenc writes a datetime as temporenc.packb(datetime) does:
// microsecond precision (nanoseconds truncated); DTS for a naive value,
// DTSZ (UTC plus offset) for an aware one, whose offset must be a whole
// number of quarter hours within -16:00..+15:30.
func encodeTemporenc(t time.Time, naive bool) ([]byte, error) {
	var quarters int
	if !naive {
		_, off := t.Zone()
		minutes := off / 60
		if off < 0 && off%60 != 0 {
			minutes-- // Python floors the offset to whole minutes
		}
		if minutes%15 != 0 || minutes/15+64 < 0 || minutes/15+64 > 126 {
			return nil, fmt.Errorf("temporenc: offset %ds not a quarter hour in range", off)
		}
		quarters = minutes/15 + 64
		t = t.UTC()
	}
	if t.Year() < 1 || t.Year() > 4094 {
		return nil, fmt.Errorf("temporenc: year %d out of range 1..4094", t.Year())
	}
	d := uint64(t.Year())<<9 | uint64(t.Month()-1)<<5 | uint64(t.Day()-1)
	c := uint64(t.Hour())<<12 | uint64(t.Minute())<<6 | uint64(t.Second())
	us := uint64(t.Nanosecond() / 1000)
	if naive {
		b := make([]byte, 8) // 01 01 D T S(20) 00
		putBits(b, 0, 4, 0b0101)
		putBits(b, 4, 21, d)
		putBits(b, 25, 17, c)
		putBits(b, 42, 20, us)
		return b, nil
	}
	b := make([]byte, 9) // 111 01 D T S(20) Z 00
	putBits(b, 0, 5, 0b11101)
	putBits(b, 5, 21, d)
	putBits(b, 26, 17, c)
	putBits(b, 43, 20, us)
	putBits(b, 63, 7, uint64(quarters))
	return b, nil
}
