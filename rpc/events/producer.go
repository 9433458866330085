package events

import (
	"compress/zlib"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Client settings that make a call fail fast while Redis is away: one
// dial per attempt, two retries 10-100 ms apart (upstream retries three
// times 100 ms apart), and a small pool, whose dial errors go-redis counts
// to answer at once and redial in the background (once a second) after
// PoolSize failures in a row.
const (
	maxRetries      = 2
	minRetryBackoff = 10 * time.Millisecond
	maxRetryBackoff = 100 * time.Millisecond
	poolSize        = 4
)

// Producer publishes the agent's events and writes its shared state to
// Redis. It is safe for concurrent use.
type Producer struct {
	agentID string
	format  WireFormat
	log     *slog.Logger
	// clients holds a client per role, nil where the role has no Redis.
	clients  map[Role]*redis.Client
	dropOnce sync.Once
	closed   atomic.Bool
	// zlib compresses heartbeats' image lists: a flate compressor is
	// about 1 MiB, worth keeping. zmu guards it.
	zmu  sync.Mutex
	zlib *zlib.Writer
	// bufs holds *[]byte for encoding stats.
	bufs sync.Pool
}

// New returns a Producer for opts. It does not connect: go-redis dials on
// the first call, so New succeeds while Redis is down.
func New(opts Options) (*Producer, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	p := &Producer{
		agentID: opts.AgentID,
		format:  opts.WireFormat,
		log:     opts.Log.With("component", "events"),
		clients: make(map[Role]*redis.Client),
	}
	for _, r := range roleDBs() {
		t := opts.Redis.Target(r.role)
		if !t.configured() {
			p.clients[r.role] = nil
			continue
		}
		c, err := newClient(t, r.db)
		if err != nil {
			_ = p.Close()
			return nil, fmt.Errorf("redis role %s: %w", r.role, err)
		}
		p.clients[r.role] = c
	}
	return p, nil
}

// AgentID returns the agent id the producer writes as.
func (p *Producer) AgentID() string { return p.agentID }

// Close closes the connections. Later calls return ErrClosed.
func (p *Producer) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	for role, c := range p.clients {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close redis role %s: %w", role, err))
		}
	}
	return errors.Join(errs...)
}

// client returns the client of role, or nil (with the one warning of the
// producer) when the role has no Redis and the call is to be dropped.
func (p *Producer) client(role Role, what string) (*redis.Client, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	c := p.clients[role]
	if c == nil {
		p.dropOnce.Do(func() {
			p.log.Warn("no redis configured; events and shared state are dropped",
				"role", string(role), "what", what)
		})
	}
	return c, nil
}

// newClient builds the go-redis client of one role.
func newClient(t RedisTarget, db int) (*redis.Client, error) {
	readTimeout := t.SocketTimeout
	if readTimeout <= 0 {
		readTimeout = DefaultSocketTimeout
	}
	dialTimeout := t.SocketConnectTimeout
	if dialTimeout <= 0 {
		dialTimeout = DefaultSocketConnectTimeout
	}
	var tlsConfig *tls.Config
	if t.UseTLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.TLSSkipVerify}
		if host, _, err := net.SplitHostPort(t.Addr); err == nil && len(t.Sentinel) == 0 {
			tlsConfig.ServerName = host
		}
	}
	maint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if len(t.Sentinel) > 0 {
		if t.ServiceName == "" {
			return nil, fmt.Errorf("%w: sentinel without a service name", ErrInvalidOptions)
		}
		sentinelPassword := t.SentinelPassword
		if sentinelPassword == "" {
			sentinelPassword = t.Password
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:            t.ServiceName,
			SentinelAddrs:         t.Sentinel,
			SentinelPassword:      sentinelPassword,
			Password:              t.Password,
			DB:                    db,
			MaxRetries:            maxRetries,
			MinRetryBackoff:       minRetryBackoff,
			MaxRetryBackoff:       maxRetryBackoff,
			DialTimeout:           dialTimeout,
			DialerRetries:         1,
			ReadTimeout:           readTimeout,
			WriteTimeout:          readTimeout,
			ContextTimeoutEnabled: true,
			PoolSize:              poolSize,
			TLSConfig:             tlsConfig,
			DisableIdentity:       true,
		}), nil
	}
	if _, _, err := net.SplitHostPort(t.Addr); err != nil {
		return nil, fmt.Errorf("%w: redis address %q: %w", ErrInvalidOptions, t.Addr, err)
	}
	return redis.NewClient(&redis.Options{
		Addr:                     t.Addr,
		Password:                 t.Password,
		DB:                       db,
		MaxRetries:               maxRetries,
		MinRetryBackoff:          minRetryBackoff,
		MaxRetryBackoff:          maxRetryBackoff,
		DialTimeout:              dialTimeout,
		DialerRetries:            1,
		ReadTimeout:              readTimeout,
		WriteTimeout:             readTimeout,
		ContextTimeoutEnabled:    true,
		PoolSize:                 poolSize,
		TLSConfig:                tlsConfig,
		DisableIdentity:          true,
		MaintNotificationsConfig: maint,
	}), nil
}
