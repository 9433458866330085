package configs

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TOML renders c as an agent.toml: every key, kebab-case, in schema order,
// with map entries sorted. Unset optional keys appear as comments. With
// redact, secrets that are set read "***". Parsing the output (unredacted)
// gives c back.
func (c *Config) TOML(redact bool) ([]byte, error) {
	w := &tomlWriter{redact: redact}
	if err := w.table(nil, reflect.ValueOf(c).Elem()); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// tomlWriter renders structs as TOML tables.
type tomlWriter struct {
	buf    bytes.Buffer
	redact bool
}

// header starts the table or array-of-tables entry at path.
func (w *tomlWriter) header(path []string, array bool) {
	if w.buf.Len() > 0 {
		w.buf.WriteByte('\n')
	}
	name := make([]string, len(path))
	for i, k := range path {
		name[i] = quoteKey(k)
	}
	if array {
		fmt.Fprintf(&w.buf, "[[%s]]\n", strings.Join(name, "."))
	} else {
		fmt.Fprintf(&w.buf, "[%s]\n", strings.Join(name, "."))
	}
}

// isTable reports whether a field of type t is rendered as a table of its
// own rather than as a key = value line.
func isTable(t reflect.Type, v reflect.Value) bool {
	switch t.Kind() {
	case reflect.Struct:
		return t != hostPortType
	case reflect.Pointer:
		return t.Elem().Kind() == reflect.Struct && t.Elem() != hostPortType
	case reflect.Map:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Struct && t.Elem() != hostPortType && v.Len() > 0
	}
	return false
}

// hasKeys reports whether struct v has keys of its own, not only
// sub-tables; a table without keys needs no header.
func hasKeys(v reflect.Value) bool {
	for _, f := range fieldsOf(v.Type()) {
		if fv := v.Field(f.index); !isTable(fv.Type(), fv) {
			return true
		}
	}
	return false
}

// table writes the keys of struct v, then its sub-tables.
func (w *tomlWriter) table(path []string, v reflect.Value) error {
	fs := fieldsOf(v.Type())
	for _, f := range fs {
		fv := v.Field(f.index)
		if isTable(fv.Type(), fv) {
			continue
		}
		if fv.Kind() == reflect.Pointer && fv.IsNil() {
			fmt.Fprintf(&w.buf, "# %s is not set\n", quoteKey(f.name))
			continue
		}
		s, err := w.value(fv, f)
		if err != nil {
			return fmt.Errorf("render %s: %w", strings.Join(append(path, f.name), "."), err)
		}
		fmt.Fprintf(&w.buf, "%s = %s\n", quoteKey(f.name), s)
	}
	for _, f := range fs {
		fv := v.Field(f.index)
		if !isTable(fv.Type(), fv) {
			continue
		}
		sub := append(slices.Clip(path), f.name)
		switch fv.Kind() {
		case reflect.Struct:
			if hasKeys(fv) {
				w.header(sub, false)
			}
			if err := w.table(sub, fv); err != nil {
				return err
			}
		case reflect.Pointer:
			if fv.IsNil() {
				if w.buf.Len() > 0 {
					w.buf.WriteByte('\n')
				}
				fmt.Fprintf(&w.buf, "# [%s] is not set\n", strings.Join(sub, "."))
				continue
			}
			w.header(sub, false)
			if err := w.table(sub, fv.Elem()); err != nil {
				return err
			}
		case reflect.Map:
			w.header(sub, false)
			m := fv.Interface().(map[string]string)
			for _, k := range sortedKeys(m) {
				fmt.Fprintf(&w.buf, "%s = %s\n", quoteKey(k), quoteString(m[k]))
			}
		case reflect.Slice:
			for i := range fv.Len() {
				w.header(sub, true)
				if err := w.table(sub, fv.Index(i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// value renders a scalar, an inline table or an array.
func (w *tomlWriter) value(v reflect.Value, f field) (string, error) {
	switch v.Type() {
	case hostPortType:
		hp := v.Interface().(HostPort)
		return fmt.Sprintf("{ host = %s, port = %d }", quoteString(hp.Host), hp.Port), nil
	case binarySizeType:
		return quoteString(v.Interface().(BinarySize).String()), nil
	case durationType:
		s := strconv.FormatFloat(time.Duration(v.Int()).Seconds(), 'f', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return s, nil
	}
	if hps, ok := v.Interface().([]HostPort); ok && len(hps) == 1 {
		return w.value(reflect.ValueOf(hps[0]), f)
	}
	switch v.Kind() {
	case reflect.String:
		if w.redact && f.has("secret") && v.String() != "" {
			return quoteString("***"), nil
		}
		return quoteString(v.String()), nil
	case reflect.Bool:
		return strconv.FormatBool(v.Bool()), nil
	case reflect.Int:
		return strconv.FormatInt(v.Int(), 10), nil
	case reflect.Pointer:
		return w.value(v.Elem(), f)
	case reflect.Slice, reflect.Array:
		items := make([]string, v.Len())
		for i := range v.Len() {
			s, err := w.value(v.Index(i), field{})
			if err != nil {
				return "", err
			}
			items[i] = s
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	}
	return "", fmt.Errorf("no TOML form for %s", v.Type())
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// quoteKey writes a key bare when TOML allows it, quoted otherwise.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return quoteString(k)
		}
	}
	return k
}

// quoteString writes s as a TOML basic string.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
