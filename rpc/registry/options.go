package registry

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults of Options, as upstream's [etcd] section has them where it has
// one.
const (
	DefaultNamespace         = "local"
	DefaultAddr              = "127.0.0.1:2379"
	DefaultDialTimeout       = 5 * time.Second
	DefaultCallTimeout       = 5 * time.Second
	DefaultMaxReconnectDelay = 3 * time.Second
)

// Options mirror the [etcd] section of agent.toml, plus the client's
// timeouts.
type Options struct {
	// Namespace is etcd.namespace: keys live under /sorna/{Namespace}/.
	// Empty means DefaultNamespace.
	Namespace string
	// Addrs are etcd.addr, each "host:port" (an IPv6 host in brackets).
	// Empty means DefaultAddr.
	Addrs []string
	// User and Password are etcd.user and etcd.password. As upstream, the
	// client authenticates only when both are set.
	User, Password string
	// TLS, when set, makes the client speak TLS. Upstream always dials
	// plain http://; nil does the same.
	TLS *tls.Config
	// DialTimeout bounds Open: the first connection, authentication and a
	// probe read. 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// CallTimeout bounds every call (a read, a write, a transaction): a
	// call etcd does not answer in time fails with ErrUnavailable. 0 means
	// DefaultCallTimeout.
	CallTimeout time.Duration
	// MaxReconnectDelay caps the backoff between reconnection attempts
	// while etcd is away. 0 means DefaultMaxReconnectDelay.
	MaxReconnectDelay time.Duration
	// Log receives the client's lines; nil discards them.
	Log *slog.Logger
}

// withDefaults checks o and fills in its defaults; it reports every
// problem at once.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if strings.Contains(o.Namespace, "/") {
		errs = append(errs, fmt.Errorf("namespace %q holds a '/'", o.Namespace))
	}
	if len(o.Addrs) == 0 {
		o.Addrs = []string{DefaultAddr}
	}
	for _, a := range o.Addrs {
		if err := checkAddr(a); err != nil {
			errs = append(errs, err)
		}
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxReconnectDelay == 0 {
		o.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"dial timeout", o.DialTimeout}, {"call timeout", o.CallTimeout}, {"max reconnect delay", o.MaxReconnectDelay}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.v))
		}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o, errors.Join(errs...)
}

// checkAddr checks one "host:port".
func checkAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("etcd addr %q: %w", a, err)
	}
	if host == "" {
		return fmt.Errorf("etcd addr %q: empty host", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("etcd addr %q: port must be 1 to 65535", a)
	}
	return nil
}

// endpoints turns the addresses into the client's endpoint URLs.
func (o Options) endpoints() []string {
	scheme := "http://"
	if o.TLS != nil {
		scheme = "https://"
	}
	eps := make([]string, len(o.Addrs))
	for i, a := range o.Addrs {
		eps[i] = scheme + a
	}
	return eps
}
