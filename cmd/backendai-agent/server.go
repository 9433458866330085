package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/internal/daemon"
)

// stopDeadline bounds a graceful stop. The install guide's unit gives the
// agent TimeoutStopSec=5 before systemd kills it; we aim to be out before.
const stopDeadline = 4 * time.Second

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("server", stderr)
	if err := fs.parse(args); err != nil {
		return exitUsage
	}
	lc, err := loadConfig(fs.configFile, true)
	if err != nil {
		printProblems(stderr, err)
		return exitFailure
	}
	log, closer, err := newLogger(lc.cfg.Logging, fs.debug || lc.cfg.Debug.Enabled, fs.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent: %v\n", err)
		return exitFailure
	}
	defer closer.Close()
	srvLog := log.With("component", "server")
	for _, w := range lc.warnings {
		srvLog.Warn("config key not implemented by this agent", "problem", w.String())
	}
	s := &server{cfg: lc.cfg, configPath: lc.path, log: log}
	if err := s.run(ctx); err != nil {
		srvLog.Error("agent stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}

// server is the running agent service. It owns the wiring of every part:
// cmd is the only place that reads configs and builds the parts.
type server struct {
	cfg        *configs.Config
	configPath string
	log        *slog.Logger
}

// run starts the service, reports readiness, and on ctx's end stops it
// within stopDeadline. Whatever was started is undone when start-up fails.
func (s *server) run(ctx context.Context) error {
	log := s.log.With("component", "server")
	started := time.Now()
	notifier := daemon.NewNotifier(log)

	pid, err := daemon.WritePIDFile(s.cfg.Agent.PIDFile)
	if err != nil {
		return err
	}
	defer func() {
		if err := pid.Remove(); err != nil {
			log.Warn("pid file not removed", "err", err)
		}
	}()

	// Stats: node metrics now; kernels once the runtime is served here.
	col, err := newCollector(s.cfg, nil, s.log.With("component", "stats"))
	if err != nil {
		return err
	}
	col.SweepNode()
	reg := metricsRegistry(col)
	httpSrv, err := daemon.NewHTTPServer(daemon.HTTPOptions{
		Addr:     s.cfg.Agent.InternalAddr.String(),
		Version:  version,
		Logger:   s.log.With("component", "http"),
		Registry: reg,
	})
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(httpSrv.Serve)
	g.Go(func() error { col.Run(gctx); return nil })
	g.Go(func() error { return notifier.RunWatchdog(gctx, nil) })

	httpSrv.SetReady(true)
	if err := notifier.Ready(); err != nil {
		log.Warn("readiness not notified", "err", err)
	}
	log.Info("agent started",
		"config", s.configPath, "internal_addr", httpSrv.Addr().String(), "pid_file", pid.Path(),
		"startup", time.Since(started).String(), "version", version)

	<-gctx.Done()
	log.Info("stopping agent", "reason", context.Cause(gctx))
	if err := notifier.Stopping(); err != nil {
		log.Warn("stop not notified", "err", err)
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopDeadline)
	defer cancel()
	var errs []error
	errs = append(errs, httpSrv.Shutdown(stopCtx))
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("agent stopped")
	return nil
}
