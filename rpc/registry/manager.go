package registry

import (
	"context"
	"fmt"
	"time"
)

// ManagerPrefix is where managers announce themselves: each writes
// nodes/manager/{instance_id} = "up" (upstream's register_myself).
const ManagerPrefix = "nodes/manager"

// ManagerUp is the value a running manager writes.
const ManagerUp = "up"

// watchRetryDelay is the pause before a broken watch starts again.
const watchRetryDelay = 500 * time.Millisecond

// WaitForManager returns once a manager is known, as upstream's
// detect_manager: at once when any key starts with nodes/manager (merged
// scope, whatever its value), else when a put of "up" under that prefix
// is seen. With SkipManagerDetection it returns at once. The watch starts
// at the revision of the first read, so a manager that comes up in
// between is not missed. A failed first read is returned; a watch that
// breaks is started again.
func (a *Agent) WaitForManager(ctx context.Context) error {
	if a.skipManager {
		a.log.Debug("manager detection skipped")
		return nil
	}
	a.log.Info("detecting the manager")
	warned := false
	for {
		res, rev, err := a.readRev(ctx, "get prefix", ManagerPrefix, []query{{key: ManagerPrefix, prefix: true, merged: true}})
		if err != nil {
			return fmt.Errorf("wait for manager: %w", err)
		}
		if len(res[0].tree) > 0 {
			a.log.Info("manager detected")
			return nil
		}
		if !warned {
			a.log.Warn("waiting for a manager to appear in etcd", "prefix", ManagerPrefix)
			warned = true
		}
		found, err := a.watchManager(ctx, rev+1)
		if found {
			a.log.Info("manager detected")
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for manager: %w", ctx.Err())
		}
		a.log.Debug("manager watch broke", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for manager: %w", ctx.Err())
		case <-time.After(watchRetryDelay):
		}
	}
}

// watchManager watches the global prefix from rev until a put of "up".
func (a *Agent) watchManager(ctx context.Context, rev int64) (bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ev := range a.c.watch(wctx, ManagerPrefix, rev, withPrefix()...) {
		if ev.Err != nil {
			return false, ev.Err
		}
		if ev.Type == EventPut && ev.Value == ManagerUp {
			return true, nil
		}
	}
	return false, ctx.Err()
}
