// Command backendai-krunner is the in-container kernel runner (bai-krunner):
// the Go replacement of upstream's `python -m ai.backend.kernel`. The
// agent's init (backendai-kernel-init) stays PID 1 and starts it as the
// kernel's command; it binds PULL :2000 and PUSH :2001 (or the ports of
// /home/config/intrinsic-ports.json) and serves the runner protocol
// (spec §12) until SIGTERM or SIGINT.
//
//	bai-krunner [--setup-user] [--runtime-type python|app] [--work-dir DIR]
//	            [--ports-file F] [--dotfiles-file F] [--replin N] [--replout N]
//	            [--service-defs DIR] [--debug]
//
// Before serving it does upstream's entrypoint duties (spec §6.6) when
// started with --setup-user (the agent passes it; the runner never edits
// accounts unless asked, so it is safe to run outside a kernel): the work
// user and group from LOCAL_USER_ID/LOCAL_GROUP_ID (9001 when unset) and
// ADDITIONAL_GIDS in /etc/passwd and /etc/group, the work directory (not
// its contents) owned by that user, the image's /opt/container/bootstrap.sh
// as root (when executable), then the privilege drop (LOCAL_USER_ID=0
// keeps root), the dotfiles of /home/config/dotfiles.json written as the
// user, and the user's /home/work/bootstrap.sh (through /bin/sh). Script
// output goes to stderr; a failing script or dotfile is logged and the
// kernel goes on, as upstream's does.
//
// Not done (upstream's entrypoint has them): /etc/ld.so.preload from
// LD_PRELOAD (we inject no hook library), ssh-agent and the generated
// password.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/baiagent/agent/runner"
)

// Bootstrap scripts, in the order they run.
const (
	imageBootstrap = "/opt/container/bootstrap.sh"
	userBootstrap  = "bootstrap.sh" // in the work directory
)

type options struct {
	runtimeType  string
	workDir      string
	portsFile    string
	environFile  string
	dotfiles     string
	setupUser    bool
	serviceDefs  string
	replIn       int
	replOut      int
	startTimeout time.Duration
	debug        bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bai-krunner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.runtimeType, "runtime-type", os.Getenv("BACKENDAI_RUNTIME_TYPE"),
		`"python" (one interpreter per kernel) or "app" (cells through sh -c); default: python when python3 is in PATH`)
	fs.StringVar(&o.workDir, "work-dir", runner.DefaultWorkDir, "working directory of cells, batch steps and services")
	fs.StringVar(&o.portsFile, "ports-file", runner.DefaultPortsFile, "intrinsic ports (replin, replout) of host-network kernels")
	fs.StringVar(&o.environFile, "environ-file", runner.DefaultEnvironFile, `KEY=VALUE lines for the children's environment ("" skips)`)
	fs.StringVar(&o.dotfiles, "dotfiles-file", runner.DefaultDotfilesFile, "the kernel's dotfiles to write into the work directory")
	fs.BoolVar(&o.setupUser, "setup-user", false, "make the work user from LOCAL_USER_ID/LOCAL_GROUP_ID/ADDITIONAL_GIDS and run as it (in a kernel only: it edits /etc/passwd)")
	fs.StringVar(&o.serviceDefs, "service-defs", runner.DefaultServiceDefsDir, "directory of <name>.json service definitions")
	fs.IntVar(&o.replIn, "replin", 0, "PULL port (overrides the ports file; default 2000)")
	fs.IntVar(&o.replOut, "replout", 0, "PUSH port (overrides the ports file; default 2001)")
	fs.DurationVar(&o.startTimeout, "service-start-timeout", runner.DefaultServiceStartTimeout, "how long a started service may take to open its port")
	fs.BoolVar(&o.debug, "debug", false, "log every message")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		err := fmt.Errorf("unexpected arguments: %q", fs.Args())
		fmt.Fprintln(stderr, "bai-krunner:", err)
		return o, err
	}
	return o, nil
}

func run(args []string, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	level := slog.LevelInfo
	if o.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})).With("component", "krunner")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	ports, err := runner.LoadIntrinsicPorts(o.portsFile)
	if err != nil {
		log.Warn("ignoring the intrinsic ports file", "error", err)
	}
	cfg := runner.Config{
		ReplInPort:          firstNonZero(o.replIn, ports.ReplIn),
		ReplOutPort:         firstNonZero(o.replOut, ports.ReplOut),
		RuntimeType:         o.runtimeType,
		WorkDir:             o.workDir,
		EnvironFile:         o.environFile,
		ServiceDefsDir:      o.serviceDefs,
		ServiceStartTimeout: o.startTimeout,
		Log:                 log,
	}
	user, err := setupUser(o, log)
	if err != nil {
		log.Error("cannot set up the work user", "error", err)
		return 1
	}
	env, err := runner.BuildChildEnv(os.Environ(), o.workDir, o.environFile)
	if err != nil {
		log.Warn("child environment incomplete", "error", err)
	}
	// Read as root: the file (keys among it) is not the user's to read.
	dotfiles, err := runner.LoadDotfiles(o.dotfiles)
	if err != nil {
		log.Warn("dotfiles skipped", "error", err)
	}
	runBootstrap(ctx, log, imageBootstrap, false, o.workDir, env, stderr)
	if o.setupUser {
		if err := runner.DropPrivileges(user); err != nil {
			log.Error("cannot drop privileges", "error", err)
			return 1
		}
		log.Debug("running as the work user", "uid", user.UID, "gid", user.GID, "groups", user.Groups)
	}
	if err := runner.WriteDotfiles(dotfiles, o.workDir); err != nil {
		log.Warn("some dotfiles not written", "error", err)
	}

	// Bound before the user's bootstrap, as upstream does: the agent's
	// readiness probe connects and waits for the first status reply.
	srv, err := runner.New(cfg)
	if err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	runBootstrap(ctx, log, filepath.Join(o.workDir, userBootstrap), true, o.workDir, env, stderr)
	if ctx.Err() != nil {
		_ = srv.Close()
		return 0
	}
	if err := srv.Serve(ctx); err != nil {
		log.Error("serve", "error", err)
		return 1
	}
	log.Info("runner stopped")
	return 0
}

// setupUser does the root part of the entrypoint duties when asked: the
// accounts and the work directory's owner, and the user's environment
// (USER, HOME, SHELL...) for everything started later.
func setupUser(o options, log *slog.Logger) (runner.WorkUser, error) {
	if !o.setupUser {
		return runner.WorkUser{}, nil
	}
	u, err := runner.WorkUserFromEnv(os.Getenv, o.workDir)
	if err != nil {
		return u, err
	}
	if euid := os.Geteuid(); euid != 0 {
		// Started as someone already: no accounts to edit, nothing to
		// drop. The code runs as that user.
		log.Warn("not started as root: the work user is not set up", "uid", euid)
		return runner.WorkUser{UID: 0}, nil
	}
	if err := runner.SetupAccounts("/", &u); err != nil {
		// The numeric ids still work; names and ~ do not.
		log.Warn("work user not added to the accounts", "error", err)
	}
	if err := runner.OwnHome(u); err != nil {
		return u, err
	}
	if u.Root() {
		log.Warn("user code runs as root (LOCAL_USER_ID=0)")
	}
	for _, kv := range u.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			return u, err
		}
	}
	return u, nil
}

func runBootstrap(ctx context.Context, log *slog.Logger, path string, viaShell bool, dir string, env []string, w io.Writer) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = "/"
	}
	start := time.Now()
	code, err := runner.RunBootstrap(ctx, path, viaShell, dir, env, w)
	switch {
	case err != nil:
		log.Warn("bootstrap failed", "script", path, "error", err)
	case code != 0:
		log.Warn("bootstrap exited non-zero", "script", path, "exit_code", code, "elapsed", time.Since(start))
	default:
		log.Debug("bootstrap done", "script", path, "elapsed", time.Since(start))
	}
}

func firstNonZero(v ...int) int {
	for _, x := range v {
		if x != 0 {
			return x
		}
	}
	return 0
}
