package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier speaks the sd_notify protocol when the service manager gave us a
// NOTIFY_SOCKET; without one every call is a no-op.
type Notifier struct {
	log *slog.Logger
}

// NewNotifier returns a notifier that logs through log.
func NewNotifier(log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{log: log}
}

func (n *Notifier) send(state string) error {
	sent, err := daemon.SdNotify(false, state)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", state, err)
	}
	if sent {
		n.log.Debug("notified service manager", "state", state)
	}
	return nil
}

// Ready tells the service manager that start-up is complete.
func (n *Notifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Stopping tells the service manager that a graceful stop has begun.
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// RunWatchdog sends WATCHDOG=1 at half the interval the service manager
// asked for in WATCHDOG_USEC, until ctx ends. Without a watchdog it returns
// at once. healthy is consulted before each ping: a false answer skips it,
// so that a wedged agent is restarted by systemd.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() bool) error {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return fmt.Errorf("read watchdog interval: %w", err)
	}
	if interval <= 0 {
		return nil
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	n.log.Info("systemd watchdog enabled", "interval", interval.String())
	for {
		if healthy == nil || healthy() {
			if err := n.send(daemon.SdNotifyWatchdog); err != nil {
				n.log.Warn("watchdog ping failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
