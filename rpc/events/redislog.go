package events

import (
	"context"
	"fmt"
	"log/slog"
)

// RedisLogger routes go-redis's own lines (failed dials and other pool
// events, which it writes to stderr by default) to a slog.Logger at Warn.
// go-redis has one logger per process, so only main installs it:
//
//	redis.SetLogger(events.RedisLogger{Log: log})
type RedisLogger struct {
	Log *slog.Logger
}

// Printf logs one go-redis line.
func (l RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.Log.WarnContext(ctx, "redis client", "component", "go-redis", "detail", fmt.Sprintf(format, v...))
}
