package registry

import (
	"fmt"
	"sort"
	"strings"
)

// Tree is what upstream's get_prefix returns: a nested map whose values are
// strings (a key's value) or Trees (the keys below a path component). Map
// keys are unquoted. A component that has a value and children at once
// keeps its value under the empty key "".
type Tree map[string]any

// String returns the value at key: a string leaf, or the "" entry of a
// subtree (a key that has a value and children). ok is false when there is
// none.
func (t Tree) String(key string) (value string, ok bool) {
	switch v := t[key].(type) {
	case string:
		return v, true
	case Tree:
		s, ok := v[""].(string)
		return s, ok
	}
	return "", false
}

// Sub returns the subtree at key, nil when key is absent or a plain value.
func (t Tree) Sub(key string) Tree {
	sub, _ := t[key].(Tree)
	return sub
}

// pair is one key (relative to the namespace) and its value.
type pair struct{ key, value string }

// buildTree does what upstream's make_dict_from_pairs does with the pairs
// (in key order) under prefix: the rest of each key, less one leading '/',
// is split on '/', each component unquoted, and nested.
func buildTree(prefix string, pairs []pair) Tree {
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].key < pairs[j].key })
	root := Tree{}
	for _, p := range pairs {
		rest, ok := strings.CutPrefix(p.key, prefix)
		if !ok {
			continue
		}
		rest = strings.TrimPrefix(rest, "/")
		parts := strings.Split(rest, "/")
		parent := root
		for _, c := range parts[:len(parts)-1] {
			c = Unquote(c)
			switch child := parent[c].(type) {
			case Tree:
				parent = child
			case string:
				sub := Tree{"": child}
				parent[c] = sub
				parent = sub
			default:
				sub := Tree{}
				parent[c] = sub
				parent = sub
			}
		}
		last := Unquote(parts[len(parts)-1])
		if sub, ok := parent[last].(Tree); ok {
			sub[""] = p.value
			continue
		}
		parent[last] = p.value
	}
	return root
}

// flatten turns tree into the keys upstream's put_prefix writes: prefix,
// then '/' and each map key quoted; the "" key stands for its parent's own
// value. Leaves must be strings; a nested map may be a Tree,
// map[string]any or map[string]string.
func flatten(prefix string, tree map[string]any, out map[string]string) error {
	for k, v := range tree {
		key := prefix
		if k != "" {
			key = prefix + "/" + Quote(k)
		}
		switch v := v.(type) {
		case string:
			out[key] = v
		case Tree:
			if err := flatten(key, v, out); err != nil {
				return err
			}
		case map[string]any:
			if err := flatten(key, v, out); err != nil {
				return err
			}
		case map[string]string:
			for sk, sv := range v {
				if sk == "" {
					out[key] = sv
				} else {
					out[key+"/"+Quote(sk)] = sv
				}
			}
		default:
			return fmt.Errorf("value at %q is a %T, not a string or a map", key, v)
		}
	}
	return nil
}

// overlay returns upstream's ChainMap(node, global) as one Tree: the
// node's top-level entries hide the global ones of the same name (the
// merge is shallow, as a ChainMap lookup is).
func overlay(node, global Tree) Tree {
	out := make(Tree, len(node)+len(global))
	for k, v := range global {
		out[k] = v
	}
	for k, v := range node {
		out[k] = v
	}
	return out
}
