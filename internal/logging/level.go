package logging

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"
)

// LevelTrace is below slog.LevelDebug, for upstream's TRACE.
const LevelTrace = slog.Level(-8)

// LevelCritical is above slog.LevelError, for upstream's CRITICAL.
const LevelCritical = slog.Level(12)

// ParseLevel maps an upstream (Python logging) level name to a slog level.
// Names are case-insensitive; NOTSET means "everything".
func ParseLevel(name string) (slog.Level, error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "TRACE", "NOTSET":
		return LevelTrace, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARNING", "WARN":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "CRITICAL", "FATAL":
		return LevelCritical, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL or NOTSET)", name)
}

// levelName is the upstream name of a slog level, as printed in log lines.
func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	case l < LevelCritical:
		return "ERROR"
	}
	return "CRITICAL"
}

// Components names the agent's components, the values of the `component`
// attribute. Upstream's Python module names in `pkg-ns` map onto them.
var componentNamespaces = map[string][]string{
	// upstream namespace prefix -> our components it covers
	"ai.backend.agent.docker":  {"runtime", "image"},
	"ai.backend.agent.kernel":  {"runtime"},
	"ai.backend.agent.stats":   {"stats"},
	"ai.backend.agent.server":  {"server", "rpc"},
	"ai.backend.agent.watcher": {"watcher"},
	"ai.backend.common.events": {"events"},
	"ai.backend.common.etcd":   {"etcd"},
	"ai.backend.accelerator":   {"gpu"},
	"aiohttp":                  {"http"},
	"aiodocker":                {"runtime", "image"},
	"callosum":                 {"rpc"},
	"zmq":                      {"rpc"},
	"etcd":                     {"etcd"},
	"etcd3":                    {"etcd"},
	"redis":                    {"redis"},
}

// ComponentLevels turns a `pkg-ns` table (namespace -> level name) into a
// root level and per-component levels. The empty namespace sets the root
// level; "ai.backend" and "ai.backend.agent" set every component of ours;
// a more specific namespace wins over a less specific one; our own
// component names ("rpc", "runtime", ...) are accepted directly. Namespaces
// that match nothing of ours (e.g. "aiotools") are returned in ignored, so
// the caller can mention them once at debug level.
func ComponentLevels(pkgNS map[string]string) (root *slog.Level, levels map[string]slog.Level, ignored []string, err error) {
	names := make([]string, 0, len(pkgNS))
	for ns := range pkgNS {
		names = append(names, ns)
	}
	// Less specific first, so that more specific namespaces override.
	sort.Slice(names, func(i, j int) bool {
		ri, rj := specificity(names[i]), specificity(names[j])
		if ri != rj {
			return ri < rj
		}
		if len(names[i]) != len(names[j]) {
			return len(names[i]) < len(names[j])
		}
		return names[i] < names[j]
	})
	levels = map[string]slog.Level{}
	for _, ns := range names {
		lv, perr := ParseLevel(pkgNS[ns])
		if perr != nil {
			return nil, nil, nil, fmt.Errorf("pkg-ns %q: %w", ns, perr)
		}
		var comps []string
		switch specificity(ns) {
		case 0:
			root = &lv
			continue
		case 1:
			comps = knownComponents()
		default:
			comps = matchNamespace(ns)
		}
		if len(comps) == 0 {
			ignored = append(ignored, ns)
			continue
		}
		for _, c := range comps {
			levels[c] = lv
		}
	}
	return root, levels, ignored, nil
}

// specificity ranks a namespace: the root, all of the agent, an upstream
// module prefix, one of our component names.
func specificity(ns string) int {
	switch ns {
	case "":
		return 0
	case "ai.backend", "ai.backend.agent", "agent":
		return 1
	}
	for _, c := range knownComponents() {
		if ns == c {
			return 3
		}
	}
	return 2
}

// matchNamespace returns our components covered by an upstream namespace or
// one of our own component names.
func matchNamespace(ns string) []string {
	for _, c := range knownComponents() {
		if ns == c {
			return []string{c}
		}
	}
	best := ""
	for prefix := range componentNamespaces {
		if (ns == prefix || strings.HasPrefix(ns, prefix+".")) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return nil
	}
	return componentNamespaces[best]
}

// knownComponents lists every component name, sorted.
func knownComponents() []string {
	set := map[string]bool{"server": true, "configs": true, "runtime": true, "image": true, "cgroup": true,
		"netns": true, "gpu": true, "rpc": true, "events": true, "etcd": true, "redis": true,
		"stats": true, "http": true, "watcher": true}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
