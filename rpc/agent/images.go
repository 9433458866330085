package agent

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/runtime/image"
)

// pullTimeout bounds one background pull (upstream's image pull timeout
// is configurable; an hour suits the largest images on slow links).
const pullTimeout = time.Hour

// checkAndPull is check_and_pull(image_configs): one background task per
// image decides whether to pull and pulls, with image_pull_* and bgtask_*
// events; the result maps each image name to its task id (hex).
func (s *Service) checkAndPull(ctx context.Context, c codec.Call) (any, error) {
	cfgs, err := c.Map(0, "image_configs")
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(cfgs)) {
		m, ok := cfgs[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: image_configs[%s] is a %s, want a dict", codec.ErrArgument, name, codec.TypeName(cfgs[name]))
		}
		ic, err := parseImageConfig(m)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		task := newTaskID()
		s.mu.Lock()
		if running, ok := s.pulls[ic.canonical]; ok {
			task = running
			s.mu.Unlock()
			out[name] = hex(task)
			continue
		}
		s.pulls[ic.canonical] = task
		s.mu.Unlock()
		out[name] = hex(task)
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.pullTask(context.WithoutCancel(ctx), task, ic)
		}()
	}
	return out, nil
}

// pullTask is one check_and_pull task.
func (s *Service) pullTask(ctx context.Context, task codec.UUID, ic imageConfig) {
	defer func() {
		s.mu.Lock()
		delete(s.pulls, ic.canonical)
		s.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	ref := ic.ref
	need, err := s.o.Images.NeedsPull(ctx, ic.canonical, ic.digest, ic.autoPull, ic.isLocal)
	if err != nil {
		s.publish(ctx, events.ImagePullFailed(s.o.AgentID, ic.canonical, ref, err.Error()))
		s.publish(ctx, events.BgtaskFailed(task, err.Error()))
		return
	}
	if !need {
		s.publish(ctx, events.ImagePullFinished(s.o.AgentID, ic.canonical, ref, s.o.now(), events.MsgImageAlreadyExists))
		s.publish(ctx, events.BgtaskDone(task, events.MsgImageAlreadyExists))
		return
	}
	s.publish(ctx, events.ImagePullStarted(s.o.AgentID, ic.canonical, ref, s.o.now()))
	opts := s.o.Registries[ic.registry]
	var mu sync.Mutex
	layers := map[string]bool{}
	last := time.Time{}
	opts.Progress = func(p image.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Done {
			layers[p.Layer] = true
		}
		if now := time.Now(); now.Sub(last) >= time.Second || p.Done {
			last = now
			s.publish(ctx, events.BgtaskUpdated(task, float64(len(layers)), 0, "pulling "+ic.canonical))
		}
	}
	if _, err := s.o.Images.Pull(ctx, ic.canonical, opts); err != nil {
		s.log.Warn("image pull failed", "image", ic.canonical, "err", err)
		s.publish(ctx, events.ImagePullFailed(s.o.AgentID, ic.canonical, ref, err.Error()))
		s.publish(ctx, events.BgtaskFailed(task, err.Error()))
		return
	}
	s.log.Info("image pulled", "image", ic.canonical)
	s.publish(ctx, events.ImagePullFinished(s.o.AgentID, ic.canonical, ref, s.o.now(), ""))
	s.publish(ctx, events.BgtaskDone(task, "pulled "+ic.canonical))
}

// checkPulling is check_pulling(image_name).
func (s *Service) checkPulling(_ context.Context, c codec.Call) (any, error) {
	name, err := c.String(0, "image_name")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	_, ok := s.pulls[name]
	s.mu.Unlock()
	return ok, nil
}

// newTaskID is a random (version 4) UUID.
func newTaskID() codec.UUID {
	var u codec.UUID
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// hex is uuid.hex: 32 lower-case hex digits.
func hex(u codec.UUID) string { return fmt.Sprintf("%x", u[:]) }
