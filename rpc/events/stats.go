package events

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/baiagent/agent/stats"
)

// TTLs of the stats keys (agent/stats.py, valkey_stat/client.py).
const (
	// MetricTTLFactor times the collection interval is the TTL of the
	// node stats key (upstream's _METRIC_TTL_FACTOR).
	MetricTTLFactor = 4
	// DefaultStatTTL is the TTL of keys upstream writes without one of
	// their own: kernel stats and container_count (_DEFAULT_EXPIRATION).
	DefaultStatTTL = 24 * time.Hour
)

// MetricTTL is the TTL of stats collected every interval: the whole
// seconds of MetricTTLFactor × interval, as upstream's int(); a result
// under one second is one second.
func MetricTTL(interval time.Duration) time.Duration {
	ttl := (MetricTTLFactor * interval).Truncate(time.Second)
	return max(ttl, time.Second)
}

// WriteNodeStats stores ns under the agent id (DB 0), the key the manager
// reads the node's utilization from: msgpack of {"node": {metric:
// MetricValue}, "devices": {metric: {device: MetricValue}}}, expiring
// after MetricTTL(interval), interval being the node collection interval.
func (p *Producer) WriteNodeStats(ctx context.Context, ns stats.NodeStats, interval time.Duration) error {
	c, err := p.client(RoleStatistics, "node stats")
	if c == nil {
		return err
	}
	enc := metricEncoder{buf: p.buffer()}
	defer func() { p.release(enc.buf) }()
	if err := enc.nodeStats(ns); err != nil {
		return fmt.Errorf("encode node stats: %w", err)
	}
	if err := c.Set(ctx, p.agentID, enc.buf, MetricTTL(interval)).Err(); err != nil {
		return fmt.Errorf("write node stats: %w", err)
	}
	return nil
}

// WriteKernelStats stores each kernel's metrics under its id (DB 0), in
// one pipeline: msgpack of {metric: MetricValue}, expiring after
// DefaultStatTTL as upstream's set_multiple_keys. Keys are the kernel ids
// as given (the canonical UUID text).
func (p *Producer) WriteKernelStats(ctx context.Context, kernels map[string]map[string]stats.MetricValue) error {
	if len(kernels) == 0 {
		return nil
	}
	c, err := p.client(RoleStatistics, "kernel stats")
	if c == nil {
		return err
	}
	// All values share one buffer; ends[i] is where kernel i's ends.
	ids := sortedKeys(kernels)
	ends := make([]int, len(ids))
	enc := metricEncoder{buf: p.buffer()}
	defer func() { p.release(enc.buf) }()
	for i, id := range ids {
		if err := enc.metricMap(kernels[id]); err != nil {
			return fmt.Errorf("encode kernel %s stats: %w", id, err)
		}
		ends[i] = len(enc.buf)
	}
	_, err = c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		start := 0
		for i, id := range ids {
			pipe.Set(ctx, id, enc.buf[start:ends[i]], DefaultStatTTL)
			start = ends[i]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write stats of %d kernels: %w", len(ids), err)
	}
	return nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// buffer returns an empty buffer for encoding, from the pool if it has
// one; release gives it back.
func (p *Producer) buffer() []byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 64<<10)
}

// release returns b to the pool once the call that encoded into it is
// done with it (go-redis has written it out when Pipelined or Set
// returns). Buffers over 4 MiB are left to the collector.
func (p *Producer) release(b []byte) {
	if cap(b) > 4<<20 {
		return
	}
	p.bufs.Put(&b)
}
