package configs

import (
	"errors"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// pos is a 1-based line and column in a config file; the zero value means
// unknown.
type pos struct{ line, col int }

// nodeKind is the TOML type of a node.
type nodeKind int

const (
	kindTable nodeKind = iota
	kindArray
	kindString
	kindInteger
	kindFloat
	kindBool
	kindDateTime
)

// String names the kind as messages do.
func (k nodeKind) String() string {
	return [...]string{"table", "array", "string", "integer", "float", "boolean", "date-time"}[k]
}

// node is a TOML value with the position it was written at.
type node struct {
	kind nodeKind
	at   pos // the value; for tables created by a header or dotted key, the key
	key  pos // the key naming this node in its parent table

	str  string  // kindString, and the raw text of kindDateTime
	num  int64   // kindInteger
	flt  float64 // kindFloat
	bit  bool    // kindBool
	keys []string
	kids map[string]*node // kindTable, keys in document order in keys
	list []*node          // kindArray
}

// newTable returns an empty table node.
func newTable(at pos) *node {
	return &node{kind: kindTable, at: at, key: at, kids: map[string]*node{}}
}

// set adds a member to table t.
func (t *node) set(k string, n *node) {
	t.keys = append(t.keys, k)
	t.kids[k] = n
}

// describe names the node's type and, for scalars, its value, for messages
// such as `expected integer, got string "one"`.
func (n *node) describe() string {
	switch n.kind {
	case kindString:
		return "string " + strconv.Quote(n.str)
	case kindInteger:
		return "integer " + strconv.FormatInt(n.num, 10)
	case kindFloat:
		return "float " + strconv.FormatFloat(n.flt, 'g', -1, 64)
	case kindBool:
		return "boolean " + strconv.FormatBool(n.bit)
	case kindDateTime:
		return "date-time " + n.str
	}
	return n.kind.String()
}

// parseTree parses a TOML document into a tree of positioned nodes. A
// syntax error, or a document TOML itself forbids (such as a key defined
// twice), is returned as a Problem with its position: after one, nothing
// else in the file can be trusted.
func parseTree(filename string, data []byte) (*node, *Problem) {
	// go-toml's decoder finds every TOML-level error, with its position;
	// the unstable parser below only knows syntax.
	if err := toml.Unmarshal(data, &map[string]any{}); err != nil {
		p := &Problem{File: filename, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		if de, ok := errors.AsType[*toml.DecodeError](err); ok {
			p.Line, p.Col = de.Position()
		}
		return nil, p
	}
	b := &treeBuilder{root: newTable(pos{1, 1})}
	b.p.Reset(data)
	cur := b.root
	for b.p.NextExpression() {
		e := b.p.Expression()
		switch e.Kind {
		case unstable.Table:
			keys, at := b.keyOf(e.Key())
			cur = b.walk(b.root, keys, at)
		case unstable.ArrayTable:
			keys, at := b.keyOf(e.Key())
			parent := b.walk(b.root, keys[:len(keys)-1], at[:len(at)-1])
			last := keys[len(keys)-1]
			arr := parent.kids[last]
			if arr == nil {
				arr = &node{kind: kindArray, at: at[len(at)-1], key: at[len(at)-1]}
				parent.set(last, arr)
			}
			cur = newTable(at[len(at)-1])
			arr.list = append(arr.list, cur)
		case unstable.KeyValue:
			b.keyValue(cur, e)
		}
	}
	if err := b.p.Error(); err != nil {
		// Not reached: toml.Unmarshal has accepted the document.
		return nil, &Problem{File: filename, Msg: err.Error()}
	}
	return b.root, nil
}

// treeBuilder turns the unstable parser's expressions into a node tree.
type treeBuilder struct {
	p    unstable.Parser
	root *node
}

// position returns where a parser node starts, or the zero pos for nodes
// without raw bytes.
func (b *treeBuilder) position(n *unstable.Node) pos {
	if n.Raw.Length == 0 && n.Raw.Offset == 0 {
		return pos{}
	}
	s := b.p.Shape(n.Raw).Start
	return pos{s.Line, s.Column}
}

// keyOf returns the parts of a dotted key and the position of each part.
func (b *treeBuilder) keyOf(it unstable.Iterator) ([]string, []pos) {
	var keys []string
	var at []pos
	for it.Next() {
		keys = append(keys, string(it.Node().Data))
		at = append(at, b.position(it.Node()))
	}
	return keys, at
}

// walk descends from t along keys, creating missing tables; an array of
// tables on the way stands for its last element, as in TOML.
func (b *treeBuilder) walk(t *node, keys []string, at []pos) *node {
	for i, k := range keys {
		child := t.kids[k]
		if child == nil {
			child = newTable(at[i])
			t.set(k, child)
		}
		if child.kind == kindArray && len(child.list) > 0 {
			child = child.list[len(child.list)-1]
		}
		t = child
	}
	return t
}

// keyValue adds the key/value expression e to table t.
func (b *treeBuilder) keyValue(t *node, e *unstable.Node) {
	keys, at := b.keyOf(e.Key())
	parent := b.walk(t, keys[:len(keys)-1], at[:len(at)-1])
	keyAt := at[len(at)-1]
	v := b.value(e.Value(), b.valueStart(e, keyAt))
	v.key = keyAt
	parent.set(keys[len(keys)-1], v)
}

// valueStart returns where the value of key/value expression e starts:
// after the last key part, the "=" and blanks. The parser gives arrays no
// position of their own; this one stands in. keyAt is the fallback.
func (b *treeBuilder) valueStart(e *unstable.Node, keyAt pos) pos {
	var last *unstable.Node
	for it := e.Key(); it.Next(); {
		last = it.Node()
	}
	data := b.p.Data()
	i := int(last.Raw.Offset + last.Raw.Length)
	skip := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t') {
			i++
		}
	}
	skip()
	if i >= len(data) || data[i] != '=' {
		return keyAt
	}
	i++
	skip()
	s := b.p.Shape(unstable.Range{Offset: uint32(i)}).Start //nolint:gosec // config files are small
	return pos{s.Line, s.Column}
}

// value converts a parser value node; fallback stands in for the position
// of values the parser gives none (arrays).
func (b *treeBuilder) value(v *unstable.Node, fallback pos) *node {
	at := b.position(v)
	if at == (pos{}) {
		at = fallback
	}
	n := &node{at: at, key: at}
	raw := string(v.Data)
	switch v.Kind {
	case unstable.String:
		n.kind, n.str = kindString, raw
	case unstable.Bool:
		n.kind, n.bit = kindBool, raw == "true"
	case unstable.Integer:
		n.kind = kindInteger
		n.num, _ = strconv.ParseInt(raw, 0, 64) // base 0 reads 0x/0o/0b and underscores
	case unstable.Float:
		n.kind, n.flt = kindFloat, parseTOMLFloat(raw)
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		n.kind, n.str = kindDateTime, raw
	case unstable.Array:
		n.kind = kindArray
		it := v.Children()
		for it.Next() {
			if it.Node().Kind != unstable.Comment {
				n.list = append(n.list, b.value(it.Node(), at))
			}
		}
	case unstable.InlineTable:
		n.kind, n.kids = kindTable, map[string]*node{}
		it := v.Children()
		for it.Next() {
			if it.Node().Kind == unstable.KeyValue {
				b.keyValue(n, it.Node())
			}
		}
	}
	return n
}

// parseTOMLFloat reads a TOML float, already checked by the parser.
func parseTOMLFloat(raw string) float64 {
	s := strings.ReplaceAll(raw, "_", "")
	switch strings.TrimLeft(s, "+-") {
	case "nan":
		s = "NaN"
	}
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
