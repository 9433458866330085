package events

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"
)

// Container log settings (valkey_container_log/client.py, agent
// config container-logs).
const (
	// ContainerLogTTL is the TTL of a containerlog.{container_id} list,
	// renewed with each push.
	ContainerLogTTL = time.Hour
	// DefaultLogChunkSize is upstream's container-logs.chunk-size (64K).
	DefaultLogChunkSize = 64 << 10
	// logChunksPerRound is how many chunks one pipeline pushes.
	logChunksPerRound = 16
)

// ContainerLogKey is the container-log-role (DB 6) list of a container's
// log chunks.
func ContainerLogKey(containerID string) string { return "containerlog." + containerID }

// PushContainerLog pushes the log read from r to containerlog.{container_id}
// (DB 6) as upstream's collect_logs does: chunks of chunkSize bytes (the
// last one shorter), each RPUSHed as the JSON {"compress_type": "zlib",
// "content": base64(zlib(chunk))} and the list's TTL set to
// ContainerLogTTL, a few chunks a round trip. chunkSize <= 0 means
// DefaultLogChunkSize. It returns the bytes read from r. The caller then
// publishes DoSyncKernelLogs.
func (p *Producer) PushContainerLog(ctx context.Context, containerID string, r io.Reader, chunkSize int) (int64, error) {
	c, err := p.client(RoleContainerLog, "container log")
	if c == nil {
		return 0, err
	}
	if chunkSize <= 0 {
		chunkSize = DefaultLogChunkSize
	}
	key := ContainerLogKey(containerID)
	chunk := make([]byte, chunkSize)
	var (
		total int64
		batch []any
		zbuf  bytes.Buffer
	)
	zw := zlib.NewWriter(&zbuf)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.RPush(ctx, key, batch...)
			pipe.Expire(ctx, key, ContainerLogTTL)
			return nil
		})
		batch = batch[:0]
		if err != nil {
			return fmt.Errorf("push container %s log: %w", containerID, err)
		}
		return nil
	}
	for {
		n, rerr := io.ReadFull(r, chunk)
		total += int64(n)
		if n > 0 {
			item, err := logItem(zw, &zbuf, chunk[:n])
			if err != nil {
				return total, err
			}
			batch = append(batch, item)
			if len(batch) == logChunksPerRound {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return total, flush()
			}
			return total, fmt.Errorf("read container %s log: %w", containerID, rerr)
		}
	}
}

// logItem is upstream's ContainerLogData(ZLIB, chunk).serialize(): Python
// json.dumps of {"compress_type": "zlib", "content": <base64>}, with its
// ", " and ": " separators. zw and zbuf are reused between chunks.
func logItem(zw *zlib.Writer, zbuf *bytes.Buffer, chunk []byte) ([]byte, error) {
	zbuf.Reset()
	zw.Reset(zbuf)
	if _, err := zw.Write(chunk); err != nil {
		return nil, fmt.Errorf("compress log chunk: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress log chunk: %w", err)
	}
	const head, tail = `{"compress_type": "zlib", "content": "`, `"}`
	enc := base64.StdEncoding
	out := make([]byte, len(head), len(head)+enc.EncodedLen(zbuf.Len())+len(tail))
	copy(out, head)
	out = enc.AppendEncode(out, zbuf.Bytes())
	return append(out, tail...), nil
}
