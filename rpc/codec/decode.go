package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and maps, in both directions.
const maxDepth = 512

var errTruncated = errors.New("truncated input")

// Decode reads one msgpack value as upstream's unpackb does. Maps become
// map[string]any when every key is a str, map[any]any otherwise (an error
// when a key cannot key a Go map: bin, array); a key given twice keeps its
// last value. Bytes after the value are an error.
func Decode(data []byte) (any, error) {
	return decode(data, false, nil)
}

// DecodeOrdered is Decode with every map as an OrderedMap, in wire order,
// so that Encode gives the same bytes back.
func DecodeOrdered(data []byte) (any, error) {
	return decode(data, true, nil)
}

func decode(data []byte, ordered bool, onExt func(int8, []byte)) (any, error) {
	d := decoder{buf: data, ordered: ordered, onExt: onExt}
	v, err := d.value(0)
	if err == nil && d.pos != len(d.buf) {
		err = fmt.Errorf("%d extra bytes after the value", len(d.buf)-d.pos)
	}
	if err != nil {
		return nil, fmt.Errorf("decode msgpack at offset %d: %w", d.pos, err)
	}
	return v, nil
}

// decoder reads msgpack from buf; pos is the next byte.
type decoder struct {
	buf     []byte
	pos     int
	ordered bool
	onExt   func(code int8, data []byte) // sees every ext payload (tests)
}

func (d *decoder) take(n int) ([]byte, error) {
	if n < 0 || n > len(d.buf)-d.pos {
		return nil, errTruncated
	}
	b := d.buf[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

// size reads a big-endian length of n bytes (1, 2 or 4).
func (d *decoder) size(n int) (int, error) {
	b, err := d.take(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return int(b[0]), nil
	case 2:
		return int(binary.BigEndian.Uint16(b)), nil
	default:
		return int(binary.BigEndian.Uint32(b)), nil
	}
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	head, err := d.take(1)
	if err != nil {
		return nil, err
	}
	b := head[0]
	switch {
	case b <= 0x7f:
		return int64(b), nil
	case b >= 0xe0:
		return int64(int8(b)), nil
	case b&0xf0 == 0x80:
		return d.mapN(int(b&0x0f), depth)
	case b&0xf0 == 0x90:
		return d.array(int(b&0x0f), depth)
	case b&0xe0 == 0xa0:
		return d.str(int(b & 0x1f))
	}
	switch b {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		return d.bin(1 << (b - 0xc4))
	case 0xc7, 0xc8, 0xc9:
		n, err := d.size(1 << (b - 0xc7))
		if err != nil {
			return nil, err
		}
		return d.ext(n)
	case 0xca, 0xcb:
		return d.float(b == 0xcb)
	case 0xcc, 0xcd, 0xce, 0xcf:
		return d.uint(1 << (b - 0xcc))
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return d.int(1 << (b - 0xd0))
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return d.ext(1 << (b - 0xd4))
	case 0xd9, 0xda, 0xdb:
		n, err := d.size(1 << (b - 0xd9))
		if err != nil {
			return nil, err
		}
		return d.str(n)
	case 0xdc, 0xdd:
		n, err := d.size(2 << (b - 0xdc))
		if err != nil {
			return nil, err
		}
		return d.array(n, depth)
	case 0xde, 0xdf:
		n, err := d.size(2 << (b - 0xde))
		if err != nil {
			return nil, err
		}
		return d.mapN(n, depth)
	}
	return nil, fmt.Errorf("reserved byte 0x%02x", b)
}

func (d *decoder) str(n int) (any, error) {
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, errors.New("str is not valid UTF-8")
	}
	return string(b), nil
}

func (d *decoder) bin(lenBytes int) (any, error) {
	n, err := d.size(lenBytes)
	if err != nil {
		return nil, err
	}
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	return append([]byte{}, b...), nil
}

func (d *decoder) float(double bool) (any, error) {
	if !double {
		b, err := d.take(4)
		if err != nil {
			return nil, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	}
	b, err := d.take(8)
	if err != nil {
		return nil, err
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// uint reads an unsigned int of n bytes: int64 when it fits, else uint64.
func (d *decoder) uint(n int) (any, error) {
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	var u uint64
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	if u > math.MaxInt64 {
		return u, nil
	}
	return int64(u), nil
}

// int reads a signed int of n bytes.
func (d *decoder) int(n int) (any, error) {
	b, err := d.take(n)
	if err != nil {
		return nil, err
	}
	u := uint64(0)
	if b[0]&0x80 != 0 {
		u = math.MaxUint64
	}
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	return int64(u), nil
}

func (d *decoder) ext(n int) (any, error) {
	code, err := d.take(1)
	if err != nil {
		return nil, err
	}
	data, err := d.take(n)
	if err != nil {
		return nil, err
	}
	if d.onExt != nil {
		d.onExt(int8(code[0]), data)
	}
	return decodeExt(int8(code[0]), data)
}

func (d *decoder) array(n, depth int) (any, error) {
	if n > len(d.buf)-d.pos {
		return nil, fmt.Errorf("array of %d items: %w", n, errTruncated)
	}
	out := make([]any, n)
	for i := range out {
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
