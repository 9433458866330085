package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/netns"
	"github.com/baiagent/agent/runtime"
)

// The agent's default bridge and its nftables table. container.
// alternative-bridge names another bridge; container.bridge-subnet and
// container.session-network-pool give the subnets (checked against the
// host's routes when the bridge is set up).
const (
	bridgeName = "bai0"
	nftTable   = netns.DefaultTable
)

// newNetworking sets up the bridge, the namespace manager, the port pool
// over container.port-range and the agent's nftables table, and turns the
// host's IPv4 forwarding on (kernel egress is masqueraded; the agent's
// forward rules keep its bridges apart).
func newNetworking(ctx context.Context, cfg *configs.Config, log *slog.Logger, stateDir string) (*runtime.Networking, error) {
	bind, err := bindHost(ctx, cfg.Container.BindHost)
	if err != nil {
		return nil, err
	}
	subnet, err := netip.ParsePrefix(cfg.Container.BridgeSubnet)
	if err != nil {
		return nil, fmt.Errorf("container.bridge-subnet: %w", err)
	}
	pool, err := netip.ParsePrefix(cfg.Container.SessionNetworkPool)
	if err != nil {
		return nil, fmt.Errorf("container.session-network-pool: %w", err)
	}
	if pool.Overlaps(subnet) {
		return nil, fmt.Errorf("container.session-network-pool %s overlaps container.bridge-subnet %s", pool, subnet)
	}
	br, err := netns.EnsureBridge(netns.BridgeConfig{Name: cmpOr(cfg.Container.AlternativeBridge, bridgeName), Subnet: subnet})
	if err != nil {
		return nil, err
	}
	mgr, err := netns.NewManager(br, netns.Options{PinDir: filepath.Join(stateDir, "netns"), StateDir: filepath.Join(stateDir, "leases")})
	if err != nil {
		return nil, err
	}
	pub, err := netns.NewPublisher(netns.PublisherOptions{Table: nftTable, Bridge: br.Name(), Subnet: br.Subnet()})
	if err != nil {
		return nil, err
	}
	if changed, err := netns.EnableForwarding(); err != nil {
		log.Warn("kernels on the bridge will have no egress", "err", err)
	} else if changed {
		log.Info("enabled net.ipv4.ip_forward for kernel egress (the agent's forward rules isolate its bridges)")
	}
	pr := cfg.Container.PortRange
	ports, err := netns.NewPortPool(pr[0], pr[1], time.Duration(cfg.Container.PortReuseCooldown), time.Now)
	if err != nil {
		return nil, err
	}
	return &runtime.Networking{Bridge: mgr, Publisher: pub, Ports: ports, BindHost: bind, SessionPool: pool}, nil
}

// bindHost resolves container.bind-host: empty means every local address,
// a name is looked up (IPv4).
func bindHost(ctx context.Context, host string) (netip.Addr, error) {
	if host == "" {
		return netip.IPv4Unspecified(), nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("container.bind-host %q: %w", host, err)
	}
	return addrs[0], nil
}
