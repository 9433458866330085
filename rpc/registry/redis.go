package registry

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// Redis is config/redis in typed form, with upstream's defaults
// (common/config.py redis_config_iv, common/configs/redis.py).
type Redis struct {
	// Addr is "host:port" (IPv6 in brackets); "" when not set.
	Addr string
	// Sentinel lists the sentinels' "host:port"; when set, upstream uses
	// them instead of Addr, with ServiceName as the master's name.
	Sentinel    []string
	ServiceName string
	Password    string
	// UseTLS and TLSSkipVerify are use_tls and tls_skip_verify.
	UseTLS, TLSSkipVerify bool
	// Helper is redis_helper_config.
	Helper RedisHelper
}

// RedisHelper is redis_helper_config: the Redis client's timeouts.
type RedisHelper struct {
	SocketTimeout          time.Duration // socket_timeout, default 5 s
	SocketConnectTimeout   time.Duration // socket_connect_timeout, default 2 s
	ReconnectPollTimeout   time.Duration // reconnect_poll_timeout, default 0.3 s
	ConnectionReadyTimeout time.Duration // connection_ready_timeout, default 20 s
}

// ParseRedis reads the Tree of config/redis. addr is "host:port" or a
// subtree {host, port}; sentinel is a comma-separated list of "host:port";
// booleans accept true/false (any case) and 1/0; the helper's timeouts are
// seconds (floats), under snake_case or kebab-case names. Other keys
// (override_configs among them) are ignored. Every problem is reported.
func ParseRedis(t Tree) (Redis, error) {
	r := Redis{Helper: RedisHelper{
		SocketTimeout:          5 * time.Second,
		SocketConnectTimeout:   2 * time.Second,
		ReconnectPollTimeout:   300 * time.Millisecond,
		ConnectionReadyTimeout: 20 * time.Second,
	}}
	var errs []error
	if _, ok := t["addr"]; ok {
		addr, err := hostPort(t, "addr")
		if err != nil {
			errs = append(errs, err)
		}
		r.Addr = addr
	}
	if s, ok := t.String("sentinel"); ok && s != "" {
		for _, item := range strings.Split(s, ",") {
			hp, err := parseHostPort(item)
			if err != nil {
				errs = append(errs, fmt.Errorf("redis sentinel: %w", err))
				continue
			}
			r.Sentinel = append(r.Sentinel, hp)
		}
	}
	r.ServiceName, _ = t.String("service_name")
	r.Password, _ = t.String("password")
	for _, b := range []struct {
		key string
		dst *bool
	}{{"use_tls", &r.UseTLS}, {"tls_skip_verify", &r.TLSSkipVerify}} {
		if s, ok := t.String(b.key); ok {
			v, err := parseBool(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("redis %s: %w", b.key, err))
			}
			*b.dst = v
		}
	}
	if h := t.Sub("redis_helper_config"); h != nil {
		for _, d := range []struct {
			key string
			dst *time.Duration
		}{
			{"socket_timeout", &r.Helper.SocketTimeout},
			{"socket_connect_timeout", &r.Helper.SocketConnectTimeout},
			{"reconnect_poll_timeout", &r.Helper.ReconnectPollTimeout},
			{"connection_ready_timeout", &r.Helper.ConnectionReadyTimeout},
		} {
			s, ok := h.String(d.key)
			if !ok {
				s, ok = h.String(strings.ReplaceAll(d.key, "_", "-"))
			}
			if !ok {
				continue
			}
			v, err := parseSeconds(s)
			if err != nil {
				errs = append(errs, fmt.Errorf("redis redis_helper_config.%s: %w", d.key, err))
				continue
			}
			*d.dst = v
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Redis{}, fmt.Errorf("etcd %s: %w", KeyRedis, err)
	}
	return r, nil
}

// hostPort reads t[key] as upstream's HostPortPair: "host:port" or a
// subtree {host, port}.
func hostPort(t Tree, key string) (string, error) {
	if sub := t.Sub(key); sub != nil {
		host, _ := sub.String("host")
		port, _ := sub.String("port")
		if host == "" && port == "" {
			if own, ok := sub.String(""); ok {
				return parseHostPort(own)
			}
		}
		hp, err := joinHostPort(host, port)
		if err != nil {
			return "", fmt.Errorf("redis %s: %w", key, err)
		}
		return hp, nil
	}
	s, _ := t.String(key)
	hp, err := parseHostPort(s)
	if err != nil {
		return "", fmt.Errorf("redis %s: %w", key, err)
	}
	return hp, nil
}

// parseHostPort splits "host:port" at the last ':' (upstream's rsplit),
// dropping brackets around the host.
func parseHostPort(s string) (string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", fmt.Errorf("%q has no port", s)
	}
	return joinHostPort(s[:i], s[i+1:])
}

// joinHostPort checks host and port and joins them.
func joinHostPort(host, port string) (string, error) {
	host = strings.Trim(host, "[]")
	if host == "" {
		return "", errors.New("empty host")
	}
	n, err := strconv.Atoi(strings.TrimSpace(port))
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q must be 1 to 65535", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// parseBool accepts true/false in any case and 1/0.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// parseSeconds reads a non-negative number of seconds.
func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > math.MaxInt64/float64(time.Second) {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}
