//go:build !slimrun

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
	"github.com/baiagent/agent/rpc/agent"
	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/rpc/registry"
	"github.com/baiagent/agent/stats/promstats"
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
// Kernels are never stopped with the agent: they keep running and are
// reattached at the next start.
func (s *server) run(ctx context.Context) (err error) {
	log := s.log.With("component", "server")
	started := time.Now()
	notifier := daemon.NewNotifier(log)
	cfg := s.cfg

	pid, err := daemon.WritePIDFile(cfg.Agent.PIDFile)
	if err != nil {
		return err
	}
	defer func() {
		if err := pid.Remove(); err != nil {
			log.Warn("pid file not removed", "err", err)
		}
	}()
	// The internal address first: a taken port fails the start before
	// anything else is touched.
	metrics := daemon.NewRegistry(version)
	httpSrv, err := daemon.NewHTTPServer(daemon.HTTPOptions{
		Addr:     cfg.Agent.InternalAddr.String(),
		Version:  version,
		Logger:   s.log.With("component", "http"),
		Registry: metrics,
	})
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving {
			_ = httpSrv.Shutdown(context.WithoutCancel(ctx))
		}
	}()
	lock, err := lockState(runtimeStateDir(cfg))
	if err != nil {
		return err
	}
	defer lock.release()

	id, err := agentID(cfg)
	if err != nil {
		return err
	}
	// The cluster: etcd (with its overrides) and Redis.
	etcd, localEtcd, err := openRegistry(ctx, cfg, s.log)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()
	if localEtcd != nil {
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopDeadline)
			defer cancel()
			if err := localEtcd.Stop(stopCtx); err != nil {
				log.Warn("local etcd not stopped cleanly", "err", err)
			}
		}()
	}
	reg, err := registry.NewAgent(etcd, registry.AgentOptions{ID: id, SkipManagerDetection: cfg.Agent.SkipManagerDetection})
	if err != nil {
		return err
	}
	ov, err := reg.ReadOverrides(ctx)
	if err != nil {
		return fmt.Errorf("read shared configuration from etcd: %w", err)
	}
	applyOverrides(cfg, ov, log)
	rcfg, err := redisConfig(ov.Redis)
	if err != nil {
		return fmt.Errorf("etcd config/redis: %w", err)
	}
	prod, err := events.New(events.Options{
		Redis: rcfg, AgentID: id, WireFormat: events.WireFormat(cfg.Agent.EventWireFormat), Log: s.log.With("component", "events"),
	})
	if err != nil {
		return err
	}
	defer prod.Close()

	// Kernels and their stats.
	gpus, err := openGPUs(s.log.With("component", "gpu"), gpuMask(ov.AcceleratorPlugins))
	if err != nil {
		return err
	}
	defer gpus.Close()
	m, store, err := newRuntime(ctx, cfg, s.log, true, gpus)
	if err != nil {
		return err
	}
	defer m.Close()
	col, err := newCollector(cfg, m, gpus, s.log.With("component", "stats"))
	if err != nil {
		return err
	}
	defer col.Close()
	col.SweepNode()

	// The manager's side: RPC service and transport.
	curve, err := curveOptions(cfg)
	if err != nil {
		return err
	}
	host := rpcHost(cfg, ov.AgentSubnet)
	so := serviceOptions(cfg, id, host, curve)
	so.Kernels, so.Images, so.Publisher, so.Stats = m, store, prod, col
	so.Capacity = m.Capacity
	if gpus != nil {
		so.GPUs = gpus
	}
	so.Runner = m.HasRunner()
	if !so.Runner {
		log.Info("no kernel runner (backendai-krunner): kernels run their own command, and execute, batch and services are refused")
	}
	if n := m.Networking(); n != nil {
		so.Networking, so.Ports = true, n.Ports
	}
	so.Log = s.log.With("component", "rpc")
	svc, err := agent.New(so)
	if err != nil {
		return err
	}
	rpcSrv, err := callosum.NewServer(callosum.Options{
		Addr: cfg.Agent.RPCListenAddr.String(), Handler: svc, Inline: svc.Inline, Curve: curve,
		MaxInflight: 1024, Log: s.log.With("component", "rpc"),
	})
	if err != nil {
		return err
	}
	if err := reg.Register(ctx, registry.Registration{IP: host, WatcherPort: cfg.Watcher.ServiceAddr.Port}); err != nil {
		log.Warn("not registered in etcd yet", "err", err)
	}

	metrics.MustRegister(promstats.New(col))

	g, gctx := errgroup.WithContext(ctx)
	serving = true
	g.Go(httpSrv.Serve)
	g.Go(func() error { return rpcSrv.Serve(gctx) })
	g.Go(func() error { col.Run(gctx); return nil })
	g.Go(func() error { return m.Run(gctx) })
	g.Go(func() error { return svc.Run(gctx) })
	g.Go(func() error { return reg.KeepRegistered(gctx) })
	g.Go(func() error { return notifier.RunWatchdog(gctx, nil) })

	if err := reg.WaitForManager(gctx); err != nil && gctx.Err() == nil {
		log.Warn("manager detection failed", "err", err)
	}
	if err := reg.SetRunning(gctx); err != nil {
		log.Warn("status running not written to etcd", "err", err)
	}
	svc.Started(gctx)
	httpSrv.SetReady(true)
	if err := notifier.Ready(); err != nil {
		log.Warn("readiness not notified", "err", err)
	}
	log.Info("agent started",
		"agent_id", id, "rpc_addr", so.Addr, "internal_addr", httpSrv.Addr().String(), "pid_file", pid.Path(),
		"kernels", len(m.List()), "startup", time.Since(started).String(), "version", version)

	<-gctx.Done()
	log.Info("stopping agent", "reason", context.Cause(gctx))
	if err := notifier.Stopping(); err != nil {
		log.Warn("stop not notified", "err", err)
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopDeadline)
	defer cancel()
	svc.Terminated(stopCtx)
	var errs []error
	errs = append(errs, httpSrv.Shutdown(stopCtx))
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("agent stopped (kernels keep running)")
	return nil
}
