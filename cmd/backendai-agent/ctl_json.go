//go:build !slimrun

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/baiagent/agent/rpc/codec"
)

// jsonValue turns a decoded RPC value into one encoding/json can write:
// UUID, Decimal, enums, slot names and paths become strings, bytes a
// string when UTF-8 and base64 otherwise, datetimes RFC 3339, maps with
// keys that are not str get fmt.Sprint keys.
func jsonValue(v any) any {
	switch x := v.(type) {
	case nil, bool, int64, uint64, string:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	case codec.UUID:
		return x.String()
	case codec.Decimal:
		return string(x)
	case codec.Enum:
		return x.String()
	case codec.SlotName:
		return string(x)
	case codec.BinarySize:
		return int64(x)
	case codec.PosixPath:
		return string(x)
	case codec.PurePosixPath:
		return string(x)
	case codec.AutoDirectoryPath:
		return string(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case codec.NaiveDateTime:
		return x.Format("2006-01-02T15:04:05.999999999")
	case codec.ImageRef:
		var project any
		if x.Project != nil {
			project = *x.Project
		}
		return map[string]any{"name": x.Name, "project": project, "tag": x.Tag, "registry": x.Registry,
			"architecture": x.Architecture, "is_local": x.IsLocal}
	case *codec.ImageRef:
		if x == nil {
			return nil
		}
		return jsonValue(*x)
	case codec.ResourceSlot:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Slot] = string(e.Quantity)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[jsonKey(k)] = jsonValue(e)
		}
		return out
	case codec.OrderedMap:
		out := make(map[string]any, len(x))
		for _, kv := range x {
			out[jsonKey(kv.Key)] = jsonValue(kv.Value)
		}
		return out
	}
	return fmt.Sprint(v)
}

func jsonKey(k any) string {
	if s, ok := k.(string); ok {
		return s
	}
	return fmt.Sprint(k)
}

// printJSON writes v (a decoded RPC value) as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonValue(v))
}

// parseJSONArg reads a call argument: JSON (numbers become int64 when
// integral, float64 otherwise), or, when it is not JSON and does not look
// like an attempt at it, the word itself as a string.
func parseJSONArg(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = fmt.Errorf("extra text after the value")
		}
	}
	if err != nil {
		t := strings.TrimSpace(s)
		if t != "" && strings.ContainsRune("{[\"", rune(t[0])) {
			return nil, fmt.Errorf("argument %q: %w", s, err)
		}
		return s, nil
	}
	return fromJSON(v), nil
}

// fromJSON converts json.Number to int64 or float64, recursively.
func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return n
		}
		if n, err := strconv.ParseUint(x.String(), 10, 64); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = fromJSON(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = fromJSON(e)
		}
	}
	return v
}

// compactJSON is v as one line of JSON, for table cells.
func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jsonValue(v)); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimRight(b.String(), "\n")
}
