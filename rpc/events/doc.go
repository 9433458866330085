// Package events is the agent's side of Backend.AI's event bus and shared
// Redis state: what upstream's agent writes to Redis for the manager.
//
// # Event bus
//
// A Producer publishes an Event the way upstream's EventProducer over its
// RedisQueue does (common/events/dispatcher.py,
// common/message_queue/redis_queue, clients/valkey_client/valkey_stream):
//
//   - anycast: XADD to the stream "events" (stream role, DB 4) with
//     MAXLEN ~ 128, fields name, source (the agent id), args (26.8) or
//     payload (newer), and metadata (JSON of request_id, user and
//     triggered_user, all null here). One manager consumes each entry.
//   - broadcast: PUBLISH on the channel "events_all" of a JSON object with
//     the same fields, args base64-encoded; a cached broadcast (bgtask)
//     also SETs that JSON under its cache id for 300 s.
//
// The body has two wire formats. WireMsgpack26 ("msgpack-26.8", the
// default) is the tuple each upstream event class's serialize() returns,
// packed by the Backend.AI msgpack codec, enums, ResourceSlot and friends
// as pickled ext types. WireJSON ("json") is the pydantic JSON of the
// event's fields that upstream main uses since BA-7315. The Event
// constructors (AgentStarted, KernelTerminated, ImagePullFinished, ...)
// fill in both, with upstream's names, argument order and types.
//
// Producer.Heartbeat sends agent_heartbeat and writes the installed
// images, as upstream's heartbeat() does every 20 s.
//
// # Shared state
//
// The Producer also writes the keys the manager reads: node stats under
// the agent id and kernel stats under each kernel id (stats role, DB 0,
// msgpack of MetricValue maps), container_count.{agent_id} (DB 0),
// kernel:presence:{kernel_id} hashes (live role, DB 2),
// installed_image:{agent_id} (image role, DB 3) and
// containerlog.{container_id} lists (container_log role, DB 6). Writes of
// many keys go in one pipeline.
//
// # Failure
//
// Every call is synchronous and returns Redis's error; nothing is queued
// or retried beyond go-redis's own retries (a few, with a short backoff)
// and its redialing of a lost server, so a call made while Redis is away
// fails within a fraction of a second (connection refused) or the dial
// timeout (unreachable host), and calls succeed again within about a
// second of Redis's return (go-redis probes a lost server once a second).
// What to do with a failed event is the caller's choice: upstream's agent
// logs and drops it, and so may ours. With no Redis configured for a role
// the Producer drops what is meant for it, logging one warning. go-redis
// reports failed dials on its own process-wide logger; main may route it
// to slog with RedisLogger.
package events
