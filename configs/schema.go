package configs

import (
	"reflect"
	"slices"
	"strings"
)

// field is the schema of one struct field, read from its tags:
//
//	toml:"name"         the canonical kebab-case key
//	alias:"a b"         other accepted names (snake_case spellings of every
//	                    name are accepted without listing them)
//	cfg:"opt,..."       path:     a path, resolved against Options.WorkDir
//	                    secret:   redacted by TOML(true)
//	                    required: must be present when its table is
//	                    uid, gid: a number or a user/group name
//	                    slots:    a table of slot names to decimal amounts
type field struct {
	index   int
	name    string
	aliases []string
	opts    []string
}

// has reports whether the field has the cfg option opt.
func (f field) has(opt string) bool {
	return slices.Contains(f.opts, opt)
}

// fieldsOf returns the schema fields of struct type t in declaration order.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		name := sf.Tag.Get("toml")
		if name == "" {
			continue
		}
		f := field{index: i, name: name}
		if a := sf.Tag.Get("alias"); a != "" {
			f.aliases = strings.Fields(a)
		}
		if o := sf.Tag.Get("cfg"); o != "" {
			f.opts = strings.Split(o, ",")
		}
		fs = append(fs, f)
	}
	return fs
}

// normalizeKey maps a snake_case spelling to kebab-case.
func normalizeKey(k string) string {
	return strings.ReplaceAll(k, "_", "-")
}

// lookupField finds the field a key (in any accepted spelling) names.
func lookupField(fs []field, key string) (field, bool) {
	k := normalizeKey(key)
	for _, f := range fs {
		if f.name == k || slices.Contains(f.aliases, k) {
			return f, true
		}
	}
	return field{}, false
}

// ignoredKeys are keys that upstream's agent knows and this one accepts
// without acting on them, by dotted path in kebab-case, with the reason
// shown in the warning. Those naming a section of Config (pyroscope) are
// still decoded and validated; the others are not looked at.
var ignoredKeys = map[string]string{
	"agent.event-loop":                              "the Go runtime has no selectable event loop",
	"agent.aiomonitor-termui-port":                  "aiomonitor is a Python asyncio debugger",
	"agent.aiomonitor-port":                         "aiomonitor is a Python asyncio debugger",
	"agent.aiomonitor-webui-port":                   "aiomonitor is a Python asyncio debugger",
	"agent.docker-mode":                             "no Docker daemon is used",
	"agent.use-experimental-redis-event-dispatcher": "removed upstream",
	"container.swarm-enabled":                       "Docker Swarm is not used",
	"container.krunner-volumes":                     "kernel runner files are not Docker volumes here",
	"debug.asyncio":                                 "Python asyncio debug mode",
	"debug.enhanced-aiomonitor-task-info":           "aiomonitor is a Python asyncio debugger",
	"debug.log-docker-events":                       "no Docker daemon is used",
	"logging.disable-existing-loggers":              "a setting of Python's logging.config",
	"logging.handlers":                              "a setting of Python's logging.config",
	"logging.loggers":                               "a setting of Python's logging.config",
	"logging.logstash":                              "the logstash driver is not implemented",
	"logging.graylog":                               "the graylog driver is not implemented",
	"pyroscope":                                     "continuous profiling is not implemented",
	"license":                                       "commercial license settings",
	"agents":                                        "multi-agent mode is not supported; only [agent], [container] and [resource] are used",
	"redis":                                         "upstream fills it from etcd config/redis at startup",
	"plugins":                                       "upstream fills it from etcd config/plugins at startup",
}

// deprecatedAliases are accepted spellings that upstream has removed, by
// dotted path, with the key to use instead.
var deprecatedAliases = map[string]string{
	"agent.scaling-group": "initial-resource-group-name",
}

// ignoredDrivers are [logging] drivers upstream has and this agent ignores.
var ignoredDrivers = []string{"logstash", "graylog"}

// suggest returns the known key closest to an unknown one, or "".
func suggest(key string, known []string) string {
	k := normalizeKey(key)
	best, bestDist := "", len(k)/3+2
	for _, c := range known {
		if d := editDistance(k, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// keyPaths returns the dotted paths of every leaf key of struct type t: the
// keys a file can set. Entries of arrays of tables appear without an index;
// a map (such as logging.pkg-ns) is one leaf.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for _, f := range fieldsOf(t) {
		p := join(prefix, f.name)
		ft := t.Field(f.index).Type
		if ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != hostPortType {
			out = append(out, keyPaths(ft, p)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

// join appends key k to the dotted path p.
func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}
