package events

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestRedisLogger(t *testing.T) {
	// RedisLogger must fit go-redis's process-wide logger; the test does
	// not install it.
	_ = func() { redis.SetLogger(RedisLogger{}) }
	var buf bytes.Buffer
	l := RedisLogger{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	l.Printf(t.Context(), "redis: failed to dial after %d attempts", 1)
	if !strings.Contains(buf.String(), `level=WARN msg="redis client" component=go-redis detail="redis: failed to dial after 1 attempts"`) {
		t.Errorf("logged %s", buf.String())
	}
}
