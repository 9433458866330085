package configs

import (
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// decodeSlots decodes [resource.allocations] devices: slot names to
// amounts. A dotted slot name written as a bare key (cuda.mem = "0.5")
// makes nested tables in TOML; they are flattened back.
func (d *decoder) decodeSlots(cp, sp string, n *node, v reflect.Value) {
	if n.kind != kindTable {
		d.typeError(n, sp, "table of slot amounts")
		return
	}
	m := map[string]string{}
	var walk func(prefix string, t *node)
	walk = func(prefix string, t *node) {
		for _, k := range t.keys {
			c, name := t.kids[k], join(prefix, k)
			d.origins[join(cp, quoteKey(name))] = origin{at: c.at, key: join(sp, quoteKey(name))}
			switch c.kind {
			case kindTable:
				walk(name, c)
			case kindString:
				m[name] = c.str
			case kindInteger:
				m[name] = strconv.FormatInt(c.num, 10)
			case kindFloat:
				m[name] = strconv.FormatFloat(c.flt, 'f', -1, 64)
			default:
				d.typeError(c, join(sp, quoteKey(name)), "number or decimal string")
			}
		}
	}
	walk("", n)
	v.Set(reflect.ValueOf(m))
}

// decodeID decodes kernel-uid or kernel-gid: an integer, a numeric string,
// "" (the agent's own id, like -1) or a name to look up.
func (d *decoder) decodeID(sp string, n *node, v reflect.Value, what string, lookup func(string) (int, error)) {
	switch n.kind {
	case kindInteger:
		v.SetInt(n.num)
	case kindString:
		s := strings.TrimSpace(n.str)
		if s == "" {
			v.SetInt(-1)
			return
		}
		if id, err := strconv.Atoi(s); err == nil {
			v.SetInt(int64(id))
			return
		}
		id, err := lookup(s)
		if err != nil {
			d.problem(n.at, sp, "no such %s %q: %v", what, s, err)
			return
		}
		v.SetInt(int64(id))
	default:
		d.typeError(n, sp, "integer or "+what+" name")
	}
}

// hostPort decodes a "host:port" string, a {host, port} table or a
// ["host", port] array. The port's range is left to validate.
func (d *decoder) hostPort(sp string, n *node) (HostPort, bool) {
	switch n.kind {
	case kindString:
		hp, err := ParseHostPort(n.str)
		if err != nil {
			d.problem(n.at, sp, "invalid address %q: %v", n.str, err)
			return HostPort{}, false
		}
		return hp, true
	case kindArray:
		if len(n.list) != 2 || n.list[0].kind != kindString || n.list[1].kind != kindInteger {
			d.problem(n.at, sp, `expected ["host", port], got an array of %d`, len(n.list))
			return HostPort{}, false
		}
		return HostPort{Host: n.list[0].str, Port: int(n.list[1].num)}, true
	case kindTable:
		var hp HostPort
		ok, seen := true, map[string]bool{}
		for _, k := range n.keys {
			c, ck := n.kids[k], join(sp, k)
			switch k {
			case "host":
				if c.kind != kindString {
					d.typeError(c, ck, "string")
					ok = false
				}
				hp.Host = c.str
			case "port":
				if c.kind != kindInteger {
					d.typeError(c, ck, "integer")
					ok = false
				}
				hp.Port = int(c.num)
			default:
				msg := "unknown key"
				if s := suggest(k, []string{"host", "port"}); s != "" {
					msg += "; did you mean " + s + "?"
				}
				d.problem(c.key, ck, "%s", msg)
				ok = false
			}
			seen[k] = true
		}
		for _, k := range []string{"host", "port"} {
			if !seen[k] {
				d.problem(n.at, join(sp, k), "required key is missing")
				ok = false
			}
		}
		return hp, ok
	}
	d.typeError(n, sp, `"host:port" string or { host, port } table`)
	return HostPort{}, false
}

// decodeSize decodes a size given as an integer number of bytes or a
// string such as "1G".
func (d *decoder) decodeSize(sp string, n *node, v reflect.Value) {
	switch n.kind {
	case kindInteger:
		if n.num < 0 {
			d.problem(n.at, sp, "size must not be negative, got %d", n.num)
			return
		}
		v.SetInt(n.num)
	case kindString:
		s, err := ParseBinarySize(n.str)
		if err != nil {
			d.problem(n.at, sp, "invalid size %q: %v", n.str, err)
			return
		}
		v.SetInt(int64(s))
	default:
		d.typeError(n, sp, `size (bytes, or a string such as "64K", "10M", "1G")`)
	}
}

// decodeDuration decodes seconds (integer or float) or a Go duration
// string.
func (d *decoder) decodeDuration(sp string, n *node, v reflect.Value) {
	var (
		dur Duration
		err error
	)
	switch n.kind {
	case kindInteger:
		dur, err = durationFromSeconds(float64(n.num))
	case kindFloat:
		dur, err = durationFromSeconds(n.flt)
	case kindString:
		dur, err = ParseDuration(n.str)
	default:
		d.typeError(n, sp, `duration (seconds, or a string such as "30s")`)
		return
	}
	if err != nil {
		d.problem(n.at, sp, "invalid duration: %v", err)
		return
	}
	v.SetInt(int64(dur))
}

// decodePortRange decodes [start, end].
func (d *decoder) decodePortRange(cp, sp string, n *node, v reflect.Value) {
	if n.kind != kindArray || len(n.list) != 2 || n.list[0].kind != kindInteger || n.list[1].kind != kindInteger {
		d.typeError(n, sp, "[start, end] array of two integers")
		return
	}
	for i, item := range n.list {
		d.origins[cp+"["+strconv.Itoa(i)+"]"] = origin{at: item.at, key: sp + "[" + strconv.Itoa(i) + "]"}
		if item.num > math.MaxInt32 || item.num < math.MinInt32 {
			d.problem(item.at, sp, "port %d out of range 1..65535", item.num)
			return
		}
		v.Index(i).SetInt(item.num)
	}
}

// path resolves a path from the file: "~" is the home directory, and a
// relative path is taken from the working directory. "" stays "" (unset).
func (d *decoder) path(sp string, n *node, p string) string {
	resolved, err := resolvePath(p, d.o)
	if err != nil {
		d.problem(n.at, sp, "%v", err)
		return p
	}
	return resolved
}

// resolvePath makes p absolute against o.WorkDir, expanding a leading "~".
func resolvePath(p string, o Options) (string, error) {
	if p == "" {
		return "", nil
	}
	if p == "~" || strings.HasPrefix(p, "~/") {
		home := o.Getenv("HOME")
		if home == "" {
			return "", fmt.Errorf("cannot expand %q: $HOME is not set", p)
		}
		p = filepath.Join(home, p[1:])
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(o.WorkDir, p)
	}
	return filepath.Clean(p), nil
}
