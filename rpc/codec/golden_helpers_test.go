package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

const goldenDir = "testdata/golden"

// fixture is one entry of testdata/golden/index.json (see gen_fixtures.py).
type fixture struct {
	Name      string          `json:"name"`
	File      string          `json:"file"`
	Canonical bool            `json:"canonical"`
	Why       string          `json:"why"`
	Error     string          `json:"error"`
	Value     json.RawMessage `json:"value"`
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx []fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (f fixture) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, f.File))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errGoKey marks an expected map whose keys a Go map cannot hold, so that
// Decode (not DecodeOrdered) must fail.
var errGoKey = errors.New("key cannot key a Go map")

// expected builds the Go value a typed JSON description stands for, with
// maps as OrderedMap (ordered) or Go maps.
func expected(raw json.RawMessage, ordered bool) (any, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return fromTyped(v, ordered)
}

func fromTyped(v any, ordered bool) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = fromTyped(e, ordered); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[string]any:
		if len(x) != 1 {
			return nil, fmt.Errorf("typed value with %d keys", len(x))
		}
		for tag, body := range x {
			return fromTag(tag, body, ordered)
		}
	}
	return nil, fmt.Errorf("unexpected JSON %T", v)
}

func fromTag(tag string, body any, ordered bool) (any, error) {
	s, _ := body.(string)
	switch tag {
	case "int":
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		return strconv.ParseUint(s, 10, 64)
	case "float":
		return strconv.ParseFloat(s, 64)
	case "bin":
		return base64.StdEncoding.DecodeString(s)
	case "map":
		return fromMap(body.([]any), ordered)
	case "uuid":
		return ParseUUID(s)
	case "datetime":
		if t, err := time.Parse("2006-01-02T15:04:05.999999Z07:00", s); err == nil {
			return t, nil
		}
		t, err := time.Parse("2006-01-02T15:04:05.999999", s)
		return NaiveDateTime{t}, err
	case "decimal":
		return ParseDecimal(s)
	case "posix_path":
		return PosixPath(s), nil
	case "pure_posix_path":
		return PurePosixPath(s), nil
	case "auto_directory_path":
		return AutoDirectoryPath(s), nil
	case "slot_name":
		return SlotName(s), nil
	case "binary_size":
		n, err := strconv.ParseInt(s, 10, 64)
		return BinarySize(n), err
	case "enum":
		m := body.(map[string]any)
		e := Enum{Module: m["module"].(string), Class: m["class"].(string)}
		e.Member, _ = m["member"].(string)
		var err error
		if raw, ok := m["value"]; ok {
			e.Value, err = fromTyped(raw, ordered)
		}
		return e, err
	case "image_ref":
		m := body.(map[string]any)
		r := ImageRef{Name: m["name"].(string), Tag: m["tag"].(string), Registry: m["registry"].(string),
			Architecture: m["architecture"].(string), IsLocal: m["is_local"].(bool)}
		if p, ok := m["project"].(string); ok {
			r.Project = &p
		}
		return r, nil
	case "resource_slot":
		r := ResourceSlot{}
		for _, e := range body.([]any) {
			pair := e.([]any)
			r = append(r, SlotQuantity{Slot: pair[0].(string), Quantity: Decimal(pair[1].(string))})
		}
		return r, nil
	}
	return nil, fmt.Errorf("unknown tag %q", tag)
}

func fromMap(pairs []any, ordered bool) (any, error) {
	kvs := OrderedMap{}
	allStr := true
	for _, p := range pairs {
		pair := p.([]any)
		k, err := fromTyped(pair[0], ordered)
		if err != nil {
			return nil, err
		}
		v, err := fromTyped(pair[1], ordered)
		if err != nil {
			return nil, err
		}
		_, isStr := k.(string)
		allStr = allStr && isStr
		kvs = append(kvs, KV{k, v})
	}
	if ordered {
		return kvs, nil
	}
	if allStr {
		m := map[string]any{}
		for _, kv := range kvs {
			m[kv.Key.(string)] = kv.Value
		}
		return m, nil
	}
	m := map[any]any{}
	for _, kv := range kvs {
		if !hashable(kv.Key) {
			return nil, errGoKey
		}
		m[kv.Key] = kv.Value
	}
	return m, nil
}

// diff returns "" when got equals want, else where they differ. Times are
// equal when they are the same instant with the same offset.
func diff(path string, want, got any) string {
	mismatch := func() string { return fmt.Sprintf("%s: want %#v, got %#v", path, want, got) }
	switch w := want.(type) {
	case time.Time:
		g, ok := got.(time.Time)
		_, wo := w.Zone()
		if !ok || !w.Equal(g) || wo != zoneOffset(g) {
			return mismatch()
		}
		return ""
	case NaiveDateTime:
		g, ok := got.(NaiveDateTime)
		if !ok || !w.Equal(g.Time) {
			return mismatch()
		}
		return ""
	case float64:
		g, ok := got.(float64)
		if !ok || math.Float64bits(w) != math.Float64bits(g) {
			return mismatch()
		}
		return ""
	case []byte:
		g, ok := got.([]byte)
		if !ok || !bytes.Equal(w, g) {
			return mismatch()
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return mismatch()
		}
		for i := range w {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	case OrderedMap:
		g, ok := got.(OrderedMap)
		if !ok || len(g) != len(w) {
			return mismatch()
		}
		for i := range w {
			p := fmt.Sprintf("%s{%d}", path, i)
			if d := diff(p+".key", w[i].Key, g[i].Key); d != "" {
				return d
			}
			if d := diff(p+".value", w[i].Value, g[i].Value); d != "" {
				return d
			}
		}
		return ""
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return mismatch()
		}
		for k, wv := range w {
			if d := diff(path+"."+k, wv, g[k]); d != "" {
				return d
			}
		}
		return ""
	case map[any]any:
		g, ok := got.(map[any]any)
		if !ok || len(g) != len(w) {
			return mismatch()
		}
		for k, wv := range w {
			if d := diff(fmt.Sprintf("%s[%v]", path, k), wv, g[k]); d != "" {
				return d
			}
		}
		return ""
	case Enum:
		g, ok := got.(Enum)
		if !ok || g.Module != w.Module || g.Class != w.Class || g.Member != w.Member {
			return mismatch()
		}
		return diff(path+".Value", w.Value, g.Value)
	case ImageRef:
		g, ok := got.(ImageRef)
		if !ok || fmt.Sprint(derefProject(w)) != fmt.Sprint(derefProject(g)) {
			return mismatch()
		}
		w.Project, g.Project = nil, nil
		if w != g {
			return mismatch()
		}
		return ""
	case ResourceSlot:
		g, ok := got.(ResourceSlot)
		if !ok || !slices.Equal(w, g) {
			return mismatch()
		}
		return ""
	}
	if !hashable(want) || !hashable(got) || want != got {
		return mismatch()
	}
	return ""
}

func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

func derefProject(r ImageRef) any {
	if r.Project == nil {
		return nil
	}
	return *r.Project
}
