package configs

import (
	"fmt"
	"strconv"
	"strings"
)

// envOverride is one legacy BACKEND_* variable that replaces a key of the
// file, as upstream's server.py applies them before validation.
type envOverride struct {
	name string
	key  string // canonical key path
	set  func(c *Config, v string, o Options) error
}

// envOverrides are applied in this order. The watcher's two variables are
// read by upstream's watcher only; they touch [watcher] alone, so they are
// applied here as well.
var envOverrides = []envOverride{
	{"BACKEND_NAMESPACE", "etcd.namespace", func(c *Config, v string, _ Options) error {
		c.Etcd.Namespace = v
		return nil
	}},
	{"BACKEND_ETCD_ADDR", "etcd.addr", func(c *Config, v string, _ Options) error {
		var addrs []HostPort
		for s := range strings.SplitSeq(v, ",") {
			hp, err := ParseHostPort(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("invalid address %q: %w", s, err)
			}
			addrs = append(addrs, hp)
		}
		c.Etcd.Addr = addrs
		return nil
	}},
	{"BACKEND_ETCD_USER", "etcd.user", func(c *Config, v string, _ Options) error {
		c.Etcd.User = v
		return nil
	}},
	{"BACKEND_ETCD_PASSWORD", "etcd.password", func(c *Config, v string, _ Options) error {
		c.Etcd.Password = v
		return nil
	}},
	{"BACKEND_AGENT_HOST_OVERRIDE", "agent.rpc-listen-addr.host", func(c *Config, v string, _ Options) error {
		c.Agent.RPCListenAddr.Host = v
		return nil
	}},
	{"BACKEND_AGENT_PORT", "agent.rpc-listen-addr.port", func(c *Config, v string, _ Options) error {
		return setPort(&c.Agent.RPCListenAddr.Port, v)
	}},
	{"BACKEND_PID_FILE", "agent.pid-file", func(c *Config, v string, o Options) error {
		return setPath(&c.Agent.PIDFile, v, o)
	}},
	{"BACKEND_CONTAINER_PORT_RANGE", "container.port-range", func(c *Config, v string, _ Options) error {
		r, err := parsePortRange(v)
		if err != nil {
			return err
		}
		c.Container.PortRange = r
		return nil
	}},
	{"BACKEND_BIND_HOST_OVERRIDE", "container.bind-host", func(c *Config, v string, _ Options) error {
		c.Container.BindHost = v
		return nil
	}},
	{"BACKEND_SANDBOX_TYPE", "container.sandbox-type", func(c *Config, v string, _ Options) error {
		c.Container.SandboxType = v
		return nil
	}},
	{"BACKEND_SCRATCH_ROOT", "container.scratch-root", func(c *Config, v string, o Options) error {
		return setPath(&c.Container.ScratchRoot, v, o)
	}},
	{"BACKEND_WATCHER_SERVICE_IP", "watcher.service-addr.host", func(c *Config, v string, _ Options) error {
		c.Watcher.ServiceAddr.Host = v
		return nil
	}},
	{"BACKEND_WATCHER_SERVICE_PORT", "watcher.service-addr.port", func(c *Config, v string, _ Options) error {
		return setPort(&c.Watcher.ServiceAddr.Port, v)
	}},
}

// applyEnv applies the environment overrides that are set (non-empty) to c.
// A value that cannot be read is a problem of its variable; later problems
// with the key (a port out of range, say) are attributed to it too.
func (d *decoder) applyEnv(c *Config) {
	for _, e := range envOverrides {
		v := d.o.Getenv(e.name)
		if v == "" {
			continue
		}
		for k := range d.origins {
			if strings.HasPrefix(k, e.key+".") || strings.HasPrefix(k, e.key+"[") {
				delete(d.origins, k) // the file's value is gone
			}
		}
		d.origins[e.key] = origin{env: e.name, key: e.key}
		if err := e.set(c, v, d.o); err != nil {
			d.problems = append(d.problems, Problem{Env: e.name, Key: e.key, Msg: err.Error()})
		}
	}
}

// setPort parses a port number; its range is checked by validate.
func setPort(dst *int, v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("expected an integer port, got %q", v)
	}
	*dst = n
	return nil
}

// setPath resolves a path from the environment as one from the file.
func setPath(dst *string, v string, o Options) error {
	p, err := resolvePath(v, o)
	if err != nil {
		return err
	}
	*dst = p
	return nil
}

// parsePortRange reads "30000-31000", "30000:31000", "30000,31000" or
// "[30000, 31000]".
func parsePortRange(v string) ([2]int, error) {
	s := strings.Trim(strings.TrimSpace(v), "[]() ")
	i := strings.IndexAny(s, "-:,")
	if i < 0 {
		return [2]int{}, fmt.Errorf(`expected a port range such as "30000-31000", got %q`, v)
	}
	var r [2]int
	for j, part := range []string{s[:i], s[i+1:]} {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return [2]int{}, fmt.Errorf(`expected a port range such as "30000-31000", got %q`, v)
		}
		r[j] = n
	}
	return r, nil
}
