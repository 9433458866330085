package events

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys and TTLs of the agent's shared state (valkey_stat, valkey_schedule
// and valkey_image clients of upstream's common/clients/valkey_client).
const (
	// KernelPresenceTTL is the TTL of a kernel:presence:{kernel_id} hash
	// (KERNEL_HEALTH_TTL_SEC); the agent refreshes it every 60 s.
	KernelPresenceTTL = 300 * time.Second
	// ContainerCountTTL is the TTL of container_count.{agent_id}.
	ContainerCountTTL = DefaultStatTTL
)

// KernelPresenceKey is the live-role (DB 2) hash of a kernel's presence.
func KernelPresenceKey(kernelID string) string { return "kernel:presence:" + kernelID }

// ContainerCountKey is the statistics-role (DB 0) key of the agent's
// container count.
func ContainerCountKey(agentID string) string { return "container_count." + agentID }

// InstalledImagesKey is the image-role (DB 3) key of the agent's image
// list.
func InstalledImagesKey(agentID string) string { return "installed_image:" + agentID }

// WriteKernelPresence reports the kernels as present (running), as
// upstream's KernelPresenceObserver does every 60 s: for each, HSET
// kernel:presence:{id} presence "1" last_presence <Redis TIME seconds>
// and EXPIRE 300, in one pipeline after one TIME (DB 2). A kernel that is
// not reported goes stale for the manager.
func (p *Producer) WriteKernelPresence(ctx context.Context, kernelIDs []string) error {
	if len(kernelIDs) == 0 {
		return nil
	}
	c, err := p.client(RoleLive, "kernel presence")
	if c == nil {
		return err
	}
	now, err := c.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("write kernel presence: redis time: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	_, err = c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, id := range kernelIDs {
			key := KernelPresenceKey(id)
			pipe.HSet(ctx, key, "presence", "1", "last_presence", ts)
			pipe.Expire(ctx, key, KernelPresenceTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write presence of %d kernels: %w", len(kernelIDs), err)
	}
	return nil
}

// WriteContainerCount stores the number of the agent's containers under
// container_count.{agent_id} (DB 0) for ContainerCountTTL, as upstream's
// set_agent_container_count after each lifecycle sync.
func (p *Producer) WriteContainerCount(ctx context.Context, n int) error {
	c, err := p.client(RoleStatistics, "container count")
	if c == nil {
		return err
	}
	if err := c.Set(ctx, ContainerCountKey(p.agentID), strconv.Itoa(n), ContainerCountTTL).Err(); err != nil {
		return fmt.Errorf("write container count: %w", err)
	}
	return nil
}

// WriteInstalledImages stores the agent's images under
// installed_image:{agent_id} (DB 3) as JSON [{"canonical", "digest",
// "architecture"}], without a TTL, as upstream's add_agent_installed_images
// after each heartbeat. Like upstream it writes nothing for no images.
func (p *Producer) WriteInstalledImages(ctx context.Context, images []InstalledImage) error {
	if len(images) == 0 {
		return nil
	}
	c, err := p.client(RoleImage, "installed images")
	if c == nil {
		return err
	}
	b, err := installedImagesJSON(images)
	if err != nil {
		return err
	}
	if err := c.Set(ctx, InstalledImagesKey(p.agentID), b, 0).Err(); err != nil {
		return fmt.Errorf("write installed images: %w", err)
	}
	return nil
}

// installedImagesJSON is the list as orjson writes it: compact, fields in
// declared order.
func installedImagesJSON(images []InstalledImage) ([]byte, error) {
	w := jsonWriter{buf: make([]byte, 0, 2+128*len(images))}
	w.buf = append(w.buf, '[')
	for i, img := range images {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		for _, f := range [...]struct{ key, value string }{
			{`{"canonical":`, img.Canonical}, {`,"digest":`, img.Digest}, {`,"architecture":`, img.Architecture},
		} {
			w.buf = append(w.buf, f.key...)
			if err := w.value(f.value); err != nil {
				return nil, fmt.Errorf("encode installed images: %w", err)
			}
		}
		w.buf = append(w.buf, '}')
	}
	return append(w.buf, ']'), nil
}
