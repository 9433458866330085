package codec

import (
	"fmt"
	"math"
	"time"
)

// binKey stands for a bin map key in the duplicate index, where []byte
// cannot go.
type binKey string

// mapN reads a map of n entries: Python dict semantics (a repeated key
// keeps its first place and its last value), then the Go form.
func (d *decoder) mapN(n, depth int) (any, error) {
	if n > (len(d.buf)-d.pos)/2 {
		return nil, fmt.Errorf("map of %d entries: %w", n, errTruncated)
	}
	kvs := make(OrderedMap, 0, n)
	var seen map[any]int
	allStr := true
	for i := 0; i < n; i++ {
		k, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if !pyHashable(k) {
			return nil, fmt.Errorf("unhashable map key of type %s", TypeName(k))
		}
		_, isStr := k.(string)
		allStr = allStr && isStr
		if ik, ok := indexKey(k); ok {
			if seen == nil {
				seen = make(map[any]int, n)
			}
			if at, dup := seen[ik]; dup {
				kvs[at].Value = v
				continue
			}
			seen[ik] = len(kvs)
		}
		kvs = append(kvs, KV{Key: k, Value: v})
	}
	if d.ordered {
		return kvs, nil
	}
	if allStr {
		m := make(map[string]any, len(kvs))
		for _, kv := range kvs {
			m[kv.Key.(string)] = kv.Value
		}
		return m, nil
	}
	m := make(map[any]any, len(kvs))
	for _, kv := range kvs {
		if !hashable(kv.Key) {
			return nil, fmt.Errorf("map key of type %s cannot key a Go map (decode ordered)", TypeName(kv.Key))
		}
		m[kv.Key] = kv.Value
	}
	return m, nil
}

// pyHashable reports whether Python could use v as a dict key: not a dict,
// list-like mutable, ResourceSlot (UserDict) or ImageRef (a dataclass
// without __hash__).
func pyHashable(v any) bool {
	switch x := v.(type) {
	case OrderedMap, map[string]any, map[any]any, ResourceSlot, ImageRef, *ImageRef:
		return false
	case []any:
		for _, e := range x {
			if !pyHashable(e) {
				return false
			}
		}
	}
	return true
}

// hashable reports whether v can key a Go map (and be compared with ==).
func hashable(v any) bool {
	switch x := v.(type) {
	case nil, bool, int64, uint64, float64, string, UUID, Decimal, SlotName,
		BinarySize, PosixPath, PurePosixPath, AutoDirectoryPath, time.Time, NaiveDateTime:
		return true
	case Enum:
		return hashable(x.Value)
	}
	return false
}

// indexKey is the key under which k is looked up for duplicates; false
// when k has none (an array), and then it is never merged.
func indexKey(k any) (any, bool) {
	if b, ok := k.([]byte); ok {
		return binKey(b), true
	}
	return normKey(k), hashable(k)
}

// normKey maps keys that Python deems equal to one Go value: True, 1 and
// 1.0 are one key, and so are aware datetimes of the same instant.
func normKey(k any) any {
	switch x := k.(type) {
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt64 && x < math.MaxInt64 {
			return int64(x)
		}
	case time.Time:
		return x.UTC()
	}
	return k
}
