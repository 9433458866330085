package registry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildTree(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string
		pairs  []pair
		want   Tree
	}{{
		// The example of upstream's get_prefix docstring.
		name:   "value and children",
		prefix: "myprefix",
		pairs: []pair{
			{"myprefix/mydata/y", "2"},
			{"myprefix/mydata", "abc"},
			{"myprefix/mydata/x", "1"},
			{"myprefix/mykey", "def"},
		},
		want: Tree{"mydata": Tree{"": "abc", "x": "1", "y": "2"}, "mykey": "def"},
	}, {
		name:   "components unquoted",
		prefix: "config/plugins/accelerator",
		pairs: []pair{
			{"config/plugins/accelerator/cuda/device%2Fmask", "0,1"},
			{"config/plugins/accelerator/a%20b/x", "y"},
		},
		want: Tree{"cuda": Tree{"device/mask": "0,1"}, "a b": Tree{"x": "y"}},
	}, {
		name:   "the prefix itself",
		prefix: "nodes/agents/i-1",
		pairs: []pair{
			{"nodes/agents/i-1/", "running"},
			{"nodes/agents/i-1/ip", "10.0.0.1"},
		},
		want: Tree{"": "running", "ip": "10.0.0.1"},
	}, {
		name:   "textual prefix, as upstream",
		prefix: "config/redis",
		pairs: []pair{
			{"config/redis/addr", "127.0.0.1:6379"},
			{"config/redis2/x", "y"},
			{"other", "z"},
		},
		want: Tree{"addr": "127.0.0.1:6379", "2": Tree{"x": "y"}},
	}, {
		name:   "trailing slash prefix",
		prefix: "config/plugins/accelerator/cuda/",
		pairs:  []pair{{"config/plugins/accelerator/cuda/device_mask", "0"}},
		want:   Tree{"device_mask": "0"},
	}, {
		name:  "nothing",
		want:  Tree{},
		pairs: nil,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildTree(tc.prefix, tc.pairs)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("buildTree (-want +got):\n%s", d)
			}
		})
	}
}

func TestFlatten(t *testing.T) {
	tree := map[string]any{
		"":         "own",
		"addr":     "127.0.0.1:6379",
		"a/b":      Tree{"c d": "1", "": "ab"},
		"helper":   map[string]any{"socket_timeout": "5.0"},
		"strs":     map[string]string{"x": "1", "": "s"},
		"ünïcode":  "u",
		"deep":     Tree{"er": Tree{"est": "v"}},
		"tilde~ok": "t",
	}
	got := map[string]string{}
	if err := flatten("config/redis", tree, got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"config/redis":                       "own",
		"config/redis/addr":                  "127.0.0.1:6379",
		"config/redis/a%2Fb":                 "ab",
		"config/redis/a%2Fb/c%20d":           "1",
		"config/redis/helper/socket_timeout": "5.0",
		"config/redis/strs":                  "s",
		"config/redis/strs/x":                "1",
		"config/redis/%C3%BCn%C3%AFcode":     "u",
		"config/redis/deep/er/est":           "v",
		"config/redis/tilde~ok":              "t",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("flatten (-want +got):\n%s", d)
	}
	// And back: get_prefix of what put_prefix wrote.
	var pairs []pair
	for k, v := range got {
		pairs = append(pairs, pair{k, v})
	}
	back := buildTree("config/redis", pairs)
	wantBack := Tree{
		"":         "own",
		"addr":     "127.0.0.1:6379",
		"a/b":      Tree{"": "ab", "c d": "1"},
		"helper":   Tree{"socket_timeout": "5.0"},
		"strs":     Tree{"": "s", "x": "1"},
		"ünïcode":  "u",
		"deep":     Tree{"er": Tree{"est": "v"}},
		"tilde~ok": "t",
	}
	if d := cmp.Diff(wantBack, back); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
}

func TestFlattenRejectsNonStrings(t *testing.T) {
	err := flatten("k", map[string]any{"n": 1}, map[string]string{})
	if err == nil {
		t.Fatal("flatten took an int leaf")
	}
}

func TestTreeAccessors(t *testing.T) {
	tr := Tree{"a": "1", "b": Tree{"": "2", "c": "3"}, "d": Tree{"e": "4"}}
	for _, tc := range []struct {
		key  string
		want string
		ok   bool
	}{{"a", "1", true}, {"b", "2", true}, {"d", "", false}, {"z", "", false}} {
		if got, ok := tr.String(tc.key); got != tc.want || ok != tc.ok {
			t.Errorf("String(%q) = %q, %v; want %q, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
	if tr.Sub("a") != nil || tr.Sub("z") != nil || tr.Sub("d") == nil {
		t.Errorf("Sub: wrong subtrees")
	}
}

func TestOverlayIsShallow(t *testing.T) {
	global := Tree{"api": Tree{"pull-timeout": "100", "push-timeout": "5"}, "x": "g"}
	node := Tree{"api": Tree{"pull-timeout": "7"}}
	want := Tree{"api": Tree{"pull-timeout": "7"}, "x": "g"}
	if d := cmp.Diff(want, overlay(node, global)); d != "" {
		t.Errorf("overlay (-want +got):\n%s", d)
	}
}
