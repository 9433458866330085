package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/baiagent/agent/netns"
)

// NetworkMode is how a kernel is networked (upstream's network_config).
type NetworkMode string

// Network modes.
const (
	// NetBridge gives the kernel its own namespace on the agent's bridge,
	// with published ports (the default where networking is set up).
	NetBridge NetworkMode = "bridge"
	// NetHost shares the host's namespace; its ports come from the pool
	// and are listed in /home/config/intrinsic-ports.json.
	NetHost NetworkMode = "host"
	// NetNone is loopback only.
	NetNone NetworkMode = "none"
)

// Networking is what the runtime needs to network kernels; without it only
// NetNone is available.
type Networking struct {
	Bridge    *netns.Manager
	Publisher *netns.Publisher
	Ports     *netns.PortPool
	// BindHost is where service ports are published (container.bind-host);
	// the unspecified address means every local address.
	BindHost netip.Addr
	// SessionPool holds the /24 subnets of session networks; invalid (the
	// zero value) means session networks are not offered.
	SessionPool netip.Prefix
}

// Publish asks for a container port to be published on a host port.
type Publish struct {
	ContainerPort int
	// Loopback publishes on 127.0.0.1 only (the runner's REPL ports).
	Loopback bool
	// Intrinsic marks the runner's intrinsic services (sshd 2200, ttyd
	// 7681), which may use those reserved numbers; users' ports may not.
	Intrinsic bool
}

// PortBinding is a published port of a running kernel.
type PortBinding struct {
	ContainerPort int    `json:"container_port"`
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
}

// NetState is what a kernel's state records of its network.
type NetState struct {
	Mode NetworkMode `json:"mode"`
	// Network is the session network joined ("" for the agent's bridge).
	Network  string        `json:"network,omitempty"`
	Hostname string        `json:"hostname,omitempty"`
	IP       string        `json:"ip,omitempty"`
	Bindings []PortBinding `json:"bindings,omitempty"`
	// HostPorts are all the pool ports the kernel holds.
	HostPorts []int `json:"host_ports,omitempty"`
}

// intrinsicPorts are the host-mode ports of upstream's intrinsic services.
var intrinsicPorts = []string{"replin", "replout", "sshd", "ttyd"}

// setupNetwork gives a kernel its network; it returns the namespace to
// join (bridge), whether to share the host's (host), and pushes the
// rollbacks of everything it did.
func (m *Manager) setupNetwork(ctx context.Context, req CreateRequest, configDir string, rollback *undo) (NetState, string, error) {
	mode := req.Network
	if mode == "" {
		mode = NetNone
	}
	ns := NetState{Mode: mode}
	n := m.o.Networking
	if mode != NetNone && n == nil {
		return ns, "", fmt.Errorf("network mode %s: %w: networking is not set up on this agent", mode, ErrInvalidArgument)
	}
	switch mode {
	case NetNone:
		if len(req.Publish) > 0 {
			return ns, "", fmt.Errorf("publishing ports needs network mode bridge: %w", ErrInvalidArgument)
		}
		return ns, "", nil
	case NetHost:
		ports, err := n.Ports.Take(req.ID, len(intrinsicPorts))
		if err != nil {
			return ns, "", err
		}
		rollback.push(func(context.Context) error { n.Ports.Release(req.ID); return nil })
		ns.HostPorts = ports
		named := map[string]int{}
		for i, name := range intrinsicPorts {
			named[name] = ports[i]
		}
		b, _ := json.Marshal(named)
		if err := os.WriteFile(filepath.Join(configDir, "intrinsic-ports.json"), b, 0o644); err != nil {
			return ns, "", fmt.Errorf("write intrinsic-ports.json: %w", err)
		}
		return ns, "", nil
	case NetBridge:
	default:
		return ns, "", fmt.Errorf("network mode %q: %w", mode, ErrInvalidArgument)
	}
	// A user's ports must not take the runner's reserved numbers; the
	// runtime's own loopback ports (REPL 2000/2001) may.
	var cports []int
	for _, p := range req.Publish {
		if !p.Loopback && !p.Intrinsic {
			cports = append(cports, p.ContainerPort)
		}
	}
	if err := netns.CheckPreopenPorts(cports); err != nil {
		return ns, "", err
	}
	attacher, err := m.attacherFor(req.NetworkName)
	if err != nil {
		return ns, "", err
	}
	att, err := attacher.Attach(ctx, req.ID)
	if err != nil {
		return ns, "", err
	}
	rollback.push(func(ctx context.Context) error { return attacher.Detach(ctx, req.ID) })
	ns.IP, ns.Network = att.Addr.Addr().String(), req.NetworkName
	if len(req.Publish) == 0 {
		return ns, att.NSPath, nil
	}
	ports, err := n.Ports.Take(req.ID, len(req.Publish))
	if err != nil {
		return ns, "", err
	}
	rollback.push(func(context.Context) error { n.Ports.Release(req.ID); return nil })
	ns.HostPorts = ports
	var maps []netns.Mapping
	for i, p := range req.Publish {
		host := n.BindHost
		if p.Loopback {
			host = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		maps = append(maps, netns.Mapping{KernelID: req.ID, HostIP: host, HostPort: ports[i], KernelIP: att.Addr.Addr(), KernelPort: p.ContainerPort, Proto: "tcp"})
		ns.Bindings = append(ns.Bindings, PortBinding{ContainerPort: p.ContainerPort, HostIP: host.String(), HostPort: ports[i]})
	}
	if err := n.Publisher.Publish(maps); err != nil {
		return ns, "", err
	}
	rollback.push(func(context.Context) error { return n.Publisher.Unpublish(req.ID) })
	return ns, att.NSPath, nil
}

// teardownNetwork releases a kernel's network. Ports and rules go at once;
// the namespace and veth (about 25 ms of kernel work) go in the
// background, off the destroy's critical path. A later create of the same
// id waits for it (netns serialises calls per kernel).
func (m *Manager) teardownNetwork(ctx context.Context, id string, ns NetState) error {
	n := m.o.Networking
	if n == nil || ns.Mode == "" || ns.Mode == NetNone {
		return nil
	}
	var err error
	if ns.Mode == NetBridge && len(ns.Bindings) > 0 {
		err = n.Publisher.Unpublish(id)
	}
	n.Ports.Release(id)
	if ns.Mode == NetBridge {
		attacher, aerr := m.attacherFor(ns.Network)
		if aerr != nil {
			return errors.Join(err, aerr)
		}
		if ns.Network != "" {
			m.updatePeerHosts(ns.Network, id, nil)
		}
		m.bg.Add(1)
		go func() {
			defer m.bg.Done()
			if derr := attacher.Detach(context.WithoutCancel(ctx), id); derr != nil {
				m.log.Error("kernel network not removed", "kernel_id", id, "err", derr)
			}
		}()
	}
	return err
}

// Close waits for background teardown to finish.
func (m *Manager) Close() { m.bg.Wait() }

// NetCounters returns the bytes a bridged kernel (on the agent's bridge
// or a session network) received and sent. Kernels in host or none mode
// have no counters of their own: ErrFailedPrecondition.
func (m *Manager) NetCounters(id string) (rx, tx uint64, err error) {
	if m.o.Networking == nil {
		return 0, 0, fmt.Errorf("kernel %s: %w: no networking", id, ErrFailedPrecondition)
	}
	st, err := m.Get(id)
	if err != nil {
		return 0, 0, err
	}
	if st.Net.Mode != NetBridge {
		return 0, 0, fmt.Errorf("kernel %s: %w: network mode %q has no counters of its own", id, ErrFailedPrecondition, st.Net.Mode)
	}
	a, err := m.attacherFor(st.Net.Network)
	if err != nil {
		return 0, 0, err
	}
	return a.Counters(id)
}

// CgroupPath is the kernel's absolute cgroup path ("/backendai/<id>"),
// the same in every v1 hierarchy and on v2.
func (m *Manager) CgroupPath(id string) string { return m.cgroupPath(id) }

// recoverNetwork reconciles the network with the kernels recovered: rules,
// namespaces, links and leases of others go; the pool is restored.
func (m *Manager) recoverNetwork(ctx context.Context, states []*State) error {
	n := m.o.Networking
	if n == nil {
		return nil
	}
	if err := m.loadSessions(); err != nil {
		return err
	}
	keep := map[string]bool{}
	owners := map[string][]int{}
	for _, st := range states {
		keep[st.ID] = true
		if len(st.Net.HostPorts) > 0 {
			owners[st.ID] = st.Net.HostPorts
		}
	}
	if removed, err := n.Bridge.Reconcile(ctx, keep); err != nil {
		return fmt.Errorf("reconcile kernel networks: %w", err)
	} else if len(removed) > 0 {
		m.log.Info("removed networks of kernels that no longer exist", "removed", removed)
	}
	for _, sn := range m.sessions {
		if _, err := sn.mgr.Reconcile(ctx, keep); err != nil {
			return fmt.Errorf("reconcile session network %s: %w", sn.Name, err)
		}
	}
	if _, err := n.Publisher.Reconcile(keep); err != nil {
		return fmt.Errorf("reconcile published ports: %w", err)
	}
	if err := n.Ports.Restore(owners); err != nil {
		return fmt.Errorf("restore port pool: %w", err)
	}
	return nil
}
