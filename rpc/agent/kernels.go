package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/spec"
)

// maxLogBytes bounds what get_logs returns (the tail of the log).
const maxLogBytes = 4 << 20

// createKernels is create_kernels(session_id, kernel_ids, configs,
// cluster_info, kernel_image_refs): every kernel is created concurrently
// (the runtime bounds the parallelism); the result is one creation info
// dict per kernel, in order. One failure is raised as it is; the kernels
// that did start stay, as upstream's (the manager destroys the session).
func (s *Service) createKernels(ctx context.Context, c codec.Call) (any, error) {
	sessionID, err := sessionArg(c)
	if err != nil {
		return nil, err
	}
	ids, err := c.List(1, "kernel_ids")
	if err != nil {
		return nil, err
	}
	cfgs, err := c.List(2, "configs")
	if err != nil {
		return nil, err
	}
	if len(ids) != len(cfgs) {
		return nil, fmt.Errorf("%w: %d kernel ids but %d configs", codec.ErrArgument, len(ids), len(cfgs))
	}
	cluster := map[string]any{}
	if c.Has(3, "cluster_info") {
		if cluster, err = c.Map(3, "cluster_info"); err != nil {
			return nil, err
		}
	}
	kcs := make([]kernelConfig, len(ids))
	for i := range ids {
		id, ok := ids[i].(string)
		if !ok {
			if u, isUUID := ids[i].(codec.UUID); isUUID {
				id, ok = u.String(), true
			}
		}
		cfg, isMap := cfgs[i].(map[string]any)
		if !ok || !isMap {
			return nil, fmt.Errorf("%w: kernel %d: want a str id and a dict config", codec.ErrArgument, i)
		}
		if kcs[i], err = parseKernelConfig(cfg, cluster, sessionID, id, parseOptions{networking: s.o.Networking, kernelUID: s.o.KernelUID, kernelGID: s.o.KernelGID}); err != nil {
			return nil, fmt.Errorf("kernel %s: %w", id, err)
		}
	}
	results := make([]any, len(kcs))
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	for i := range kcs {
		g.Go(func() error {
			info, err := s.createKernel(gctx, kcs[i])
			results[i] = info
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

// createKernel runs one kernel's creation with its events; a failure is
// reported as kernel_terminated(failed-to-start) too.
func (s *Service) createKernel(ctx context.Context, kc kernelConfig) (map[string]any, error) {
	id := kc.req.ID
	s.mu.Lock()
	if s.creating[id] {
		s.mu.Unlock()
		return nil, fmt.Errorf("kernel %s: %w: already being created", id, runtime.ErrAlreadyExists)
	}
	s.creating[id] = true
	s.sessions[id] = kc.sessionID
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.creating, id)
		s.mu.Unlock()
	}()

	s.publish(ctx, events.KernelPreparing(kc.kernelID, kc.sessionID))
	if err := s.ensureImage(ctx, kc); err != nil {
		s.createFailed(ctx, kc, err)
		return nil, err
	}
	if len(kc.image.labels) == 0 {
		if img, err := s.o.Images.Get(ctx, kc.req.Image); err == nil {
			if err := kc.relabel(img.Config.Labels); err != nil {
				s.createFailed(ctx, kc, err)
				return nil, err
			}
		}
	}
	s.publish(ctx, events.KernelCreating(kc.kernelID, kc.sessionID))
	if s.useRunner(kc) {
		kc.req.Runner = &runtime.Runner{RuntimeType: kc.image.labels["ai.backend.runtime-type"]}
		kc.req.Args = nil
		kc.addIntrinsicServices()
	}
	st, err := s.o.Kernels.Create(ctx, kc.req)
	if err != nil {
		s.createFailed(ctx, kc, err)
		if errors.Is(err, errInsufficient) {
			s.publish(ctx, events.DoAgentResourceCheck(s.o.AgentID))
		}
		return nil, err
	}
	if kc.req.Runner != nil {
		if err := s.waitRunner(ctx, id); err != nil {
			s.dropRunner(id)
			if _, derr := s.o.Kernels.Destroy(context.WithoutCancel(ctx), id, time.Second); derr != nil {
				s.log.Error("kernel whose runner never answered not destroyed", "kernel_id", id, "err", derr)
			}
			s.createFailed(ctx, kc, err)
			return nil, err
		}
	}
	info := s.creationInfo(st)
	s.mu.Lock()
	s.started[id] = s.o.now()
	s.results[id] = info
	s.mu.Unlock()
	started := make(map[string]any, len(info))
	for k, v := range info {
		started[k] = v
	}
	s.publish(ctx, events.KernelStarted(kc.kernelID, kc.sessionID, id, started))
	s.log.Info("kernel started", "kernel_id", id, "session_id", kc.sessionID.String(), "image", kc.image.canonical)
	s.writePresence(ctx)
	return info, nil
}

func (s *Service) createFailed(ctx context.Context, kc kernelConfig, err error) {
	s.log.Warn("kernel creation failed", "kernel_id", kc.req.ID, "err", err)
	s.mu.Lock()
	delete(s.sessions, kc.req.ID)
	s.mu.Unlock()
	s.publish(ctx, events.KernelTerminated(kc.kernelID, kc.sessionID, events.ReasonFailedToStart, -1))
}

// ensureImage pulls the kernel's image when the manager's policy says so.
func (s *Service) ensureImage(ctx context.Context, kc kernelConfig) error {
	ic := kc.image
	need, err := s.o.Images.NeedsPull(ctx, ic.canonical, ic.digest, ic.autoPull, ic.isLocal)
	if err != nil {
		return err
	}
	if !need {
		return nil
	}
	s.publish(ctx, events.KernelPulling(kc.kernelID, kc.sessionID, ic.canonical))
	_, err = s.o.Images.Pull(ctx, ic.canonical, s.o.Registries[ic.registry])
	return err
}

// creationInfo is create_kernels' result for one kernel (and, up to
// 26.8, kernel_started's creation_info).
func (s *Service) creationInfo(st runtime.State) map[string]any {
	host := s.o.Host
	if st.Net.Mode == runtime.NetBridge && host == "" {
		host = st.Net.IP
	}
	replIn, replOut := 0, 0
	hostPort := map[int]int{}
	for _, b := range st.Net.Bindings {
		switch b.ContainerPort {
		case runtime.ReplInPort:
			replIn = b.HostPort
		case runtime.ReplOutPort:
			replOut = b.HostPort
		default:
			hostPort[b.ContainerPort] = b.HostPort
		}
	}
	// Named as the image's label names them; the rest are preopen ports,
	// named by number as upstream does. On the host's network a port is
	// its own host port, and a runner kernel's sshd and ttyd have the
	// intrinsic ports the runtime gave it.
	hostNet := st.Net.Mode == runtime.NetHost
	servicePorts := []any{}
	named := map[int]bool{}
	for _, sp := range kernelServices(st) {
		cports, hports := make([]any, 0, len(sp.ports)), make([]any, 0, len(sp.ports))
		for _, p := range sp.ports {
			named[p] = true
			cports = append(cports, p)
			if h, ok := hostPort[p]; ok {
				hports = append(hports, h)
			} else if hostNet {
				hports = append(hports, p)
			} else {
				hports = append(hports, nil)
			}
		}
		servicePorts = append(servicePorts, map[string]any{
			"name": sp.name, "protocol": sp.protocol, "container_ports": cports, "host_ports": hports, "is_inference": false,
		})
	}
	for _, b := range st.Net.Bindings {
		if b.ContainerPort == runtime.ReplInPort || b.ContainerPort == runtime.ReplOutPort || named[b.ContainerPort] {
			continue
		}
		servicePorts = append(servicePorts, map[string]any{
			"name":            strconv.Itoa(b.ContainerPort),
			"protocol":        "preopen",
			"container_ports": []any{b.ContainerPort},
			"host_ports":      []any{b.HostPort},
			"is_inference":    false,
		})
	}
	slots := map[string]any{}
	for k, v := range st.Allocation.Slots {
		slots[k] = v
	}
	return map[string]any{
		"id":               st.ID,
		"kernel_host":      host,
		"repl_in_port":     replIn,
		"repl_out_port":    replOut,
		"stdin_port":       0,
		"stdout_port":      0,
		"service_ports":    servicePorts,
		"container_id":     st.ID,
		"resource_spec":    map[string]any{"slots": slots, "mounts": []any{}, "scratch_disk_size": 0},
		"attached_devices": s.attached(st),
		"agent_addr":       s.o.Addr,
		"scaling_group":    s.o.ScalingGroup,
	}
}

// attached is creation info's attached_devices: {"cuda": [...]} for a
// kernel with GPUs, as upstream's CUDA plugin fills it.
func (s *Service) attached(st runtime.State) map[string]any {
	if s.o.GPUs == nil || len(st.Allocation.Devices) == 0 {
		return map[string]any{}
	}
	return map[string]any{"cuda": s.o.GPUs.Attached(st.Allocation.Devices)}
}

// destroyKernel is destroy_kernel(kernel_id, session_id, reason,
// suppress_events=False): the kernel is stopped and cleaned, its log
// pushed to Redis, and kernel_terminated emitted with the reason. A
// kernel this agent does not have is reported already-terminated, as
// upstream does.
func (s *Service) destroyKernel(ctx context.Context, c codec.Call) (any, error) {
	id, err := c.String(0, "kernel_id")
	if err != nil {
		return nil, err
	}
	kid, err := parseUUID(id, "kernel id")
	if err != nil {
		return nil, err
	}
	sid := s.sessionOf(id)
	if c.Has(1, "session_id") {
		ss, err := c.String(1, "session_id")
		if err != nil {
			return nil, err
		}
		if sid, err = parseUUID(ss, "session id"); err != nil {
			return nil, err
		}
	}
	reason := events.ReasonUserRequested
	if v, ok, err := c.Lookup(2, "reason"); err != nil {
		return nil, err
	} else if ok && v != nil {
		r, known := events.KernelReasonOf(v)
		if !known {
			return nil, fmt.Errorf("%w: reason: %v is not a KernelLifecycleEventReason", codec.ErrArgument, v)
		}
		reason = r
	}
	suppress := false
	if c.Has(3, "suppress_events") {
		if suppress, err = c.Bool(3, "suppress_events"); err != nil {
			return nil, err
		}
	}
	exit, err := s.clean(ctx, id, s.o.StopTimeout)
	if errors.Is(err, runtime.ErrNotFound) {
		s.log.Warn("destroy_kernel: kernel missing (already dead?)", "kernel_id", id)
		if !suppress {
			s.publish(ctx, events.KernelTerminated(kid, sid, events.ReasonAlreadyTerminated, -1))
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !suppress {
		s.publish(ctx, events.KernelTerminated(kid, sid, reason, exit.Code))
	}
	return nil, nil
}

// clean destroys a kernel and pushes its log to Redis. The log is opened
// before the destroy removes the file, so the push reads it all.
func (s *Service) clean(ctx context.Context, id string, grace time.Duration) (runtime.Exit, error) {
	s.mu.Lock()
	s.destroying[id] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.destroying, id)
		delete(s.started, id)
		delete(s.results, id)
		delete(s.sessions, id)
		s.mu.Unlock()
	}()
	ctx = context.WithoutCancel(ctx)
	s.dropRunner(id)
	logs, lerr := s.o.Kernels.Logs(id)
	exit, err := s.o.Kernels.Destroy(ctx, id, grace)
	if err != nil {
		if lerr == nil {
			logs.Close()
		}
		return exit, err
	}
	if lerr == nil {
		s.pushLogs(ctx, id, logs)
	}
	s.countContainers(ctx)
	return exit, nil
}

// pushLogs sends a cleaned kernel's log to Redis and asks the manager to
// collect it (do_sync_kernel_logs).
func (s *Service) pushLogs(ctx context.Context, id string, logs io.ReadCloser) {
	defer logs.Close()
	n, err := s.o.Publisher.PushContainerLog(ctx, id, logs, s.o.LogChunkSize)
	if err != nil {
		s.log.Warn("container log not pushed", "kernel_id", id, "err", err)
		return
	}
	if kid, err := codec.ParseUUID(id); err == nil && n > 0 {
		s.publish(ctx, events.DoSyncKernelLogs(kid, id))
	}
}

// restartKernel is restart_kernel(session_id, kernel_id, kernel_image,
// updated_config): the kernel's processes start again with the same
// scratch and allocation.
func (s *Service) restartKernel(ctx context.Context, c codec.Call) (any, error) {
	id, err := c.String(1, "kernel_id")
	if err != nil {
		return nil, err
	}
	if err := s.o.Kernels.Restart(ctx, id, s.o.StopTimeout); err != nil {
		return nil, err
	}
	st, err := s.o.Kernels.Get(id)
	if err != nil {
		return nil, err
	}
	info := s.creationInfo(st)
	out := map[string]any{}
	for _, k := range []string{"container_id", "repl_in_port", "repl_out_port", "stdin_port", "stdout_port", "service_ports"} {
		out[k] = info[k]
	}
	return out, nil
}

func (s *Service) checkRunning(_ context.Context, c codec.Call) (any, error) {
	id, err := c.String(0, "kernel_id")
	if err != nil {
		return nil, err
	}
	st, err := s.o.Kernels.Get(id)
	return err == nil && st.Status == runtime.StatusRunning, nil
}

func (s *Service) checkCreating(_ context.Context, c codec.Call) (any, error) {
	id, err := c.String(0, "kernel_id")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	creating := s.creating[id]
	s.mu.Unlock()
	if creating {
		return true, nil
	}
	_, err = s.o.Kernels.Get(id)
	return err == nil, nil
}

// syncKernelRegistry is sync_kernel_registry([(kernel_id, session_id)]):
// kernels the manager lists that are not here are reported
// already-terminated; kernels here that the manager does not list are
// destroyed (reason not-found-in-manager, logged).
func (s *Service) syncKernelRegistry(ctx context.Context, c codec.Call) (any, error) {
	pairs, err := c.List(0, "raw_kernel_session_ids")
	if err != nil {
		return nil, err
	}
	listed := map[string]bool{}
	for i, p := range pairs {
		pair, ok := p.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("%w: item %d is not a (kernel_id, session_id) pair", codec.ErrArgument, i)
		}
		kid, ok1 := pair[0].(string)
		sid, ok2 := pair[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: item %d: want two str ids", codec.ErrArgument, i)
		}
		listed[kid] = true
		if _, err := s.o.Kernels.Get(kid); errors.Is(err, runtime.ErrNotFound) {
			ku, err1 := parseUUID(kid, "kernel id")
			su, err2 := parseUUID(sid, "session id")
			if err1 != nil || err2 != nil {
				return nil, errors.Join(err1, err2)
			}
			s.publish(ctx, events.KernelTerminated(ku, su, events.ReasonAlreadyTerminated, -1))
		}
	}
	for _, st := range s.o.Kernels.List() {
		if listed[st.ID] || s.isCreating(st.ID) {
			continue
		}
		s.log.Warn("destroying a kernel the manager does not know", "kernel_id", st.ID, "reason", events.ReasonNotFoundInManager)
		if _, err := s.clean(ctx, st.ID, s.o.StopTimeout); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			s.log.Error("kernel not destroyed", "kernel_id", st.ID, "err", err)
		}
	}
	return nil, nil
}

// resetAgent destroys every kernel (reason agent-termination... upstream
// emits nothing more specific).
func (s *Service) resetAgent(ctx context.Context, _ codec.Call) (any, error) {
	var errs []error
	for _, st := range s.o.Kernels.List() {
		sid := s.sessionOf(st.ID)
		exit, err := s.clean(ctx, st.ID, s.o.StopTimeout)
		if err != nil {
			if !errors.Is(err, runtime.ErrNotFound) {
				errs = append(errs, err)
			}
			continue
		}
		if kid, err := codec.ParseUUID(st.ID); err == nil {
			s.publish(ctx, events.KernelTerminated(kid, sid, events.ReasonAgentTermination, exit.Code))
		}
	}
	return nil, errors.Join(errs...)
}

func (s *Service) getLogs(_ context.Context, c codec.Call) (any, error) {
	id, err := c.String(0, "kernel_id")
	if err != nil {
		return nil, err
	}
	r, err := s.o.Kernels.Logs(id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read logs of kernel %s: %w", id, err)
	}
	if len(b) > maxLogBytes {
		b = b[len(b)-maxLogBytes:]
	}
	return map[string]any{"logs": strings.ToValidUTF8(string(b), "\uFFFD")}, nil
}

// listKernels is ours (ctl list): every kernel with its state.
func (s *Service) listKernels(context.Context, codec.Call) (any, error) {
	sts := s.o.Kernels.List()
	slices.SortFunc(sts, func(a, b runtime.State) int { return a.Created.Compare(b.Created) })
	out := make([]any, 0, len(sts))
	for _, st := range sts {
		var code any
		if st.Exit != nil {
			code = st.Exit.Code
		}
		sid := s.sessionOf(st.ID)
		session := ""
		if sid != (codec.UUID{}) {
			session = sid.String()
		} else if v := st.Labels["ai.backend.session-id"]; v != "" {
			session = v
		}
		img := st.ImageRef
		if img == "" {
			img = st.Image
		}
		out = append(out, map[string]any{
			"id": st.ID, "session_id": session, "image": img, "status": string(st.Status),
			"created": float64(st.Created.UnixNano()) / 1e9, "exit_code": code,
		})
	}
	return out, nil
}

func (s *Service) sessionOf(id string) codec.UUID {
	s.mu.Lock()
	sid, ok := s.sessions[id]
	s.mu.Unlock()
	if ok {
		return sid
	}
	if st, err := s.o.Kernels.Get(id); err == nil {
		if u, err := codec.ParseUUID(st.Labels["ai.backend.session-id"]); err == nil {
			return u
		}
	}
	return codec.UUID{}
}

func (s *Service) isCreating(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creating[id]
}

// publish sends an event; a failure is logged (the producer already
// warns once when no Redis is configured).
func (s *Service) publish(ctx context.Context, ev events.Event) {
	if err := s.o.Publisher.Publish(context.WithoutCancel(ctx), ev); err != nil {
		s.log.Warn("event not published", "event", ev.Name, "err", err)
	}
}

// countContainers writes container_count.{agent_id}.
func (s *Service) countContainers(ctx context.Context) {
	n := 0
	for _, st := range s.o.Kernels.List() {
		if st.Status == runtime.StatusRunning {
			n++
		}
	}
	if err := s.o.Publisher.WriteContainerCount(context.WithoutCancel(ctx), n); err != nil {
		s.log.Debug("container count not written", "err", err)
	}
}

// kernelServices are a kernel's named services: those of the image's
// label (kept on the kernel) and, on the host's network, the runner's
// intrinsic ones.
func kernelServices(st runtime.State) []servicePort {
	return append(parseServicePorts(st.Labels[labelServicePorts]), hostIntrinsics(st)...)
}

// hostIntrinsics are a host-network runner kernel's sshd and ttyd, on the
// host ports of its intrinsic-ports.json (the runtime takes replin,
// replout, sshd and ttyd, in that order).
func hostIntrinsics(st runtime.State) []servicePort {
	if st.Net.Mode != runtime.NetHost || len(st.Net.HostPorts) < 4 || !slices.Contains(st.Args, spec.RunnerTarget) {
		return nil
	}
	return []servicePort{
		{name: intrinsicServices[0].name, protocol: intrinsicServices[0].protocol, ports: []int{st.Net.HostPorts[2]}},
		{name: intrinsicServices[1].name, protocol: intrinsicServices[1].protocol, ports: []int{st.Net.HostPorts[3]}},
	}
}
