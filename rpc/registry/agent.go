package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultRefreshInterval is how often KeepRegistered checks the
// registration when AgentOptions leave it 0.
const DefaultRefreshInterval = 5 * time.Second

// AgentOptions configure an Agent.
type AgentOptions struct {
	// ID is the agent's id (agent.id, or the one detected at start); it
	// names the node scope nodes/agents/{ID}. Upstream does not quote it,
	// so it may not hold a '/'.
	ID string
	// SkipManagerDetection is agent.skip-manager-detection: WaitForManager
	// returns at once.
	SkipManagerDetection bool
	// RefreshInterval is how often KeepRegistered checks the registration;
	// 0 means DefaultRefreshInterval.
	RefreshInterval time.Duration
}

// Agent is the etcd view of one agent: merged reads over its node scope
// and the global keys, and its registration. It is safe for concurrent
// use.
type Agent struct {
	c           *Client
	id          string
	node        string // "nodes/agents/{id}/", upstream's _slash(NODE prefix)
	skipManager bool
	refresh     time.Duration
	log         *slog.Logger

	// mu serializes the registration's writes and guards reg.
	mu  sync.Mutex
	reg *registration // nil until Register and after Deregister
}

// NewAgent returns the view of agent opts.ID over c.
func NewAgent(c *Client, opts AgentOptions) (*Agent, error) {
	var errs []error
	if opts.ID == "" {
		errs = append(errs, errors.New("empty agent id"))
	}
	if strings.Contains(opts.ID, "/") {
		errs = append(errs, fmt.Errorf("agent id %q holds a '/'", opts.ID))
	}
	if opts.RefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("refresh interval %s is negative", opts.RefreshInterval))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("etcd agent options: %w", err)
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	return &Agent{
		c:           c,
		id:          opts.ID,
		node:        StatusKey(opts.ID),
		skipManager: opts.SkipManagerDetection,
		refresh:     opts.RefreshInterval,
		log:         c.log.With("agent_id", opts.ID),
	}, nil
}

// Get returns key from the node scope if it is there, else the global key
// (upstream's MERGED scope for an agent).
func (a *Agent) Get(ctx context.Context, key string) (value string, ok bool, err error) {
	res, err := a.read(ctx, "get", key, []query{{key: key, merged: true}})
	if err != nil {
		return "", false, err
	}
	value, ok = res[0].value()
	return value, ok, nil
}

// GetPrefix returns the Tree under prefix in the node scope laid over the
// global one (upstream's ChainMap: a top-level entry of the node's hides
// the global entry of the same name; no deeper merge).
func (a *Agent) GetPrefix(ctx context.Context, prefix string) (Tree, error) {
	res, err := a.read(ctx, "get prefix", prefix, []query{{key: prefix, prefix: true, merged: true}})
	if err != nil {
		return nil, err
	}
	return res[0].tree, nil
}

// query is one read of a batch: a key or a prefix, in the global scope or
// merged with the node scope.
type query struct {
	key            string
	prefix, merged bool
}

// result is a query's answer: pairs for a key (node's first, when
// merged), the Tree for a prefix.
type result struct {
	pairs []pair
	tree  Tree
}

// value returns the first pair's value: the node's over the global one.
func (r result) value() (string, bool) {
	if len(r.pairs) == 0 {
		return "", false
	}
	return r.pairs[0].value, true
}

// read runs the queries in one transaction, so that they see one revision,
// and returns their results in order and the revision.
func (a *Agent) read(ctx context.Context, op, what string, qs []query) ([]result, error) {
	res, _, err := a.readRev(ctx, op, what, qs)
	return res, err
}

func (a *Agent) readRev(ctx context.Context, op, what string, qs []query) ([]result, int64, error) {
	type rng struct {
		q    int
		key  string // namespace-relative
		node bool
	}
	var (
		rngs []rng
		ops  []clientv3.Op
	)
	for i, q := range qs {
		keys := []rng{{i, strings.TrimPrefix(q.key, "/"), false}}
		if q.merged {
			keys = append([]rng{{i, a.node + strings.TrimPrefix(q.key, "/"), true}}, keys...)
		}
		for _, k := range keys {
			var opts []clientv3.OpOption
			if q.prefix {
				opts = append(opts, clientv3.WithPrefix())
			}
			rngs = append(rngs, k)
			ops = append(ops, clientv3.OpGet(a.c.FullKey(k.key), opts...))
		}
	}
	var resp *clientv3.TxnResponse
	err := a.c.call(ctx, op, what, func(ctx context.Context) error {
		var err error
		resp, err = a.c.cli.Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]result, len(qs))
	nodeTrees := make([]Tree, len(qs))
	for i, r := range rngs {
		var pairs []pair
		for _, kv := range resp.Responses[i].GetResponseRange().GetKvs() {
			pairs = append(pairs, pair{a.c.relKey(kv.Key), string(kv.Value)})
		}
		q := qs[r.q]
		switch {
		case !q.prefix:
			out[r.q].pairs = append(out[r.q].pairs, pairs...)
		case r.node:
			nodeTrees[r.q] = buildTree(r.key, pairs)
		default:
			out[r.q].tree = overlay(nodeTrees[r.q], buildTree(r.key, pairs))
		}
	}
	return out, resp.Header.Revision, nil
}
