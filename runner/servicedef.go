package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ServiceDef is one /etc/backend.ai/service-defs/<name>.json, in the
// format of upstream's ServiceParser (kernel/service.py).
type ServiceDef struct {
	// Command is a list of arguments, or a script (a JSON string) that
	// Shell runs with -c.
	Command          json.RawMessage            `json:"command"`
	Shell            string                     `json:"shell"`
	Noop             bool                       `json:"noop"`
	URLTemplate      string                     `json:"url_template"`
	Prestart         []PrestartAction           `json:"prestart"`
	PrestartActions  []PrestartAction           `json:"prestart_actions"`
	Env              map[string]string          `json:"env"`
	AllowedEnvs      []string                   `json:"allowed_envs"`
	AllowedArguments []string                   `json:"allowed_arguments"`
	DefaultArguments map[string]json.RawMessage `json:"default_arguments"`
}

// PrestartAction is one entry of "prestart" (upstream's service_actions).
type PrestartAction struct {
	Action string          `json:"action"`
	Args   json.RawMessage `json:"args"`
	Ref    string          `json:"ref"`
}

var (
	errUnknownService  = errors.New("invalid service name")
	errBadInterpolated = errors.New("bad interpolation")
)

// validServiceName accepts names that are safe as file names: letters,
// digits, '.', '_' and '-', not starting with '.'.
func validServiceName(name string) bool {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return false
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// loadServiceDef reads dir/name.json; errUnknownService when there is none.
func loadServiceDef(dir, name string) (*ServiceDef, error) {
	if !validServiceName(name) {
		return nil, errUnknownService
	}
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errUnknownService
	}
	if err != nil {
		return nil, fmt.Errorf("read service definition %s: %w", name, err)
	}
	var d ServiceDef
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("malformed service definition %s: %w", name, err)
	}
	if len(d.PrestartActions) == 0 {
		d.PrestartActions = d.Prestart
	}
	if d.Shell == "" {
		d.Shell = "bash"
	}
	return &d, nil
}

// listServiceDefs returns the names of the definitions in dir, sorted.
func listServiceDefs(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("list service definitions: %w", err)
	}
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		if name := strings.TrimSuffix(filepath.Base(p), ".json"); validServiceName(name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// commandArgs returns the definition's command as argv: a script becomes
// [shell, "-c", script].
func (d *ServiceDef) commandArgs() ([]string, error) {
	var list []string
	if err := json.Unmarshal(d.Command, &list); err == nil {
		return list, nil
	}
	var script string
	if err := json.Unmarshal(d.Command, &script); err != nil {
		return nil, fmt.Errorf("service command is neither a list nor a string: %w", err)
	}
	return []string{d.Shell, "-c", script}, nil
}

// appendArgument appends a default_arguments or options.arguments entry
// as upstream does: the name, then a string value or each list item.
func appendArgument(argv []string, name string, raw json.RawMessage) ([]string, error) {
	argv = append(argv, name)
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return append(argv, s), nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return append(argv, list...), nil
	}
	if string(raw) == "null" {
		return argv, nil
	}
	return nil, fmt.Errorf("argument %s: want a string, a list of strings or null", name)
}

// interpolate expands the templates of upstream's ServiceArgumentInterpolator
// in s: ${{ expr }} and {expr} (not after $ or {), where expr is a
// Python format field: a variable name followed by [index] or [key]
// lookups, e.g. {ports[0]}. Shell syntax such as ${HOME} is left alone.
func interpolate(s string, vars map[string]any) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		var expr string
		switch {
		case strings.HasPrefix(s[i:], "${{"):
			end := strings.Index(s[i+3:], "}}")
			if end < 0 {
				b.WriteString(s[i:])
				return b.String(), nil
			}
			expr = s[i+3 : i+3+end]
			i += 3 + end + 2
		case s[i] == '{' && (i == 0 || (s[i-1] != '$' && s[i-1] != '{')):
			end := strings.IndexByte(s[i+1:], '}')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String(), nil
			}
			expr = s[i+1 : i+1+end]
			i += 1 + end + 1
		default:
			b.WriteByte(s[i])
			i++
			continue
		}
		v, err := evalField(strings.TrimSpace(expr), vars)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// evalField evaluates name[idx][key]... against vars.
func evalField(expr string, vars map[string]any) (string, error) {
	name, rest, _ := strings.Cut(expr, "[")
	if rest != "" {
		rest = "[" + rest
	}
	v, ok := vars[name]
	if !ok {
		return "", fmt.Errorf("%w: unknown variable %q in {%s}", errBadInterpolated, name, expr)
	}
	for rest != "" {
		end := strings.IndexByte(rest, ']')
		if rest[0] != '[' || end < 0 {
			return "", fmt.Errorf("%w: unsupported field {%s}", errBadInterpolated, expr)
		}
		key := rest[1:end]
		rest = rest[end+1:]
		switch c := v.(type) {
		case []int:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= len(c) {
				return "", fmt.Errorf("%w: index %q out of range in {%s}", errBadInterpolated, key, expr)
			}
			v = c[n]
		case map[string]string:
			s, ok := c[key]
			if !ok {
				return "", fmt.Errorf("%w: no key %q in {%s}", errBadInterpolated, key, expr)
			}
			v = s
		default:
			return "", fmt.Errorf("%w: {%s} cannot be indexed", errBadInterpolated, expr)
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case int:
		return strconv.Itoa(x), nil
	default:
		return fmt.Sprint(x), nil
	}
}
