package configs

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Types the decoder treats as scalars rather than by their Go kind.
var (
	hostPortType   = reflect.TypeFor[HostPort]()
	binarySizeType = reflect.TypeFor[BinarySize]()
	durationType   = reflect.TypeFor[Duration]()
	portRangeType  = reflect.TypeFor[[2]int]()
)

// origin is where the value of a key came from.
type origin struct {
	at  pos    // position in the file
	env string // or the environment variable
	key string // the key path as spelled there
}

// decoder decodes a node tree into a Config, collecting every problem.
type decoder struct {
	file     string
	o        Options
	problems Problems
	warnings []Warning
	origins  map[string]origin // by canonical key path
	allKeys  []string
}

// newDecoder returns a decoder for file; o must have its defaults filled.
func newDecoder(file string, o Options) *decoder {
	return &decoder{
		file:    file,
		o:       o,
		origins: map[string]origin{},
		allKeys: keyPaths(reflect.TypeFor[Config](), ""),
	}
}

// problem records a problem at a position of the file.
func (d *decoder) problem(at pos, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: at.line, Col: at.col, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// warn records a warning at a position of the file.
func (d *decoder) warn(at pos, key, msg string) {
	d.warnings = append(d.warnings, Warning{File: d.file, Line: at.line, Col: at.col, Key: key, Msg: msg})
}

// typeError records a value of the wrong type.
func (d *decoder) typeError(n *node, key, expected string) {
	d.problem(n.at, key, "expected %s, got %s", expected, n.describe())
}

// locate gives a problem found by validate, which knows only the canonical
// key path, the position or environment variable its value came from: that
// of the key itself or of the nearest enclosing key that was set.
func (d *decoder) locate(p Problem) Problem {
	for k := p.Key; k != ""; {
		if o, ok := d.origins[k]; ok {
			p.Key = o.key + strings.TrimPrefix(p.Key, k)
			if o.env != "" {
				p.Env = o.env
			} else {
				p.File, p.Line, p.Col = d.file, o.at.line, o.at.col
			}
			return p
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	p.File = d.file
	return p
}

// decodeConfig decodes the document root into c.
func (d *decoder) decodeConfig(root *node, c *Config) {
	d.decodeStruct("", "", root, reflect.ValueOf(c).Elem())
}

// decodeStruct decodes table t into struct v. canon is the canonical key
// path of t, spelled the path as written.
func (d *decoder) decodeStruct(canon, spelled string, t *node, v reflect.Value) {
	fs := fieldsOf(v.Type())
	seen := map[int]string{}
	for _, k := range t.keys {
		n := t.kids[k]
		sp := join(spelled, quoteKey(k))
		f, ok := lookupField(fs, k)
		if !ok {
			if why, ok := ignoredKeys[join(canon, normalizeKey(k))]; ok {
				d.warn(n.key, sp, "not implemented by this agent; ignored ("+why+")")
			} else {
				d.unknown(canon, sp, k, n, fs)
			}
			continue
		}
		if prev, dup := seen[f.index]; dup {
			d.problem(n.key, sp, "%s is already set (as %s)", f.name, prev)
			continue
		}
		seen[f.index] = k
		cp := join(canon, f.name)
		d.origins[cp] = origin{at: n.at, key: sp}
		if why, ok := ignoredKeys[cp]; ok {
			d.warn(n.key, sp, "not implemented by this agent; accepted and validated, but has no effect ("+why+")")
		}
		if instead, ok := deprecatedAliases[join(canon, normalizeKey(k))]; ok {
			d.warn(n.key, sp, "deprecated name of "+instead+" (upstream 26.8 rejects it); accepted")
		}
		d.decodeField(cp, sp, n, v.Field(f.index), f)
	}
	for _, f := range fs {
		if _, ok := seen[f.index]; !ok && f.has("required") {
			d.problem(t.at, join(spelled, f.name), "required key is missing")
		}
	}
}

// unknown records an unknown key of table canon, with the closest known
// key of the same table, or the same key in another table, as a hint.
func (d *decoder) unknown(canon, sp, k string, n *node, fs []field) {
	known := make([]string, 0, len(fs))
	for _, f := range fs {
		known = append(known, f.name)
	}
	for p := range ignoredKeys {
		if parent, name := splitLast(p); parent == canon {
			known = append(known, name)
		}
	}
	slices.Sort(known)
	msg := "unknown key"
	if s := suggest(k, known); s != "" {
		msg += "; did you mean " + s + "?"
	} else {
		for _, p := range d.allKeys {
			if parent, name := splitLast(p); name == normalizeKey(k) && parent != canon {
				msg += "; did you mean " + p + "?"
				break
			}
		}
	}
	d.problem(n.key, sp, "%s", msg)
}

// splitLast splits a dotted path into its parent path and last key.
func splitLast(p string) (string, string) {
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// decodeField decodes node n into the field value v.
func (d *decoder) decodeField(cp, sp string, n *node, v reflect.Value, f field) {
	switch {
	case f.has("uid"):
		d.decodeID(sp, n, v, "user", d.o.LookupUser)
		return
	case f.has("gid"):
		d.decodeID(sp, n, v, "group", d.o.LookupGroup)
		return
	case f.has("slots"):
		d.decodeSlots(cp, sp, n, v)
		return
	}
	d.decodeValue(cp, sp, n, v, f.has("path"))
}

// decodeValue decodes node n into v by v's type. isPath marks strings that
// are paths.
func (d *decoder) decodeValue(cp, sp string, n *node, v reflect.Value, isPath bool) {
	switch v.Type() {
	case hostPortType:
		if hp, ok := d.hostPort(sp, n); ok {
			v.Set(reflect.ValueOf(hp))
		}
		return
	case binarySizeType:
		d.decodeSize(sp, n, v)
		return
	case durationType:
		d.decodeDuration(sp, n, v)
		return
	case portRangeType:
		d.decodePortRange(cp, sp, n, v)
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.kind != kindString {
			d.typeError(n, sp, "string")
			return
		}
		s := n.str
		if isPath {
			s = d.path(sp, n, s)
		}
		v.SetString(s)
	case reflect.Bool:
		if n.kind != kindBool {
			d.typeError(n, sp, "boolean")
			return
		}
		v.SetBool(n.bit)
	case reflect.Int:
		if n.kind != kindInteger {
			d.typeError(n, sp, "integer")
			return
		}
		v.SetInt(n.num)
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		before := len(d.problems)
		d.decodeValue(cp, sp, n, nv.Elem(), isPath)
		if len(d.problems) == before {
			v.Set(nv)
		}
	case reflect.Struct:
		if n.kind != kindTable {
			d.typeError(n, sp, "table")
			return
		}
		d.decodeStruct(cp, sp, n, v)
	case reflect.Slice:
		d.decodeSlice(cp, sp, n, v)
	case reflect.Map:
		d.decodeMap(cp, sp, n, v)
	default:
		panic(fmt.Sprintf("configs: no decoder for %s at %s", v.Type(), cp))
	}
}

// decodeSlice decodes an array into a slice of strings, host:port pairs
// (which also take a single pair) or tables.
func (d *decoder) decodeSlice(cp, sp string, n *node, v reflect.Value) {
	et := v.Type().Elem()
	if et == hostPortType && !isHostPortList(n) {
		if hp, ok := d.hostPort(sp, n); ok {
			v.Set(reflect.ValueOf([]HostPort{hp}))
		}
		return
	}
	if n.kind != kindArray {
		switch {
		case et.Kind() == reflect.String:
			d.typeError(n, sp, "array of strings")
		case et.Kind() == reflect.Struct && et != hostPortType:
			d.typeError(n, sp, "array of tables")
		default:
			d.typeError(n, sp, "array")
		}
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.list), len(n.list))
	before := len(d.problems)
	for i, item := range n.list {
		idx := "[" + strconv.Itoa(i) + "]"
		d.origins[cp+idx] = origin{at: item.at, key: sp + idx}
		d.decodeValue(cp+idx, sp+idx, item, out.Index(i), false)
	}
	if len(d.problems) == before {
		v.Set(out)
	}
}

// isHostPortList tells an array of addresses from a single ["host", port]
// pair.
func isHostPortList(n *node) bool {
	if n.kind != kindArray {
		return false
	}
	pair := len(n.list) == 2 && n.list[0].kind == kindString && n.list[1].kind == kindInteger
	return !pair
}

// decodeMap decodes a table of strings, replacing the default.
func (d *decoder) decodeMap(cp, sp string, n *node, v reflect.Value) {
	if n.kind != kindTable {
		d.typeError(n, sp, "table of strings")
		return
	}
	m := make(map[string]string, len(n.keys))
	ok := true
	for _, k := range n.keys {
		c := n.kids[k]
		if c.kind != kindString {
			d.typeError(c, join(sp, quoteKey(k)), "string")
			ok = false
			continue
		}
		m[k] = c.str
		d.origins[join(cp, quoteKey(k))] = origin{at: c.at, key: join(sp, quoteKey(k))}
	}
	if ok {
		v.Set(reflect.ValueOf(m))
	}
}

// fillEmpty replaces nil slices and maps under v with empty ones, so that
// a decoded Config compares equal to its rendered and re-parsed self.
func fillEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			fillEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			fillEmpty(v.Field(i))
		}
	case reflect.Slice:
		if v.IsNil() {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		}
		for i := range v.Len() {
			fillEmpty(v.Index(i))
		}
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
	}
}
