package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ServiceRequest is the payload of `start-service`.
type ServiceRequest struct {
	Name     string         `json:"name"`
	Port     int            `json:"port"`
	Ports    []int          `json:"ports"`
	Protocol string         `json:"protocol"`
	Options  ServiceOptions `json:"options"`
}

// ServiceOptions are the user's per-start choices, limited by the
// definition's allowed_arguments and allowed_envs.
type ServiceOptions struct {
	Arguments map[string]json.RawMessage `json:"arguments"`
	Envs      map[string]string          `json:"envs"`
}

// ServiceResult is the payload of `service-result`.
type ServiceResult struct {
	Status string `json:"status"` // started, running or failed
	Error  string `json:"error,omitempty"`
}

// portPollInterval is how often a starting service's port is tried.
const portPollInterval = 100 * time.Millisecond

// services starts and stops the in-container apps of service-defs.
type services struct {
	dir          string
	workDir      string
	env          []string
	runtimePath  string
	startTimeout time.Duration
	stopGrace    time.Duration
	output       io.Writer
	log          *slog.Logger

	mu      sync.Mutex
	running map[string]*serviceProc
	locks   map[string]*sync.Mutex // one start or stop of a name at a time
}

type serviceProc struct {
	cmd   *exec.Cmd
	ports []int
	done  chan struct{} // closed once reaped
}

func newServices(cfg Config, env []string, runtimePath string) *services {
	return &services{
		dir: cfg.ServiceDefsDir, workDir: cfg.WorkDir, env: env, runtimePath: runtimePath,
		startTimeout: cfg.ServiceStartTimeout, stopGrace: cfg.ServiceStopGrace,
		output: cfg.ServiceOutput, log: cfg.Log,
		running: make(map[string]*serviceProc),
		locks:   make(map[string]*sync.Mutex),
	}
}

func (m *services) lock(name string) func() {
	m.mu.Lock()
	l, ok := m.locks[name]
	if !ok {
		l = &sync.Mutex{}
		m.locks[name] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (m *services) get(name string) *serviceProc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running[name]
}

// Start starts a service and waits for its port.
func (m *services) Start(ctx context.Context, req ServiceRequest) ServiceResult {
	if req.Protocol == "preopen" {
		// The user runs it: nothing to spawn.
		return ServiceResult{Status: "started"}
	}
	if !validServiceName(req.Name) {
		return ServiceResult{Status: "failed", Error: errUnknownService.Error()}
	}
	defer m.lock(req.Name)()
	if m.get(req.Name) != nil {
		return ServiceResult{Status: "running"}
	}
	if req.Protocol == "pty" {
		return ServiceResult{Status: "failed", Error: "not implemented yet"}
	}
	def, err := loadServiceDef(m.dir, req.Name)
	if errors.Is(err, errUnknownService) {
		// A definition in the image wins; else sshd and ttyd come from
		// the image's binaries.
		def, err = intrinsicDef(req.Name)
	}
	if err != nil {
		return ServiceResult{Status: "failed", Error: err.Error()}
	}
	if def.Noop {
		return ServiceResult{Status: "started"}
	}
	port := req.Port
	if port == 0 && len(req.Ports) > 0 {
		port = req.Ports[0]
	}
	argv, env, err := m.prepare(ctx, req, def, port)
	if err != nil {
		m.log.Warn("service not started", "service", req.Name, "error", err)
		return ServiceResult{Status: "failed", Error: err.Error()}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = m.workDir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = m.output, m.output
	// An output that is not a file is copied from a pipe that the
	// service's children may hold open: do not wait on them for long.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		reason := fmt.Sprintf("the process did not start properly: %s: %v", argv[0], err)
		switch {
		case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
			reason = "the executable file is not found: " + argv[0]
		case errors.Is(err, fs.ErrPermission):
			reason = "the target file is not executable: " + argv[0]
		}
		return ServiceResult{Status: "failed", Error: reason}
	}
	sp := &serviceProc{cmd: cmd, ports: req.Ports, done: make(chan struct{})}
	m.mu.Lock()
	m.running[req.Name] = sp
	m.mu.Unlock()
	go m.reap(req.Name, sp)
	m.log.Info("service starting", "service", req.Name, "pid", cmd.Process.Pid, "port", port)
	if port == 0 {
		return ServiceResult{Status: "started"}
	}
	if err := waitPort(ctx, port, m.startTimeout, sp.done); err != nil {
		m.stop(sp)
		m.log.Warn("service failed to open its port", "service", req.Name, "port", port, "error", err)
		if errors.Is(err, errExited) {
			return ServiceResult{Status: "failed", Error: fmt.Sprintf("the process did not start properly: %s (exit code %d)", argv[0], exitCode(cmd.ProcessState, nil))}
		}
		return ServiceResult{Status: "failed", Error: fmt.Sprintf("opening the service port timed out: %s (port %d): %v", req.Name, port, err)}
	}
	m.log.Info("service started", "service", req.Name, "pid", cmd.Process.Pid, "port", port)
	return ServiceResult{Status: "started"}
}

// prepare builds the command line and environment of a start, as
// upstream's ServiceParser.start_service does.
func (m *services) prepare(ctx context.Context, req ServiceRequest, def *ServiceDef, port int) ([]string, []string, error) {
	ports := req.Ports
	if ports == nil {
		ports = []int{}
	}
	vars := map[string]any{"ports": ports, "port": port, "runtime_path": m.runtimePath}
	for _, a := range def.PrestartActions {
		v, err := runPrestart(ctx, a, vars, m.env, m.log)
		if err != nil {
			return nil, nil, err
		}
		if a.Ref != "" && v != nil {
			vars[a.Ref] = v
		}
	}
	argv, err := def.commandArgs()
	if err != nil {
		return nil, nil, err
	}
	if len(argv) == 0 {
		return nil, nil, errors.New("empty service command")
	}
	if argv[0] == "bash" {
		// Images without bash (alpine) still have a POSIX shell.
		if _, err := exec.LookPath("bash"); err != nil {
			argv[0] = "sh"
		}
	}
	args := make(map[string]json.RawMessage, len(def.DefaultArguments)+len(req.Options.Arguments))
	for k, v := range def.DefaultArguments {
		args[k] = v
	}
	for k, v := range req.Options.Arguments {
		if !slices.Contains(def.AllowedArguments, k) {
			return nil, nil, fmt.Errorf("argument %s not allowed for service %s", k, req.Name)
		}
		args[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(args)) {
		if argv, err = appendArgument(argv, k, args[k]); err != nil {
			return nil, nil, err
		}
	}
	for i, a := range argv {
		if argv[i], err = interpolate(a, vars); err != nil {
			return nil, nil, err
		}
	}
	frozen := newEnvMap(m.env)
	var extra []string
	for k, v := range req.Options.Envs {
		if !slices.Contains(def.AllowedEnvs, k) {
			return nil, nil, fmt.Errorf("environment variable %s not allowed for service %s", k, req.Name)
		}
		if _, ok := frozen.get(k); ok {
			return nil, nil, fmt.Errorf("environment variable %s can't be overwritten", k)
		}
		extra = append(extra, k+"="+v)
	}
	for k, v := range def.Env {
		k2, err := interpolate(k, vars)
		if err != nil {
			return nil, nil, err
		}
		v2, err := interpolate(v, vars)
		if err != nil {
			return nil, nil, err
		}
		extra = append(extra, k2+"="+v2)
	}
	return argv, withEnv(m.env, extra...), nil
}

func (m *services) reap(name string, sp *serviceProc) {
	err := sp.cmd.Wait()
	m.mu.Lock()
	if m.running[name] == sp {
		delete(m.running, name)
	}
	m.mu.Unlock()
	m.log.Info("service exited", "service", name, "pid", sp.cmd.Process.Pid, "exit_code", exitCode(sp.cmd.ProcessState, err))
	close(sp.done)
}

// stop sends SIGTERM to the service's group, then SIGKILL after the grace.
func (m *services) stop(sp *serviceProc) {
	pgid := sp.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-sp.done:
		// The leader is gone; its group may not be.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return
	case <-time.After(m.stopGrace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-sp.done
}

// Stop stops a running service; an unknown or stopped one is a no-op.
func (m *services) Stop(name string) {
	if !validServiceName(name) {
		return
	}
	defer m.lock(name)()
	if sp := m.get(name); sp != nil {
		m.stop(sp)
		m.log.Info("service stopped", "service", name)
	}
}

// StopAll stops every running service, at once.
func (m *services) StopAll() {
	m.mu.Lock()
	all := make([]*serviceProc, 0, len(m.running))
	for _, sp := range m.running {
		all = append(all, sp)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, sp := range all {
		wg.Go(func() { m.stop(sp) })
	}
	wg.Wait()
}

// Apps lists the services for `get-apps`: upstream's fields (name, and
// url_template, allowed_arguments, allowed_envs when set), plus the ports
// of those running. only selects one service; "" lists all.
func (m *services) Apps(only string) []map[string]any {
	names, err := listServiceDefs(m.dir)
	if err != nil {
		m.log.Warn("cannot list service definitions", "error", err)
	}
	apps := []map[string]any{}
	for _, name := range names {
		if only != "" && name != only {
			continue
		}
		def, err := loadServiceDef(m.dir, name)
		if err != nil {
			m.log.Warn("skipping a service definition", "service", name, "error", err)
			continue
		}
		app := map[string]any{"name": name}
		if def.URLTemplate != "" {
			app["url_template"] = def.URLTemplate
		}
		if len(def.AllowedArguments) > 0 {
			app["allowed_arguments"] = def.AllowedArguments
		}
		if len(def.AllowedEnvs) > 0 {
			app["allowed_envs"] = def.AllowedEnvs
		}
		if sp := m.get(name); sp != nil && len(sp.ports) > 0 {
			app["ports"] = sp.ports
		}
		apps = append(apps, app)
	}
	return apps
}

var errExited = errors.New("the process exited")

// waitPort waits until something accepts TCP connections on the loopback
// port, the process exits, or timeout passes.
func waitPort(ctx context.Context, port int, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(portPollInterval)
	defer t.Stop()
	var d net.Dialer
	for {
		for _, host := range []string{"127.0.0.1", "::1"} {
			dctx, dcancel := context.WithTimeout(ctx, time.Second)
			c, err := d.DialContext(dctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			dcancel()
			if err == nil {
				_ = c.Close()
				return nil
			}
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("port %d: %w", port, ctx.Err())
		case <-t.C:
		}
	}
}
