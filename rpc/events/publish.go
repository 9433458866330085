package events

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Upstream's event bus names and limits (agent.py _make_message_queue,
// valkey_stream/client.py).
const (
	// StreamKey is the anycast stream.
	StreamKey = "events"
	// BroadcastChannel is the broadcast pub/sub channel.
	BroadcastChannel = "events_all"
	// StreamMaxLen is the approximate bound of the stream (XADD MAXLEN ~).
	StreamMaxLen = 128
	// BroadcastCacheTTL is how long a cached broadcast stays.
	BroadcastCacheTTL = 300 * time.Second
)

// metadata is upstream's MessageMetadata with no request or user in
// context, which is what the agent's own events carry.
const metadata = `{"request_id":null,"user":null,"triggered_user":null}`

// message is an event ready for Redis.
type message struct {
	stream    []any  // XADD field-value pairs, in order
	broadcast []byte // the JSON published on the channel
}

// Publish sends ev: XADD to the stream for Anycast, PUBLISH (and SET for
// a cached one) for Broadcast, all in one round trip. With no Redis for
// the stream role it returns nil and drops ev (see New); an event that
// does not encode is ErrInvalidEvent.
func (p *Producer) Publish(ctx context.Context, ev Event) error {
	msg, err := p.message(ev)
	if err != nil {
		return err
	}
	c, err := p.client(RoleStream, "event "+ev.Name)
	if c == nil {
		return err
	}
	_, err = c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		if ev.Delivery&Anycast != 0 {
			pipe.XAdd(ctx, &redis.XAddArgs{
				Stream: StreamKey,
				MaxLen: StreamMaxLen,
				Approx: true,
				Values: msg.stream,
			})
		}
		if ev.Delivery&Broadcast != 0 {
			if ev.CacheID != "" {
				pipe.Set(ctx, ev.CacheID, msg.broadcast, BroadcastCacheTTL)
			}
			pipe.Publish(ctx, BroadcastChannel, msg.broadcast)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish event %s: %w", ev.Name, err)
	}
	return nil
}

// message encodes ev for the producer's wire format: upstream's
// MessagePayload.serialize_anycast and serialize_broadcast (26.8), or
// AnycastMessagePayload.to_stream_fields and BroadcastMessagePayload.to_json
// (main).
func (p *Producer) message(ev Event) (message, error) {
	if ev.Name == "" || ev.Delivery&(Anycast|Broadcast) == 0 {
		return message{}, fmt.Errorf("%w: name %q, delivery %d", ErrInvalidEvent, ev.Name, ev.Delivery)
	}
	body, err := ev.body(p.format)
	if err != nil {
		return message{}, err
	}
	bodyField := "args"
	bodyText := string(body)
	if p.format == WireJSON {
		bodyField = "payload"
	} else {
		bodyText = base64.StdEncoding.EncodeToString(body)
	}
	var msg message
	if ev.Delivery&Anycast != 0 {
		msg.stream = []any{
			"name", ev.Name,
			"source", p.agentID,
			bodyField, body,
			"metadata", metadata,
		}
	}
	if ev.Delivery&Broadcast != 0 {
		fields := []Field{
			{"name", ev.Name},
			{"source", p.agentID},
			{bodyField, bodyText},
			{"metadata", metadata},
		}
		b, err := jsonObject(fields)
		if err != nil {
			return message{}, err
		}
		msg.broadcast = b
	}
	return msg, nil
}
