package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Encode writes v as upstream's packb does (use_bin_type, strict_types):
// nil, bool, every int and uint kind, float32/float64 (always as float 64),
// string (str, valid UTF-8), []byte (bin), slices and arrays (array),
// OrderedMap (in order), other maps (sorted keys, see below), pointers (their target, nil as nil), and the
// ext types of this package plus time.Time and NaiveDateTime. Map order:
// string keys first, by their bytes, then other keys by their encoding.
func Encode(v any) ([]byte, error) {
	var e encoder
	if err := e.value(v, 0); err != nil {
		return nil, fmt.Errorf("encode msgpack: %w", err)
	}
	return e.buf, nil
}

// EncodeResult encodes the return value of an RPC handler: the body of a
// Callosum RESULT.
func EncodeResult(v any) ([]byte, error) {
	return Encode(v)
}

type encoder struct {
	buf []byte
}

func (e *encoder) value(v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("nesting deeper than %d (a cycle?)", maxDepth)
	}
	if code, data, ok, err := encodeExt(v); ok {
		if err != nil {
			return err
		}
		e.ext(code, data)
		return nil
	}
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, 0xc0)
	case bool:
		e.buf = append(e.buf, 0xc2+b2i(x))
	case int64:
		e.int(x)
	case uint64:
		e.uint(x)
	case int:
		e.int(int64(x))
	case float64:
		e.float(x)
	case string:
		return e.str(x)
	case []byte:
		e.bin(x)
	case []any:
		e.header(len(x), 0x90, 0xdc)
		for _, item := range x {
			if err := e.value(item, depth+1); err != nil {
				return err
			}
		}
	case OrderedMap:
		e.header(len(x), 0x80, 0xde)
		for _, kv := range x {
			if err := e.value(kv.Key, depth+1); err != nil {
				return err
			}
			if err := e.value(kv.Value, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		e.header(len(x), 0x80, 0xde)
		for _, k := range keys {
			if err := e.str(k); err != nil {
				return err
			}
			if err := e.value(x[k], depth+1); err != nil {
				return err
			}
		}
	default:
		return e.reflect(reflect.ValueOf(v), depth)
	}
	return nil
}

// reflect encodes the kinds without a case of their own.
func (e *encoder) reflect(rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Bool:
		return e.value(rv.Bool(), depth)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.uint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		e.float(rv.Float())
	case reflect.String:
		return e.str(rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			e.bin(rv.Bytes())
			return nil
		}
		e.header(rv.Len(), 0x90, 0xdc)
		for i := 0; i < rv.Len(); i++ {
			if err := e.value(rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		return e.reflectMap(rv, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			e.buf = append(e.buf, 0xc0)
			return nil
		}
		return e.value(rv.Elem().Interface(), depth+1)
	default:
		return fmt.Errorf("cannot encode a value of type %s", rv.Type())
	}
	return nil
}

// reflectMap writes a Go map with its entries sorted: keys written as str
// by their bytes, ahead of other keys, which go by their encoding.
func (e *encoder) reflectMap(rv reflect.Value, depth int) error {
	type entry struct {
		str        *string // the key, when a string
		key, value []byte
	}
	entries := make([]entry, 0, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		var k, v encoder
		if err := k.value(it.Key().Interface(), depth+1); err != nil {
			return err
		}
		if err := v.value(it.Value().Interface(), depth+1); err != nil {
			return err
		}
		en := entry{key: k.buf, value: v.buf}
		if text, ok := strPayload(k.buf); ok {
			en.str = &text
		}
		entries = append(entries, en)
	}
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.str != nil && b.str != nil:
			return strings.Compare(*a.str, *b.str)
		case a.str != nil:
			return -1
		case b.str != nil:
			return 1
		}
		return bytes.Compare(a.key, b.key)
	})
	e.header(len(entries), 0x80, 0xde)
	for _, en := range entries {
		e.buf = append(append(e.buf, en.key...), en.value...)
	}
	return nil
}

// strPayload returns the text of an encoded str.
func strPayload(enc []byte) (string, bool) {
	switch {
	case len(enc) > 0 && enc[0]&0xe0 == 0xa0:
		return string(enc[1:]), true
	case len(enc) > 1 && enc[0] == 0xd9:
		return string(enc[2:]), true
	case len(enc) > 2 && enc[0] == 0xda:
		return string(enc[3:]), true
	case len(enc) > 4 && enc[0] == 0xdb:
		return string(enc[5:]), true
	}
	return "", false
}

func b2i(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// int writes v in the smallest form, as msgpack-python does.
func (e *encoder) int(v int64) {
	switch {
	case v >= 0:
		e.uint(uint64(v))
	case v >= -32:
		e.buf = append(e.buf, byte(v))
	case v >= math.MinInt8:
		e.buf = append(e.buf, 0xd0, byte(v))
	case v >= math.MinInt16:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, 0xd1), uint16(v))
	case v >= math.MinInt32:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, 0xd2), uint32(v))
	default:
		e.buf = binary.BigEndian.AppendUint64(append(e.buf, 0xd3), uint64(v))
	}
}

func (e *encoder) uint(v uint64) {
	switch {
	case v <= 0x7f:
		e.buf = append(e.buf, byte(v))
	case v <= math.MaxUint8:
		e.buf = append(e.buf, 0xcc, byte(v))
	case v <= math.MaxUint16:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, 0xce), uint32(v))
	default:
		e.buf = binary.BigEndian.AppendUint64(append(e.buf, 0xcf), v)
	}
}

func (e *encoder) float(v float64) {
	e.buf = binary.BigEndian.AppendUint64(append(e.buf, 0xcb), math.Float64bits(v))
}

func (e *encoder) str(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("string is not valid UTF-8 (use []byte for bin)")
	}
	n := len(s)
	switch {
	case n < 32:
		e.buf = append(e.buf, 0xa0|byte(n))
	case n <= math.MaxUint8:
		e.buf = append(e.buf, 0xd9, byte(n))
	default:
		e.sized(n, 0xda)
	}
	e.buf = append(e.buf, s...)
	return nil
}

func (e *encoder) bin(b []byte) {
	if len(b) <= math.MaxUint8 {
		e.buf = append(e.buf, 0xc4, byte(len(b)))
	} else {
		e.sized(len(b), 0xc5)
	}
	e.buf = append(e.buf, b...)
}

// header writes an array or map header: fix form under 16, else 16 or 32
// bits (op16, op16+1).
func (e *encoder) header(n int, fix, op16 byte) {
	if n < 16 {
		e.buf = append(e.buf, fix|byte(n))
		return
	}
	e.sized(n, op16)
}

// sized writes op16 and a 16-bit length, or op16+1 and a 32-bit one.
func (e *encoder) sized(n int, op16 byte) {
	if n <= math.MaxUint16 {
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, op16), uint16(n))
		return
	}
	e.buf = binary.BigEndian.AppendUint32(append(e.buf, op16+1), uint32(n))
}

func (e *encoder) ext(code int8, data []byte) {
	switch n := len(data); {
	case n == 1:
		e.buf = append(e.buf, 0xd4)
	case n == 2:
		e.buf = append(e.buf, 0xd5)
	case n == 4:
		e.buf = append(e.buf, 0xd6)
	case n == 8:
		e.buf = append(e.buf, 0xd7)
	case n == 16:
		e.buf = append(e.buf, 0xd8)
	case n <= math.MaxUint8:
		e.buf = append(e.buf, 0xc7, byte(n))
	case n <= math.MaxUint16:
		e.buf = binary.BigEndian.AppendUint16(append(e.buf, 0xc8), uint16(n))
	default:
		e.buf = binary.BigEndian.AppendUint32(append(e.buf, 0xc9), uint32(n))
	}
	e.buf = append(append(e.buf, byte(code)), data...)
}
