package registry

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventType tells a put from a delete.
type EventType string

// Event types, as upstream's WatchEventType names them (lower-cased).
const (
	EventPut    EventType = "put"
	EventDelete EventType = "delete"
)

// Event is one change seen by a watch. Key is namespace-relative. A watch
// that cannot go on (its revision compacted away, the client closed) sends
// one last Event with Err set, then closes its channel.
type Event struct {
	Key   string
	Type  EventType
	Value string
	Err   error
}

// Watch reports the changes of key until ctx ends, when the channel
// closes; a caller that stops reading must end ctx to release the watch. While etcd is away the watch waits; once it is back the watch
// resumes after the last revision it saw, so no change is lost unless it
// was compacted away (then Err).
func (c *Client) Watch(ctx context.Context, key string) <-chan Event {
	return c.watch(ctx, key, 0)
}

// WatchPrefix reports the changes of every key that starts with prefix
// (textually), like Watch.
func (c *Client) WatchPrefix(ctx context.Context, prefix string) <-chan Event {
	return c.watch(ctx, prefix, 0, withPrefix()...)
}

// watch starts a watch on key from revision rev (0: from now).
func (c *Client) watch(ctx context.Context, key string, rev int64, opts ...clientv3.OpOption) <-chan Event {
	out := make(chan Event)
	wctx, cancel := context.WithCancel(ctx)
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	wch := c.cli.Watch(wctx, c.FullKey(key), opts...)
	go func() {
		defer close(out)
		defer cancel()
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if ctx.Err() == nil {
					select {
					case out <- Event{Key: key, Err: fmt.Errorf("etcd watch %q: %w", key, err)}:
					case <-ctx.Done():
					}
				}
				return
			}
			for _, ev := range resp.Events {
				e := Event{Key: c.relKey(ev.Kv.Key), Type: EventPut, Value: string(ev.Kv.Value)}
				if ev.Type == clientv3.EventTypeDelete {
					e.Type = EventDelete
				}
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
		}
		if ctx.Err() == nil {
			select {
			case out <- Event{Key: key, Err: fmt.Errorf("etcd watch %q: ended (client closed)", key)}:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

// withPrefix is the option of a prefix watch.
func withPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }
