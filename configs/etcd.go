package configs

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
}
