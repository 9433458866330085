package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Client reads and writes the keys of one namespace. It is safe for
// concurrent use. Its keys are relative to /sorna/{namespace}/ and quoted
// by the caller (see the package doc).
type Client struct {
	cli         *clientv3.Client
	root        string // "/sorna/{namespace}/"
	callTimeout time.Duration
	log         *slog.Logger
	down        atomic.Bool // the last call found etcd unavailable
	closed      atomic.Bool
}

// Open connects to etcd and checks, within opts.DialTimeout, that it
// answers (a read of one key); it fails with ErrUnavailable otherwise. ctx
// bounds Open only, not the client's life. Close the client when done.
func Open(ctx context.Context, opts Options) (*Client, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("etcd options: %w", err)
	}
	cfg := clientv3.Config{
		Endpoints:            opts.endpoints(),
		DialTimeout:          opts.DialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: opts.CallTimeout,
		TLS:                  opts.TLS,
		Context:              context.WithoutCancel(ctx),
		Logger:               zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   opts.MaxReconnectDelay,
			},
			MinConnectTimeout: opts.DialTimeout,
		})},
	}
	if opts.User != "" && opts.Password != "" {
		cfg.Username, cfg.Password = opts.User, opts.Password
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		// With credentials, New authenticates within DialTimeout.
		return nil, callError(ctx, "connect", strings.Join(opts.Addrs, ","), opts.DialTimeout, err)
	}
	c := &Client{
		cli:         cli,
		root:        "/sorna/" + opts.Namespace + "/",
		callTimeout: opts.CallTimeout,
		log:         opts.Log.With("component", "etcd"),
	}
	pctx, cancel := context.WithTimeout(ctx, opts.DialTimeout)
	defer cancel()
	if _, err := cli.Get(pctx, c.root+"_", clientv3.WithCountOnly()); err != nil {
		_ = cli.Close()
		return nil, callError(ctx, "connect", strings.Join(opts.Addrs, ","), opts.DialTimeout, err)
	}
	c.log.Info("etcd connected", "endpoints", opts.Addrs, "namespace", opts.Namespace)
	return c, nil
}

// Close ends the connection; watches end with it. Closing again does
// nothing.
func (c *Client) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	if err := c.cli.Close(); err != nil {
		return fmt.Errorf("etcd close: %w", err)
	}
	return nil
}

// FullKey returns the etcd key of a namespace-relative key, as upstream's
// _mangle_key: "/sorna/{namespace}/" then key less one leading '/'.
func (c *Client) FullKey(key string) string {
	return c.root + strings.TrimPrefix(key, "/")
}

// relKey is the reverse of FullKey.
func (c *Client) relKey(full []byte) string {
	return strings.TrimPrefix(string(full), c.root)
}

// call runs f with the call timeout, and turns its failure into this
// package's error, logging when etcd goes away and comes back.
func (c *Client) call(ctx context.Context, op, key string, f func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	err := f(cctx)
	if err == nil {
		if c.down.CompareAndSwap(true, false) {
			c.log.Info("etcd reachable again")
		}
		return nil
	}
	err = callError(ctx, op, key, c.callTimeout, err)
	if errors.Is(err, ErrUnavailable) && c.down.CompareAndSwap(false, true) {
		c.log.Warn("etcd unreachable", "err", err)
	}
	return err
}

// Get returns the value of key; ok is false when it does not exist (a
// value may be empty).
func (c *Client) Get(ctx context.Context, key string) (value string, ok bool, err error) {
	err = c.call(ctx, "get", key, func(ctx context.Context) error {
		resp, err := c.cli.Get(ctx, c.FullKey(key))
		if err != nil {
			return err
		}
		if len(resp.Kvs) > 0 {
			value, ok = string(resp.Kvs[0].Value), true
		}
		return nil
	})
	return value, ok, err
}

// Put sets key to value.
func (c *Client) Put(ctx context.Context, key, value string) error {
	return c.call(ctx, "put", key, func(ctx context.Context) error {
		_, err := c.cli.Put(ctx, c.FullKey(key), value)
		return err
	})
}

// Delete removes key; a missing key is no error.
func (c *Client) Delete(ctx context.Context, key string) error {
	return c.call(ctx, "delete", key, func(ctx context.Context) error {
		_, err := c.cli.Delete(ctx, c.FullKey(key))
		return err
	})
}

// DeletePrefix removes every key that starts with prefix, textually, as
// upstream's delete_prefix ("a/b" also removes "a/bc").
func (c *Client) DeletePrefix(ctx context.Context, prefix string) error {
	return c.call(ctx, "delete prefix", prefix, func(ctx context.Context) error {
		_, err := c.cli.Delete(ctx, c.FullKey(prefix), clientv3.WithPrefix())
		return err
	})
}

// GetPrefix returns the keys under prefix as upstream's get_prefix does
// (see Tree). As upstream, the match is textual: "config/redis" also picks
// up "config/redis2/x", as the entry "2". An empty Tree means no key.
func (c *Client) GetPrefix(ctx context.Context, prefix string) (Tree, error) {
	pairs, _, err := c.getPrefix(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return buildTree(strings.TrimPrefix(prefix, "/"), pairs), nil
}

// getPrefix returns the pairs under prefix and the store's revision.
func (c *Client) getPrefix(ctx context.Context, prefix string) ([]pair, int64, error) {
	var (
		pairs []pair
		rev   int64
	)
	err := c.call(ctx, "get prefix", prefix, func(ctx context.Context) error {
		resp, err := c.cli.Get(ctx, c.FullKey(prefix), clientv3.WithPrefix())
		if err != nil {
			return err
		}
		pairs = make([]pair, len(resp.Kvs))
		for i, kv := range resp.Kvs {
			pairs[i] = pair{c.relKey(kv.Key), string(kv.Value)}
		}
		rev = resp.Header.Revision
		return nil
	})
	return pairs, rev, err
}

// PutDict writes tree under prefix in one transaction, as upstream's
// put_prefix: each map key is quoted and joined with '/', and a "" key
// writes its parent's own value (prefix itself at the top). Leaves must be
// strings. etcd bounds a transaction (128 operations by default).
func (c *Client) PutDict(ctx context.Context, prefix string, tree map[string]any) error {
	flat := map[string]string{}
	if err := flatten(prefix, tree, flat); err != nil {
		return fmt.Errorf("etcd put dict %q: %w", prefix, err)
	}
	return c.putFlat(ctx, "put dict", prefix, flat)
}

// putFlat writes the namespace-relative keys of flat in one transaction.
func (c *Client) putFlat(ctx context.Context, op, what string, flat map[string]string) error {
	ops := make([]clientv3.Op, 0, len(flat))
	for k, v := range flat {
		ops = append(ops, clientv3.OpPut(c.FullKey(k), v))
	}
	return c.call(ctx, op, what, func(ctx context.Context) error {
		_, err := c.cli.Txn(ctx).Then(ops...).Commit()
		return err
	})
}
