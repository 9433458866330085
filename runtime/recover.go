package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/baiagent/agent/runtime/alloc"
)

// recover rebuilds the manager's view from the state files a previous
// agent process left: running kernels are reattached (their exit is
// watched through a pidfd, their allocations restored, their logs keep
// flowing since each container writes its log file itself); kernels that
// ended while the agent was down are reported with the exit status their
// init recorded. Containers and cgroups that no state file accounts for
// are reported and left alone.
func (m *Manager) recover(ctx context.Context) error {
	states, bad, err := m.states.loadAll()
	if err != nil {
		return err
	}
	for id, err := range bad {
		m.log.Error("kernel state unreadable; leaving its container alone", "kernel_id", id, "err", err)
	}
	var allocs []alloc.Allocation
	known := map[string]bool{}
	for id := range bad {
		known[id] = true
	}
	for _, st := range states {
		known[st.ID] = true
		k := &kernel{state: st, done: make(chan struct{})}
		allocs = append(allocs, st.Allocation)
		c, err := libcontainer.Load(m.lcRoot, st.ID)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrNotExist):
			// The agent died during create, before the container existed.
			if st.Exit == nil {
				st.Status, st.Exit = StatusExited, &Exit{Code: -1, Unknown: true, Error: "the agent stopped while creating this kernel"}
			}
			close(k.done)
		case err != nil:
			m.log.Error("kernel container unreadable; leaving it alone", "kernel_id", st.ID, "err", err)
			if st.Exit == nil {
				st.Status, st.Exit = StatusExited, &Exit{Code: -1, Unknown: true, Error: err.Error()}
			}
			close(k.done)
		default:
			k.c = c
			status, _ := c.Status()
			if status == libcontainer.Stopped || st.Status == StatusExited {
				if st.Exit == nil {
					ex := m.exitFromSources(st.ID, nil)
					st.Status, st.Exit = StatusExited, &ex
					m.log.Info("kernel ended while the agent was down", "kernel_id", st.ID, "code", ex.Code, "oom_killed", ex.OOMKilled)
				}
				close(k.done)
			} else {
				ls, err := c.State()
				if err == nil {
					st.InitPID = ls.InitProcessPid
				}
				st.Status = StatusRunning
				go m.watch(k)
				m.log.Info("kernel reattached", "kernel_id", st.ID, "pid", st.InitPID)
			}
		}
		if err := m.states.save(st); err != nil {
			return err
		}
		m.kernels[st.ID] = k
	}
	if err := m.o.Alloc.Restore(allocs); err != nil {
		return fmt.Errorf("restore allocations: %w", err)
	}
	if err := m.recoverNetwork(ctx, states); err != nil {
		return err
	}
	m.reportUnaccounted(known)
	return nil
}

// reportUnaccounted logs containers in the runtime's libcontainer root
// that no state file names. They are never killed or removed.
func (m *Manager) reportUnaccounted(known map[string]bool) {
	entries, err := os.ReadDir(m.lcRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && !known[e.Name()] {
			m.unaccounted = append(m.unaccounted, e.Name())
			m.log.Warn("container without kernel state; left alone", "kernel_id", e.Name(), "path", filepath.Join(m.lcRoot, e.Name()))
		}
	}
}

// Unaccounted lists containers found at start-up that no kernel state
// accounts for. The agent leaves them alone; an operator decides.
func (m *Manager) Unaccounted() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.unaccounted...)
}
