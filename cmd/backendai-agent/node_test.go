package main

import (
	"log/slog"
	"testing"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/rpc/registry"
)

func TestApplyOverrides(t *testing.T) {
	cfg := configs.Default()
	ov := &registry.Overrides{
		Container: registry.Tree{"kernel-uid": "1100", "kernel-gid": "not-a-number"},
		Agent:     registry.Tree{"container-logs": map[string]any{"chunk-size": "128k", "max-length": "bogus"}},
	}
	gid, maxLen := cfg.Container.KernelGID, cfg.ContainerLogs.MaxLength
	applyOverrides(cfg, ov, slog.New(slog.DiscardHandler))
	if cfg.Container.KernelUID != 1100 || cfg.Container.KernelGID != gid {
		t.Errorf("uid %d gid %d", cfg.Container.KernelUID, cfg.Container.KernelGID)
	}
	if cfg.ContainerLogs.ChunkSize != 128<<10 || cfg.ContainerLogs.MaxLength != maxLen {
		t.Errorf("chunk %d max %d", cfg.ContainerLogs.ChunkSize, cfg.ContainerLogs.MaxLength)
	}
}

func TestRPCHost(t *testing.T) {
	cfg := configs.Default()
	cfg.Agent.RPCListenAddr = configs.HostPort{Host: "10.1.2.3", Port: 6001}
	if h := rpcHost(cfg, ""); h != "10.1.2.3" {
		t.Errorf("listen host: %s", h)
	}
	cfg.Agent.AdvertisedRPCAddr = &configs.HostPort{Host: "node1.example", Port: 7001}
	if h := rpcHost(cfg, ""); h != "node1.example" || rpcAddr(cfg, h) != "tcp://node1.example:7001" {
		t.Errorf("advertised: %s %s", h, rpcAddr(cfg, h))
	}
	cfg.Agent.AdvertisedRPCAddr = nil
	cfg.Agent.RPCListenAddr.Host = "0.0.0.0"
	if h := rpcHost(cfg, ""); h == "" || h == "0.0.0.0" {
		t.Errorf("unspecified listen host gave %q", h)
	}
}
