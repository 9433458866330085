package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/stats"
)

// presenceInterval is how often kernel:presence:{kid} is refreshed (its
// TTL is five times longer).
const presenceInterval = 60 * time.Second

// Run reports the node until ctx ends: kernel lifecycle events, the
// heartbeat, stats and presence. Kernels that ended while the agent was
// down, or end by themselves, are cleaned and reported self-terminated.
// It returns when ctx ends, after the clean-ups it started.
func (s *Service) Run(ctx context.Context) error {
	evs, unsubscribe := s.o.Kernels.Subscribe()
	defer unsubscribe()
	defer s.bg.Wait()

	for _, st := range s.o.Kernels.List() {
		if st.Status == runtime.StatusExited && !s.isCreating(st.ID) {
			s.selfTerminated(ctx, st.ID, st.Exit)
		}
	}
	s.beat(ctx)
	s.writeStats(ctx)
	s.writePresence(ctx)

	hb := time.NewTicker(s.o.Heartbeat)
	defer hb.Stop()
	node := time.NewTicker(s.o.NodeStatsInterval)
	defer node.Stop()
	presence := time.NewTicker(presenceInterval)
	defer presence.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-evs:
			if !ok {
				return errors.New("runtime event stream closed")
			}
			s.onEvent(ctx, ev)
		case <-hb.C:
			s.beat(ctx)
		case <-node.C:
			s.writeStats(ctx)
		case <-presence.C:
			s.writePresence(ctx)
		}
	}
}

// onEvent turns a runtime event into the manager's view.
func (s *Service) onEvent(ctx context.Context, ev runtime.Event) {
	switch ev.Type {
	case runtime.EventExited:
		s.mu.Lock()
		busy := s.destroying[ev.KernelID] || s.creating[ev.KernelID]
		s.mu.Unlock()
		if !busy {
			s.selfTerminated(ctx, ev.KernelID, ev.Exit)
		}
	case runtime.EventOOM:
		s.log.Warn("kernel OOM-killed", "kernel_id", ev.KernelID)
	case runtime.EventUnaccounted:
		msg := fmt.Sprintf("container %s has no kernel state; left alone", ev.KernelID)
		s.publish(ctx, events.AgentError(msg, ""))
	}
}

// selfTerminated cleans a kernel whose main process ended by itself and
// reports it with its exit code, in the background.
func (s *Service) selfTerminated(ctx context.Context, id string, exit *runtime.Exit) {
	s.mu.Lock()
	if s.destroying[id] {
		s.mu.Unlock()
		return
	}
	s.destroying[id] = true // clean() keeps it set until it is done
	s.mu.Unlock()
	sid := s.sessionOf(id)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx := context.WithoutCancel(ctx)
		ex, err := s.clean(ctx, id, time.Second)
		if err != nil {
			s.log.Error("ended kernel not cleaned", "kernel_id", id, "err", err)
			return
		}
		code := ex.Code
		if exit != nil && !exit.Unknown {
			code = exit.Code
		}
		s.log.Info("kernel ended by itself", "kernel_id", id, "exit_code", code)
		if kid, err := codec.ParseUUID(id); err == nil {
			s.publish(ctx, events.KernelTerminated(kid, sid, events.ReasonSelfTerminated, code))
		}
	}()
}

// Info is the heartbeat's AgentInfo now.
func (s *Service) Info(ctx context.Context) events.AgentInfo {
	capacity := s.o.Capacity()
	var slots codec.ResourceSlot
	var units []events.SlotUnit
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range capacity {
			if !yield(k) {
				return
			}
		}
	}) {
		slots = append(slots, codec.SlotQuantity{Slot: k, Quantity: codec.Decimal(capacity[k])})
		unit := events.SlotCount
		if k == "mem" || strings.HasSuffix(k, ".mem") {
			unit = events.SlotBytes
		}
		units = append(units, events.SlotUnit{Slot: k, Type: unit})
	}
	plugins := map[string]map[string]any{
		"cpu": {"version": s.o.Version, "agent_version": s.o.Version, "machine": s.o.Arch, "os_type": "Linux"},
		"mem": {"version": s.o.Version},
	}
	if s.o.GPUs != nil {
		cuda := map[string]any{"version": s.o.Version}
		for k, v := range s.o.GPUs.PluginInfo() {
			cuda[k] = v
		}
		plugins["cuda"] = cuda
	}
	return events.AgentInfo{
		IP: s.o.Host, Region: s.o.Region, ScalingGroup: s.o.ScalingGroup, Addr: s.o.Addr,
		PublicKey: s.o.PublicKey, PublicHost: s.o.PublicHost,
		AvailableSlots: slots, SlotUnits: units, Version: s.o.Version,
		ComputePlugins: plugins,
		Images:         s.installedImages(ctx),
		Architecture:   s.o.Arch,
	}
}

// beat sends one heartbeat and the installed images.
func (s *Service) beat(ctx context.Context) {
	info := s.Info(ctx)
	if err := s.o.Publisher.Heartbeat(ctx, info); err != nil {
		s.log.Warn("heartbeat not sent", "err", err)
	}
	if err := s.o.Publisher.WriteInstalledImages(ctx, info.Images); err != nil {
		s.log.Debug("installed images not written", "err", err)
	}
}

func (s *Service) installedImages(ctx context.Context) []events.InstalledImage {
	imgs, err := s.o.Images.List(ctx)
	if err != nil {
		s.log.Warn("images not listed", "err", err)
		return nil
	}
	var out []events.InstalledImage
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			out = append(out, events.InstalledImage{Canonical: tag, Digest: img.ID, Architecture: archName(img.Architecture)})
		}
	}
	return out
}

// archName is upstream's name of a GOARCH-style architecture.
func archName(a string) string {
	switch a {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return a
}

// writeStats writes the node's and the kernels' metrics.
func (s *Service) writeStats(ctx context.Context) {
	if s.o.Stats == nil {
		return
	}
	if err := s.o.Publisher.WriteNodeStats(ctx, s.o.Stats.Node(), s.o.NodeStatsInterval); err != nil {
		s.log.Debug("node stats not written", "err", err)
	}
	ids := s.o.Stats.KernelIDs()
	if len(ids) == 0 {
		return
	}
	kernels := make(map[string]map[string]stats.MetricValue, len(ids))
	for _, id := range ids {
		if m, ok := s.o.Stats.Kernel(id); ok {
			kernels[id] = m
		}
	}
	if err := s.o.Publisher.WriteKernelStats(ctx, kernels); err != nil {
		s.log.Debug("kernel stats not written", "err", err)
	}
}

// writePresence marks the running kernels present.
func (s *Service) writePresence(ctx context.Context) {
	var ids []string
	for _, st := range s.o.Kernels.List() {
		if st.Status == runtime.StatusRunning {
			ids = append(ids, st.ID)
		}
	}
	if err := s.o.Publisher.WriteKernelPresence(ctx, ids); err != nil {
		s.log.Debug("kernel presence not written", "err", err)
	}
	s.countContainers(ctx)
}

// Started emits agent_started(self-started) once the agent serves.
func (s *Service) Started(ctx context.Context) {
	s.publish(ctx, events.AgentStarted(events.AgentReasonSelfStarted))
}

// Terminated emits agent_terminated(shutdown); kernels keep running.
func (s *Service) Terminated(ctx context.Context) {
	s.publish(ctx, events.AgentTerminated(events.AgentReasonShutdown))
}
