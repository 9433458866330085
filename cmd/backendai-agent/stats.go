package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/scratch"
	"github.com/baiagent/agent/stats"
)

// runtimeSource is the stats collector's view of the runtime: its running
// kernels (all, or the one kernel of `run`, whatever its status, so that
// its last reading is taken after it exited).
type runtimeSource struct {
	m    *runtime.Manager
	only string
}

func (s runtimeSource) Kernels() []stats.KernelTarget {
	if s.m == nil { // a server without a runtime yet
		return nil
	}
	var out []stats.KernelTarget
	for _, st := range s.m.List() {
		if s.only != "" && st.ID != s.only || s.only == "" && st.Status != runtime.StatusRunning {
			continue
		}
		out = append(out, stats.KernelTarget{
			ID: st.ID, CgroupPath: s.m.CgroupPath(st.ID),
			ScratchDir:      filepath.Join(st.Scratch.Root, st.ID),
			ScratchMeasured: st.Scratch.Type == scratch.Memory || st.Scratch.Type == scratch.HostFile,
			OwnNetwork:      st.Net.Mode == runtime.NetBridge,
			GPUs:            st.Allocation.Devices,
		})
	}
	return out
}

func (s runtimeSource) NetCounters(id string) (rx, tx uint64, err error) { return s.m.NetCounters(id) }

// newCollector makes the agent's stats collector: node metrics (disks
// under the agent's own scratch and image directories left out) and the
// kernels of m (nil: none yet), at the utilization-metric intervals.
func newCollector(cfg *configs.Config, m *runtime.Manager, gpus *gpuSupport, log *slog.Logger) (*stats.Collector, error) {
	um := cfg.Agent.UtilizationMetric
	o := stats.CollectorOptions{Source: runtimeSource{m: m}, Log: log}
	if gpus != nil {
		o.GPU = gpus
	}
	if um.Node.Enable {
		o.NodeInterval = time.Duration(um.Node.Interval)
		o.Node = stats.NewNode(stats.NodeOptions{ExcludeMountPrefixes: []string{cfg.Container.ScratchRoot, cfg.Agent.VarBasePath}})
	}
	if um.Container.Enable {
		o.KernelInterval = time.Duration(um.Container.Interval)
	}
	return stats.NewCollector(o)
}

// kernelStatsRun samples one kernel for `run --stats` until stop.
type kernelStatsRun struct {
	col  *stats.Collector
	id   string
	done chan struct{}
	wg   sync.WaitGroup
}

// startKernelStats takes a first reading now and one every interval.
// With GPUs, each sweep samples them first (cuda_mem, cuda_util).
func startKernelStats(m *runtime.Manager, gpus *gpuSupport, id string, interval time.Duration) (*kernelStatsRun, error) {
	o := stats.CollectorOptions{Source: runtimeSource{m: m, only: id}}
	if gpus != nil {
		o.GPU = gpus
	}
	col, err := stats.NewCollector(o)
	if err != nil {
		return nil, err
	}
	k := &kernelStatsRun{col: col, id: id, done: make(chan struct{})}
	col.SweepNode()
	col.SweepKernels()
	k.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-k.done:
				return
			case <-t.C:
				col.SweepNode()
				col.SweepKernels()
			}
		}
	})
	return k, nil
}

// finish takes the last reading (the kernel has exited; its cgroup is
// still there) and writes the kernel's metrics and raw totals as one JSON
// line.
func (k *kernelStatsRun) finish(w io.Writer) {
	close(k.done)
	k.wg.Wait()
	k.col.SweepKernels()
	defer k.col.Close()
	metrics, _ := k.col.Kernel(k.id)
	totals, _ := k.col.Reading(k.id)
	b, err := json.Marshal(struct {
		KernelID string                       `json:"kernel_id"`
		Metrics  map[string]stats.MetricValue `json:"metrics"`
		Totals   stats.KernelReading          `json:"totals"`
	}{k.id, metrics, totals})
	if err != nil {
		fmt.Fprintf(w, "backendai-agent run: stats: %v\n", err)
		return
	}
	fmt.Fprintf(w, "%s\n", b)
}
