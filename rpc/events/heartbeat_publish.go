package events

import (
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
)

// Heartbeat does what upstream's heartbeat() does each interval: it
// publishes agent_heartbeat for info and stores info.Images under
// installed_image:{agent_id}. Both are tried; the error joins their
// failures. It reuses one zlib compressor between calls, which
// AgentHeartbeat cannot.
func (p *Producer) Heartbeat(ctx context.Context, info AgentInfo) error {
	p.zmu.Lock()
	if p.zlib == nil {
		p.zlib = zlib.NewWriter(io.Discard)
	}
	ev, err := agentHeartbeat(info, p.zlib)
	p.zmu.Unlock()
	if err != nil {
		return err
	}
	errPublish := p.Publish(ctx, ev)
	errImages := p.WriteInstalledImages(ctx, info.Images)
	if err := errors.Join(errPublish, errImages); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}
