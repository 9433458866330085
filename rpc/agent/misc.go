package agent

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/baiagent/agent/gpu"
	"github.com/baiagent/agent/rpc/codec"
)

func (s *Service) ping(_ context.Context, c codec.Call) (any, error) {
	return c.Value(0, "msg")
}

// health is health and health_v2: HealthResponse as JSON-mode data.
func (s *Service) health(context.Context, codec.Call) (any, error) {
	now := s.o.now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	return map[string]any{
		"status":    "ok",
		"version":   s.o.Version,
		"component": "agent",
		"connectivity": map[string]any{
			"overall_healthy":     true,
			"connectivity_checks": []any{},
			"timestamp":           now,
		},
	}, nil
}

// gatherHWInfo: the cpu and mem plugins have no hardware info (upstream
// skips them); GPUs add theirs when the GPU support lands.
func (s *Service) gatherHWInfo(context.Context, codec.Call) (any, error) {
	out := map[string]any{}
	if s.o.GPUs == nil {
		return out, nil
	}
	for id, d := range s.o.GPUs.HWInfo() {
		out["cuda:"+id] = hwDevice(d)
	}
	return out, nil
}

func (s *Service) gatherHWInfoV2(context.Context, codec.Call) (any, error) {
	devices := []any{}
	if s.o.GPUs != nil {
		info := s.o.GPUs.HWInfo()
		for _, id := range slices.Sorted(maps.Keys(info)) {
			d := hwDevice(info[id])
			d["device_name"] = "cuda:" + id
			devices = append(devices, d)
		}
	}
	return map[string]any{"devices": devices}, nil
}

// hwDevice is one device of gather_hwinfo in upstream's shape.
func hwDevice(d gpu.HWDevice) map[string]any {
	meta := map[string]any{}
	for k, v := range d.Metadata {
		meta[k] = v
	}
	return map[string]any{"status": d.Status, "status_info": d.StatusInfo, "metadata": meta}
}

func (s *Service) getLocalConfig(context.Context, codec.Call) (any, error) {
	if s.o.LocalConfig == nil {
		return map[string]any{"agent": map[string]any{"abuse-report-path": nil}, "watcher": map[string]any{}}, nil
	}
	return s.o.LocalConfig, nil
}

func (s *Service) createLocalNetwork(ctx context.Context, c codec.Call) (any, error) {
	name, err := c.String(0, "network_name")
	if err != nil {
		return nil, err
	}
	return nil, s.o.Kernels.CreateNetwork(ctx, name)
}

func (s *Service) destroyLocalNetwork(ctx context.Context, c codec.Call) (any, error) {
	name, err := c.String(0, "network_name")
	if err != nil {
		return nil, err
	}
	return nil, s.o.Kernels.DestroyNetwork(ctx, name)
}

// assignPort takes one port of the pool for the manager (host-network
// clusters); release_port gives it back. Such ports are not kept across
// an agent restart, as upstream's.
func (s *Service) assignPort(context.Context, codec.Call) (any, error) {
	if s.o.Ports == nil {
		return nil, fmt.Errorf("%w: this agent has no port pool (networking is off)", errUnavailable)
	}
	s.mu.Lock()
	s.seq++
	owner := "rpc-assigned-" + strconv.Itoa(s.seq)
	s.mu.Unlock()
	ports, err := s.o.Ports.Take(owner, 1)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.assigned[ports[0]] = owner
	s.mu.Unlock()
	return ports[0], nil
}

func (s *Service) releasePort(_ context.Context, c codec.Call) (any, error) {
	n, err := c.Int(0, "port_no")
	if err != nil {
		return nil, err
	}
	if s.o.Ports == nil || n < 0 || n > math.MaxUint16 {
		return nil, nil
	}
	s.mu.Lock()
	owner, ok := s.assigned[int(n)]
	delete(s.assigned, int(n))
	s.mu.Unlock()
	if ok {
		s.o.Ports.Release(owner)
	}
	return nil, nil
}

// scanGPUAllocMap sums cuda.device and cuda.shares over the kernels'
// allocations per GPU; without GPU support it is empty.
func (s *Service) scanGPUAllocMap(context.Context, codec.Call) (any, error) {
	out := map[string]any{}
	for _, st := range s.o.Kernels.List() {
		for _, d := range st.Allocation.Devices {
			n := 1
			if v, ok := out[d].(string); ok {
				n, _ = strconv.Atoi(v)
				n++
			}
			out[d] = strconv.Itoa(n)
		}
	}
	return out, nil
}

// getCommitStatus: this agent never commits, so nothing is ongoing.
func (s *Service) getCommitStatus(_ context.Context, c codec.Call) (any, error) {
	id, err := c.String(0, "kernel_id")
	if err != nil {
		return nil, err
	}
	return map[string]any{"kernel": id, "status": "ready"}, nil
}
