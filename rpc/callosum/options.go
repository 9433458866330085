package callosum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// Defaults of Options.
const (
	DefaultMaxFrameBytes   = 64 << 20
	DefaultLinger          = 100 * time.Millisecond
	DefaultShutdownTimeout = 2 * time.Second
	// ZAPDomain is the ZAP domain of the agent's socket, as upstream sets.
	ZAPDomain = "local"
	// zapUserID is the user id a granted manager gets.
	zapUserID = "manager"
)

// Handler runs one RPC call. It is called on its own goroutine; ctx ends
// when the caller sends CANCEL or the server stops. body is the FUNCTION's
// Backend.AI-serialized body; the returned bytes become the RESULT's body
// (nil or empty stands for None, sent as msgpack nil). An error becomes a
// FAILURE, or an ERROR when it wraps ErrUnknownMethod.
type Handler interface {
	Handle(ctx context.Context, method string, body []byte) ([]byte, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, method string, body []byte) ([]byte, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, method string, body []byte) ([]byte, error) {
	return f(ctx, method, body)
}

// Options configure a Server.
type Options struct {
	// Addr is "host:port" (agent.rpc-listen-addr) or "tcp://host:port". Port
	// 0 binds a free port; Server.Addr tells which.
	Addr    string
	Handler Handler
	// Log receives the server's lines; nil discards them.
	Log *slog.Logger
	// MaxFrameBytes bounds a frame (ZMQ_MAXMSGSIZE: libzmq disconnects a peer
	// that sends a larger one) and a whole message (dropped and counted).
	// 0 means DefaultMaxFrameBytes.
	MaxFrameBytes int
	// MaxInflight bounds the calls running at once; while at the bound the
	// server stops reading, so callers queue in ZeroMQ. 0 means no bound.
	MaxInflight int
	// Linger is ZMQ_LINGER of the socket: how long unsent replies may hold
	// up the close. 0 means DefaultLinger; negative waits for them forever.
	Linger time.Duration
	// ShutdownTimeout bounds how long Serve waits, once ctx ends, for the
	// cancelled handlers to return; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Inline, when set, names the methods whose handler answers at once
	// without blocking (memory only: no I/O, no locks held long). They run
	// on the goroutine that owns the socket, which saves the hand-off of
	// a call to its own goroutine and back; they cannot be cancelled, and
	// one that blocks stalls every call. Nil runs every call on its own
	// goroutine.
	Inline func(method string) bool
	// Curve, when set, makes the socket a CURVE server admitting only the
	// manager's key.
	Curve *CurveOptions
}

// CurveOptions hold z85 keys (40 characters), as LoadCertificate returns.
type CurveOptions struct {
	PublicKey        string // the agent's public key
	SecretKey        string // the agent's secret key
	ManagerPublicKey string // the one client key admitted
}

// withDefaults checks o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Handler == nil {
		errs = append(errs, errors.New("no handler"))
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if o.MaxFrameBytes < 0 {
		errs = append(errs, fmt.Errorf("max frame bytes %d is negative", o.MaxFrameBytes))
	}
	if o.MaxInflight < 0 {
		errs = append(errs, fmt.Errorf("max in-flight %d is negative", o.MaxInflight))
	}
	if o.Linger == 0 {
		o.Linger = DefaultLinger
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Curve != nil {
		if err := o.Curve.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}

func (c *CurveOptions) check() error {
	var errs []error
	for _, k := range []struct{ name, key string }{
		{"public key", c.PublicKey}, {"secret key", c.SecretKey}, {"manager public key", c.ManagerPublicKey},
	} {
		if err := checkZ85Key(k.key); err != nil {
			errs = append(errs, fmt.Errorf("curve %s: %w", k.name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	pub, err := zmq.AuthCurvePublic(c.SecretKey)
	if err != nil {
		return fmt.Errorf("derive curve public key: %w", err)
	}
	if pub != c.PublicKey {
		return errors.New("curve public key does not match the secret key")
	}
	return nil
}

const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// checkZ85Key accepts the z85 form of a 32-byte CURVE key.
func checkZ85Key(k string) error {
	if len(k) != 40 {
		return fmt.Errorf("%d characters, want 40 (z85)", len(k))
	}
	if i := strings.IndexFunc(k, func(r rune) bool { return !strings.ContainsRune(z85Alphabet, r) }); i >= 0 {
		return fmt.Errorf("character %d is not z85", i)
	}
	return nil
}

// endpoint turns "host:port" or "tcp://host:port" into a ZeroMQ TCP
// endpoint; port 0 becomes "*" (a free port). ipv6 tells that the host is
// an IPv6 literal, which needs ZMQ_IPV6.
func endpoint(addr string) (ep string, ipv6 bool, err error) {
	hp := addr
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		if scheme != "tcp" {
			return "", false, fmt.Errorf("address %q: only tcp is supported", addr)
		}
		hp = rest
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return "", false, fmt.Errorf("address %q: %w", addr, err)
	}
	if port != "*" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return "", false, fmt.Errorf("address %q: port: %w", addr, err)
		}
		if n == 0 {
			port = "*"
		}
	}
	switch {
	case host == "":
		host = "*"
	case strings.Contains(host, ":"):
		host, ipv6 = "["+host+"]", true
	}
	return "tcp://" + host + ":" + port, ipv6, nil
}
