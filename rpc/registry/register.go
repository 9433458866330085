package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Agent statuses upstream writes at nodes/agents/{id}.
const (
	StatusStarting = "starting"
	StatusRunning  = "running"
)

// Registration is what an agent publishes about itself besides its status.
type Registration struct {
	// IP is written at nodes/agents/{id}/ip: the host of
	// agent.rpc-listen-addr (after auto-detection). The manager reads it to
	// reach the agent's watcher.
	IP string
	// WatcherPort is written at nodes/agents/{id}/watcher_port, in decimal,
	// when not 0: watcher.service-addr.port. Without it the manager
	// assumes 6099.
	WatcherPort int
}

// registration is the state KeepRegistered keeps in etcd.
type registration struct {
	status string
	info   Registration
}

// StatusKey returns the key of an agent's status, namespace-relative:
// "nodes/agents/{id}/", with the trailing '/' that upstream's
// put("", status, scope=NODE) leaves (its get_prefix("nodes/agents/{id}")
// shows the status under the "" entry).
func StatusKey(agentID string) string { return "nodes/agents/" + agentID + "/" }

// keys returns the registration's keys and values.
func (a *Agent) keys(r *registration) map[string]string {
	kv := map[string]string{
		a.node:        r.status,
		a.node + "ip": r.info.IP,
	}
	if r.info.WatcherPort != 0 {
		kv[a.node+"watcher_port"] = strconv.Itoa(r.info.WatcherPort)
	}
	return kv
}

// Register writes the agent's status "starting", its ip and its watcher
// port, in one transaction. The registration is recorded even when the
// write fails, so that KeepRegistered writes it once etcd answers.
func (a *Agent) Register(ctx context.Context, info Registration) error {
	var errs []error
	if info.IP == "" {
		errs = append(errs, errors.New("empty ip"))
	}
	if info.WatcherPort < 0 || info.WatcherPort > 65535 {
		errs = append(errs, fmt.Errorf("watcher port %d out of range", info.WatcherPort))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("etcd register %s: %w", a.id, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reg = &registration{status: StatusStarting, info: info}
	if err := a.c.putFlat(ctx, "register", a.node, a.keys(a.reg)); err != nil {
		return err
	}
	a.log.Info("agent registered", "status", StatusStarting, "ip", info.IP, "watcher_port", info.WatcherPort)
	return nil
}

// SetRunning writes the status "running" (upstream does once the RPC
// server is up and ip is written). Like Register, the new status is
// recorded even when the write fails.
func (a *Agent) SetRunning(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reg == nil {
		return fmt.Errorf("etcd set running %s: %w", a.id, ErrNotRegistered)
	}
	a.reg.status = StatusRunning
	if err := a.c.Put(ctx, a.node, StatusRunning); err != nil {
		return err
	}
	a.log.Info("agent status", "status", StatusRunning)
	return nil
}

// Deregister removes the agent's status key and stops KeepRegistered from
// writing it again. ip and watcher_port stay: the manager reaches the
// agent's watcher through them, and the watcher outlives the agent.
// Upstream never removes anything; its status stays "running" after the
// agent stops.
func (a *Agent) Deregister(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reg = nil
	if err := a.c.Delete(ctx, a.node); err != nil {
		return err
	}
	a.log.Info("agent deregistered")
	return nil
}

// KeepRegistered checks every refresh interval, until ctx ends, that the
// registration is in etcd as last written, and writes it again when not
// (etcd came back without its data, or someone removed the keys). One
// transaction compares and, only on a difference, writes. It logs what it
// restores and returns nil when ctx ends.
func (a *Agent) KeepRegistered(ctx context.Context) error {
	t := time.NewTicker(a.refresh)
	defer t.Stop()
	for {
		restored, err := a.refreshOnce(ctx)
		switch {
		case err == nil && restored:
			// Logged even when ctx ended meanwhile: the write happened.
			a.log.Info("registration restored")
		case ctx.Err() != nil:
			return nil
		case err != nil:
			a.log.Debug("registration check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refreshOnce writes the registration unless etcd holds it already, and
// tells whether it wrote.
func (a *Agent) refreshOnce(ctx context.Context) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.reg == nil {
		return false, nil
	}
	var (
		cmps []clientv3.Cmp
		puts []clientv3.Op
	)
	for k, v := range a.keys(a.reg) {
		full := a.c.FullKey(k)
		cmps = append(cmps, clientv3.Compare(clientv3.Value(full), "=", v))
		puts = append(puts, clientv3.OpPut(full, v))
	}
	var resp *clientv3.TxnResponse
	err := a.c.call(ctx, "refresh registration", a.node, func(ctx context.Context) error {
		var err error
		resp, err = a.c.cli.Txn(ctx).If(cmps...).Else(puts...).Commit()
		return err
	})
	if err != nil {
		return false, err
	}
	return !resp.Succeeded, nil
}
