package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/baiagent/agent/netns"
)

// A session network (upstream's create_local_network) joins the kernels of
// a multi-kernel single-node session: a bridge and subnet of its own, so
// its members reach each other by cluster hostname (written into their
// /etc/hosts) and kernels of other networks are on another segment.
type sessionNet struct {
	Name   string       `json:"name"`
	Bridge string       `json:"bridge"`
	Subnet netip.Prefix `json:"subnet"`
	br     *netns.Bridge
	mgr    *netns.Manager
}

// validNetName: a letter or digit, then up to 127 letters, digits, "_", "." or "-".
func validNetName(s string) bool { return validName(s, 128, "_.-") }

func (m *Manager) sessionsDir() string { return filepath.Join(m.o.StateDir, "networks") }

// CreateNetwork makes a session network. Its subnet is the first free /24
// of Networking.SessionPool. Creating an existing network is not an error.
func (m *Manager) CreateNetwork(ctx context.Context, name string) error {
	n := m.o.Networking
	if n == nil || !n.SessionPool.IsValid() {
		return fmt.Errorf("create network %s: %w: session networks are not set up on this agent", name, ErrFailedPrecondition)
	}
	if !validNetName(name) {
		return fmt.Errorf("create network %q: %w", name, ErrInvalidArgument)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[name]; ok {
		return nil
	}
	used := map[netip.Prefix]bool{}
	for _, s := range m.sessions {
		used[s.Subnet] = true
	}
	var subnet netip.Prefix
	for p := range subnets24(n.SessionPool) {
		if !used[p] {
			subnet = p
			break
		}
	}
	if !subnet.IsValid() {
		return fmt.Errorf("create network %s: %w: no free subnet in %s", name, ErrUnavailable, n.SessionPool)
	}
	h := sha256.Sum256([]byte(name))
	s := &sessionNet{Name: name, Bridge: "bais" + hex.EncodeToString(h[:4]), Subnet: subnet}
	if err := m.openSession(s); err != nil {
		m.closeSession(s)
		return fmt.Errorf("create network %s: %w", name, err)
	}
	b, _ := json.Marshal(s)
	if err := os.MkdirAll(m.sessionsDir(), 0o700); err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(m.sessionsDir(), name+".json"), b, 0o600); err != nil {
		m.closeSession(s)
		return fmt.Errorf("create network %s: %w", name, err)
	}
	m.sessions[name] = s
	m.log.Info("session network created", "network", name, "bridge", s.Bridge, "subnet", subnet.String())
	return nil
}

// openSession sets up (or adopts) the bridge of a session network.
func (m *Manager) openSession(s *sessionNet) error {
	br, err := netns.EnsureBridge(netns.BridgeConfig{Name: s.Bridge, Subnet: s.Subnet})
	if err != nil {
		return err
	}
	s.br = br
	pinDir := filepath.Dir(m.o.Networking.Bridge.PinPath("x"))
	mgr, err := netns.NewManager(br, netns.Options{PinDir: pinDir, StateDir: filepath.Join(m.sessionsDir(), s.Name, "leases")})
	if err != nil {
		return err
	}
	s.mgr = mgr
	// Isolated from the agent's other bridges; egress masqueraded.
	if p := m.o.Networking.Publisher; p != nil {
		if err := p.AddSegment(s.Bridge, s.Subnet); err != nil {
			return err
		}
	}
	return nil
}

// closeSession undoes a session network's creation that failed half-way:
// its bridge and rules go (best effort, logged).
func (m *Manager) closeSession(s *sessionNet) {
	if s.br != nil {
		if err := s.br.Remove(); err != nil {
			m.log.Warn("remove the bridge of a failed session network", "network", s.Name, "bridge", s.Bridge, "err", err)
		}
	}
	if p := m.o.Networking.Publisher; p != nil {
		if err := p.RemoveSegment(s.Bridge); err != nil {
			m.log.Warn("remove the rules of a failed session network", "network", s.Name, "bridge", s.Bridge, "err", err)
		}
	}
}

// DestroyNetwork removes a session network that no kernel uses any more.
func (m *Manager) DestroyNetwork(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[name]
	if !ok {
		return nil
	}
	if members := m.membersLocked(name, ""); len(members) > 0 {
		return fmt.Errorf("destroy network %s: %w: kernels %v still use it", name, ErrFailedPrecondition, sortedKeys(members))
	}
	m.bg.Wait() // detaches of its last members
	if err := s.br.Remove(); err != nil {
		return fmt.Errorf("destroy network %s: %w", name, err)
	}
	if p := m.o.Networking.Publisher; p != nil {
		if err := p.RemoveSegment(s.Bridge); err != nil {
			return fmt.Errorf("destroy network %s: %w", name, err)
		}
	}
	_ = os.RemoveAll(filepath.Join(m.sessionsDir(), name))
	if err := os.Remove(filepath.Join(m.sessionsDir(), name+".json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("destroy network %s: %w", name, err)
	}
	delete(m.sessions, name)
	return nil
}

// loadSessions reopens the session networks a previous agent made.
func (m *Manager) loadSessions() error {
	entries, err := os.ReadDir(m.sessionsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list session networks: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(m.sessionsDir(), e.Name()))
		if err != nil {
			return fmt.Errorf("read session network: %w", err)
		}
		s := &sessionNet{}
		if err := json.Unmarshal(b, s); err != nil {
			return fmt.Errorf("read session network %s: %w", e.Name(), err)
		}
		if err := m.openSession(s); err != nil {
			return fmt.Errorf("reopen session network %s: %w", s.Name, err)
		}
		m.sessions[s.Name] = s
	}
	return nil
}

// attacherFor is the netns manager of the default bridge or of a session
// network.
func (m *Manager) attacherFor(network string) (*netns.Manager, error) {
	if network == "" {
		return m.o.Networking.Bridge, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[network]
	if !ok {
		return nil, fmt.Errorf("network %s: %w", network, ErrNotFound)
	}
	return s.mgr, nil
}

// membersLocked maps the hostnames of a session network's kernels to their
// addresses, leaving out the kernel skip. Preconditions: m.mu is held.
func (m *Manager) membersLocked(network, skip string) map[string]string {
	out := map[string]string{}
	for id, k := range m.kernels {
		if id == skip {
			continue
		}
		k.mu.Lock()
		if st := k.state; st != nil && st.Net.Network == network && st.Net.IP != "" {
			out[st.Net.Hostname] = st.Net.IP
		}
		k.mu.Unlock()
	}
	return out
}

// updatePeerHosts rewrites, in place (the file is bind-mounted), the
// /etc/hosts of every member of a session network but skip.
func (m *Manager) updatePeerHosts(network, skip string, extra map[string]string) {
	m.mu.Lock()
	members := m.membersLocked(network, skip)
	var ids []string
	for id, k := range m.kernels {
		k.mu.Lock()
		if st := k.state; id != skip && st != nil && st.Net.Network == network {
			ids = append(ids, id)
		}
		k.mu.Unlock()
	}
	m.mu.Unlock()
	for h, ip := range extra {
		members[h] = ip
	}
	for _, id := range ids {
		k, err := m.lookup(id)
		if err != nil {
			continue
		}
		k.mu.Lock()
		host, ip := k.state.Net.Hostname, k.state.Net.IP
		k.mu.Unlock()
		if err := os.WriteFile(filepath.Join(m.kdataDir(id), "hosts"), []byte(hostsFile(host, ip, members)), 0o644); err != nil {
			m.log.Warn("peer /etc/hosts not updated", "kernel_id", id, "err", err)
		}
	}
}

// subnets24 yields the /24 subnets of a pool in order.
func subnets24(pool netip.Prefix) func(func(netip.Prefix) bool) {
	return func(yield func(netip.Prefix) bool) {
		if !pool.Addr().Is4() || pool.Bits() > 24 {
			return
		}
		a := pool.Masked().Addr().As4()
		count := 1 << (24 - pool.Bits())
		for i := 0; i < count; i++ {
			b := a
			v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 + uint32(i)<<8
			b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), 0
			if !yield(netip.PrefixFrom(netip.AddrFrom4(b), 24)) {
				return
			}
		}
	}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
