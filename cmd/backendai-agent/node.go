//go:build !slimrun

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/rpc/agent"
	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/rpc/registry"
)

// agentID is agent.id, else upstream's default i-<hostname>.
func agentID(cfg *configs.Config) (string, error) {
	if cfg.Agent.ID != "" {
		return cfg.Agent.ID, nil
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("agent id: %w", err)
	}
	return "i-" + h, nil
}

// rpcHost is the host the manager reaches the agent at: the advertised
// address, else the listen host, else (listening on every address) the
// local address in etcd's agent subnet, else the first global address.
func rpcHost(cfg *configs.Config, agentSubnet string) string {
	if a := cfg.Agent.AdvertisedRPCAddr; a != nil && a.Host != "" {
		return a.Host
	}
	h := cfg.Agent.RPCListenAddr.Host
	if ip, err := netip.ParseAddr(h); h != "" && (err != nil || !ip.IsUnspecified()) {
		return h
	}
	var subnet netip.Prefix
	if agentSubnet != "" {
		subnet, _ = netip.ParsePrefix(agentSubnet)
	}
	addrs, _ := net.InterfaceAddrs()
	first := ""
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil || !pfx.Addr().IsGlobalUnicast() {
			continue
		}
		if subnet.IsValid() && subnet.Contains(pfx.Addr()) {
			return pfx.Addr().String()
		}
		if first == "" && pfx.Addr().Is4() {
			first = pfx.Addr().String()
		}
	}
	if first == "" {
		return "127.0.0.1"
	}
	return first
}

// rpcAddr is "tcp://host:port" as the manager dials it.
func rpcAddr(cfg *configs.Config, host string) string {
	port := cfg.Agent.RPCListenAddr.Port
	if a := cfg.Agent.AdvertisedRPCAddr; a != nil && a.Port != 0 {
		port = a.Port
	}
	return "tcp://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// openRegistry connects to etcd. When it cannot be reached and the
// configuration asks for it (etcd.local-fallback), a local single-node
// etcd is started first; its handle is returned to be stopped at the end.
func openRegistry(ctx context.Context, cfg *configs.Config, log *slog.Logger) (*registry.Client, *localEtcd, error) {
	var addrs []string
	for _, a := range cfg.Etcd.Addr {
		addrs = append(addrs, a.String())
	}
	opts := registry.Options{
		Namespace: cfg.Etcd.Namespace, Addrs: addrs, User: cfg.Etcd.User, Password: cfg.Etcd.Password,
		Log: log.With("component", "etcd"),
	}
	var local *localEtcd
	if cfg.Etcd.LocalFallback && len(addrs) > 0 {
		var err error
		local, err = startLocalEtcd(ctx, localEtcdOptions{
			DataDir: cfg.Agent.VarBasePath + "/etcd", ClientAddr: addrs[0], Logger: log.With("component", "local-etcd"),
		})
		if err != nil {
			return nil, nil, err
		}
	}
	c, err := registry.Open(ctx, opts)
	if err != nil {
		if local != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopDeadline)
			_ = local.Stop(stopCtx)
			cancel()
		}
		return nil, nil, err
	}
	return c, local, nil
}

// redisConfig turns etcd's config/redis into the producer's form.
func redisConfig(t registry.Tree) (events.RedisConfig, error) {
	r, err := registry.ParseRedis(t)
	if err != nil {
		return events.RedisConfig{}, err
	}
	return events.RedisConfig{RedisTarget: events.RedisTarget{
		Addr: r.Addr, Sentinel: r.Sentinel, ServiceName: r.ServiceName, Password: r.Password,
		UseTLS: r.UseTLS, TLSSkipVerify: r.TLSSkipVerify,
		SocketTimeout: r.Helper.SocketTimeout, SocketConnectTimeout: r.Helper.SocketConnectTimeout,
	}}, nil
}

// curveOptions loads the CURVE keys when agent.rpc-auth-agent-keypair is
// set; the manager's public key is then required.
func curveOptions(cfg *configs.Config) (*callosum.CurveOptions, error) {
	if cfg.Agent.RPCAuthAgentKeypair == "" {
		return nil, nil
	}
	pub, sec, err := callosum.LoadCertificate(cfg.Agent.RPCAuthAgentKeypair)
	if err != nil {
		return nil, fmt.Errorf("agent.rpc-auth-agent-keypair: %w", err)
	}
	if sec == "" {
		return nil, fmt.Errorf("agent.rpc-auth-agent-keypair: %s holds no secret key", cfg.Agent.RPCAuthAgentKeypair)
	}
	if cfg.Agent.RPCAuthManagerPublicKey == "" {
		return nil, errors.New("agent.rpc-auth-agent-keypair is set but agent.rpc-auth-manager-public-key is not")
	}
	mgr, _, err := callosum.LoadCertificate(cfg.Agent.RPCAuthManagerPublicKey)
	if err != nil {
		return nil, fmt.Errorf("agent.rpc-auth-manager-public-key: %w", err)
	}
	return &callosum.CurveOptions{PublicKey: pub, SecretKey: sec, ManagerPublicKey: mgr}, nil
}

// archName is upstream's architecture name of this build.
func archName() string {
	switch goruntime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return goruntime.GOARCH
}

// serviceOptions fills the RPC service's options from the configuration.
func serviceOptions(cfg *configs.Config, id, host string, curve *callosum.CurveOptions) agent.Options {
	o := agent.Options{
		AgentID: id, Addr: rpcAddr(cfg, host), Host: host,
		ScalingGroup: cfg.Agent.ScalingGroup, Region: cfg.Agent.Region, PublicHost: cfg.Agent.PublicHost,
		Version: version, Arch: archName(),
		StopTimeout:  10 * time.Second,
		Heartbeat:    time.Duration(cfg.Debug.HeartbeatInterval),
		LogChunkSize: int(cfg.ContainerLogs.ChunkSize),
		LocalConfig: map[string]any{
			"agent":   map[string]any{"abuse-report-path": nilIfEmpty(cfg.Agent.AbuseReportPath)},
			"watcher": map[string]any{},
		},
	}
	o.KernelUID, o.KernelGID = kernelIDs(cfg)
	if um := cfg.Agent.UtilizationMetric; um.Node.Enable {
		o.NodeStatsInterval = time.Duration(um.Node.Interval)
	}
	if curve != nil {
		o.PublicKey = []byte(curve.PublicKey)
	}
	return o
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// applyOverrides takes what upstream's agent takes from etcd at start-up
// over agent.toml: config/container's kernel-uid and kernel-gid, and
// config/agent/container-logs. A value that does not parse is a warning,
// the file's value stays.
func applyOverrides(cfg *configs.Config, ov *registry.Overrides, log *slog.Logger) {
	for key, dst := range map[string]*int{"kernel-uid": &cfg.Container.KernelUID, "kernel-gid": &cfg.Container.KernelGID} {
		v, ok := ov.Container[key].(string)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			log.Warn("etcd override ignored", "key", "config/container/"+key, "value", v, "err", err)
			continue
		}
		*dst = n
	}
	logs, ok := ov.Agent["container-logs"].(map[string]any)
	if !ok {
		return
	}
	for key, dst := range map[string]*configs.BinarySize{"chunk-size": &cfg.ContainerLogs.ChunkSize, "max-length": &cfg.ContainerLogs.MaxLength} {
		v, ok := logs[key].(string)
		if !ok {
			continue
		}
		n, err := configs.ParseBinarySize(v)
		if err != nil || n <= 0 {
			log.Warn("etcd override ignored", "key", "config/agent/container-logs/"+key, "value", v, "err", err)
			continue
		}
		*dst = n
	}
}
