package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/netns"
	"github.com/baiagent/agent/runtime"
)

// The agent's bridge and nftables table. No agent.toml key names them
// (upstream used Docker's bridge); the subnet is checked against the
// host's routes when the bridge is set up.
const (
	bridgeName = "bai0"
	nftTable   = netns.DefaultTable
)

// bridgeSubnet is the kernels' subnet (the tests use 10.231-10.233.x.0/24).
func bridgeSubnet() netip.Prefix { return netip.MustParsePrefix("10.230.0.0/16") }

// sessionPool holds the /24 subnets of session networks.
func sessionPool() netip.Prefix { return netip.MustParsePrefix("10.240.0.0/16") }

// newNetworking sets up the bridge, the namespace manager, the port pool
// over container.port-range and the agent's nftables table.
func newNetworking(ctx context.Context, cfg *configs.Config, stateDir string) (*runtime.Networking, error) {
	bind, err := bindHost(ctx, cfg.Container.BindHost)
	if err != nil {
		return nil, err
	}
	br, err := netns.EnsureBridge(netns.BridgeConfig{Name: bridgeName, Subnet: bridgeSubnet()})
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
	pr := cfg.Container.PortRange
	pool, err := netns.NewPortPool(pr[0], pr[1], time.Duration(cfg.Container.PortReuseCooldown), time.Now)
	if err != nil {
		return nil, err
	}
	return &runtime.Networking{Bridge: mgr, Publisher: pub, Ports: pool, BindHost: bind, SessionPool: sessionPool()}, nil
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
