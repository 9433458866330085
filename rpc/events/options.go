package events

import (
	"fmt"
	"log/slog"
	"time"
)

// Role is the purpose a Redis connection serves, as upstream's RedisRole
// (common/defs): the key of RedisConfig.Overrides.
type Role string

// The roles the agent writes to, with upstream's names.
const (
	RoleStatistics   Role = "statistics"
	RoleLive         Role = "live"
	RoleImage        Role = "image"
	RoleStream       Role = "stream"
	RoleContainerLog Role = "container_log"
)

// The Redis database of each role, as upstream's REDIS_*_DB constants.
const (
	DBStatistics   = 0
	DBLive         = 2
	DBImage        = 3
	DBStream       = 4
	DBContainerLog = 6
)

// roleDB is a role this package uses and its database.
type roleDB struct {
	role Role
	db   int
}

// roleDBs lists the roles this package uses.
func roleDBs() [5]roleDB {
	return [5]roleDB{
		{RoleStream, DBStream},
		{RoleStatistics, DBStatistics},
		{RoleLive, DBLive},
		{RoleImage, DBImage},
		{RoleContainerLog, DBContainerLog},
	}
}

// Defaults of RedisTarget, as upstream's redis_helper_config.
const (
	DefaultSocketTimeout        = 5 * time.Second
	DefaultSocketConnectTimeout = 2 * time.Second
)

// RedisTarget is one Redis server (or Sentinel-watched master), the shape
// of upstream's SingleRedisConfig (common/configs/redis.py) that etcd's
// config/redis holds.
type RedisTarget struct {
	// Addr is "host:port". Empty, with no Sentinel, means no Redis.
	Addr string
	// Sentinel lists "host:port" of Sentinels; when set, Addr is ignored
	// and ServiceName names the master.
	Sentinel    []string
	ServiceName string
	Password    string
	// SentinelPassword authenticates to the Sentinels; empty means
	// Password.
	SentinelPassword string
	UseTLS           bool
	TLSSkipVerify    bool
	// SocketTimeout bounds each read and write (redis_helper_config
	// socket_timeout); 0 means DefaultSocketTimeout.
	SocketTimeout time.Duration
	// SocketConnectTimeout bounds each dial (socket_connect_timeout); 0
	// means DefaultSocketConnectTimeout.
	SocketConnectTimeout time.Duration
}

// configured reports whether t names a server.
func (t RedisTarget) configured() bool {
	return t.Addr != "" || len(t.Sentinel) > 0
}

// RedisConfig is upstream's RedisConfig: a default target and per-role
// overrides (override_configs). The database number comes from the role,
// not from the config.
type RedisConfig struct {
	RedisTarget
	Overrides map[Role]RedisTarget
}

// Target returns the target of role: its override, or the default.
func (c RedisConfig) Target(role Role) RedisTarget {
	if t, ok := c.Overrides[role]; ok {
		return t
	}
	return c.RedisTarget
}

// WireFormat selects the body format of events.
type WireFormat string

// The wire formats.
const (
	// WireMsgpack26 is the format of upstream releases up to 26.8: field
	// "args", msgpack of the event's tuple with pickled ext types.
	WireMsgpack26 WireFormat = "msgpack-26.8"
	// WireJSON is the format of upstream main after BA-7315: field
	// "payload", JSON of the event's fields.
	WireJSON WireFormat = "json"
)

// Options configure a Producer.
type Options struct {
	Redis RedisConfig
	// AgentID is the agent's id: the source of its events and the key of
	// its node stats. Required.
	AgentID string
	// WireFormat is the event body format; "" means WireMsgpack26.
	WireFormat WireFormat
	// Log receives the producer's lines; nil discards them.
	Log *slog.Logger
}

// check validates o and fills in defaults.
func (o *Options) check() error {
	if o.AgentID == "" {
		return fmt.Errorf("events options: %w: agent id is empty", ErrInvalidOptions)
	}
	switch o.WireFormat {
	case "":
		o.WireFormat = WireMsgpack26
	case WireMsgpack26, WireJSON:
	default:
		return fmt.Errorf("events options: %w: wire format %q (want %q or %q)",
			ErrInvalidOptions, o.WireFormat, WireMsgpack26, WireJSON)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}
