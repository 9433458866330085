package configs

import (
	"net/netip"
	"strings"
)

// Etcd is the [etcd] section: where the cluster's shared configuration
// lives. Keys are read and written under /sorna/{namespace}/.
type Etcd struct {
	// Namespace is the key prefix: /sorna/{namespace}/. Default "local".
	Namespace string `toml:"namespace"`
	// Addr lists the etcd endpoints; the file may give one address or an
	// array of them. Default 127.0.0.1:2379.
	Addr []HostPort `toml:"addr"`
	// User is the etcd user name; "" means no authentication.
	User string `toml:"user"`
	// Password is the etcd password; it is redacted when shown.
	Password string `toml:"password" cfg:"secret"`
	// LocalFallback is this agent's extension, not upstream's: when the
	// configured etcd is unreachable at start-up, start a local single-node
	// etcd (backendai-etcd) listening on the first configured address, data
	// under var-base-path/etcd; for single-node development only. It is
	// allowed only when the first address is a loopback address. Default
	// false.
	LocalFallback bool `toml:"local-fallback"`
}

// IsLoopbackHost reports whether host names the loopback interface: an
// address in 127.0.0.0/8, ::1 (bracketed or not) or "localhost".
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}
