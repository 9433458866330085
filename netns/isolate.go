package netns

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// Names of the isolation parts of the agent's table.
const (
	chainForward = "forward"
	setBridges   = "agent_bridges"
	// segmentTagPrefix tags a segment's rules: "backendai segment <bridge>".
	segmentTagPrefix = "backendai segment "
)

// ipForwardPath is the host's IPv4 forwarding switch.
const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// A segment is one of the agent's bridges (the default one and each
// session network's) with its subnet. Segments are isolated from each
// other: the forward chain of the agent's table drops what one routes to
// another, so a kernel of one session network cannot reach the kernels of
// another even when the host forwards IPv4 (as kernel egress needs). Each
// segment's subnet is masqueraded when it leaves for anything but its own
// bridge, and ports published on 127.0.0.1 reach its kernels:
// route_localnet is on for the bridge (and nothing else), and connections
// from 127.0.0.0/8 are masqueraded out of it.
//
//	forward (filter, priority 0, policy accept):
//	  iifname B oifname != B oifname @agent_bridges drop   (one rule per B)
//
// Only drops are ours: accepting is left to the host's own rules.

// segmentTag is the user data of segment bridge's rules.
func segmentTag(bridge string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, segmentTagPrefix+bridge)
}

// taggedSegment returns the bridge a rule's user data names, if any.
func taggedSegment(ud []byte) (string, bool) {
	c, ok := userdata.GetString(ud, userdata.TypeComment)
	if !ok {
		return "", false
	}
	return strings.CutPrefix(c, segmentTagPrefix)
}

// addIsolationChain adds (or adopts) the forward chain and the set of the
// agent's bridges to the pending batch.
// Precondition: p.mu is held or p is not shared yet.
func (p *Publisher) addIsolationChain() {
	policy := nftables.ChainPolicyAccept
	p.forward = p.conn.AddChain(&nftables.Chain{
		Name: chainForward, Table: p.table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	p.bridges = &nftables.Set{Table: p.table, Name: setBridges, KeyType: nftables.TypeIFName}
}

// AddSegment isolates bridge from the agent's other bridges and
// masquerades subnet's egress (subnet may be invalid: no masquerade). It
// is idempotent: the segment's rules are rewritten.
func (p *Publisher) AddSegment(bridge string, subnet netip.Prefix) error {
	if err := checkBridgeName(bridge); err != nil || bridge == "" {
		return fmt.Errorf("add segment: bridge name %q", bridge)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.delSegmentRulesLocked(bridge); err != nil {
		return fmt.Errorf("add segment %s: %w", bridge, err)
	}
	if err := p.conn.SetAddElements(p.bridges, []nftables.SetElement{{Key: nftIfname(bridge)}}); err != nil {
		return fmt.Errorf("add segment %s: %w", bridge, err)
	}
	tag := segmentTag(bridge)
	p.conn.AddRule(&nftables.Rule{Table: p.table, Chain: p.forward, UserData: tag, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: nftIfname(bridge)},
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: nftIfname(bridge)},
		&expr.Lookup{SourceRegister: 1, SetName: p.bridges.Name, SetID: p.bridges.ID},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	p.conn.AddRule(&nftables.Rule{Table: p.table, Chain: p.post, UserData: tag, Exprs: masqExprs(nftLoopback, bridge, true)})
	if subnet.IsValid() {
		if !subnet.Addr().Is4() {
			return fmt.Errorf("add segment %s: subnet %s is not IPv4", bridge, subnet)
		}
		p.conn.AddRule(&nftables.Rule{Table: p.table, Chain: p.post, UserData: tag, Exprs: masqExprs(subnet, bridge, false)})
	}
	if err := p.conn.Flush(); err != nil {
		return fmt.Errorf("add segment %s: %w", bridge, err)
	}
	if err := os.WriteFile(routeLocalnetPath(bridge), []byte("1"), 0o644); err != nil {
		return fmt.Errorf("add segment %s: enable route_localnet: %w", bridge, err)
	}
	return nil
}

// RemoveSegment removes bridge's isolation and masquerade rules and takes
// it out of the set of the agent's bridges; an unknown bridge is not an
// error.
func (p *Publisher) RemoveSegment(bridge string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.delSegmentRulesLocked(bridge); err != nil {
		return fmt.Errorf("remove segment %s: %w", bridge, err)
	}
	elems, err := p.conn.GetSetElements(p.bridges)
	if err != nil {
		return fmt.Errorf("remove segment %s: %w", bridge, err)
	}
	for _, e := range elems {
		if string(e.Key) == string(nftIfname(bridge)) {
			if err := p.conn.SetDeleteElements(p.bridges, []nftables.SetElement{{Key: e.Key}}); err != nil {
				return fmt.Errorf("remove segment %s: %w", bridge, err)
			}
		}
	}
	if err := p.conn.Flush(); err != nil {
		return fmt.Errorf("remove segment %s: %w", bridge, err)
	}
	return nil
}

// Segments returns the bridges that have isolation rules.
func (p *Publisher) Segments() ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rules, err := p.conn.GetRules(p.table, p.forward)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	var out []string
	for _, r := range rules {
		if b, ok := taggedSegment(r.UserData); ok {
			out = append(out, b)
		}
	}
	return out, nil
}

// delSegmentRulesLocked queues the deletion of bridge's rules in the
// forward and postrouting chains.
// Precondition: p.mu is held.
func (p *Publisher) delSegmentRulesLocked(bridge string) error {
	for _, c := range []*nftables.Chain{p.forward, p.post} {
		rules, err := p.conn.GetRules(p.table, c)
		if err != nil {
			return fmt.Errorf("list rules of %s/%s: %w", p.table.Name, c.Name, err)
		}
		for _, r := range rules {
			if b, ok := taggedSegment(r.UserData); ok && b == bridge {
				if err := p.conn.DelRule(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// EnableForwarding turns the host's IPv4 forwarding on, which kernel
// egress through the masquerade needs, and reports whether it was off.
// It is a host-wide switch (Docker flips it too); the agent does it when
// it sets up bridge networking, and logs it.
func EnableForwarding() (changed bool, err error) {
	b, err := os.ReadFile(ipForwardPath)
	if err != nil {
		return false, fmt.Errorf("read ip_forward: %w", err)
	}
	if strings.TrimSpace(string(b)) == "1" {
		return false, nil
	}
	if err := os.WriteFile(ipForwardPath, []byte("1"), 0o644); err != nil {
		return false, fmt.Errorf("enable ip_forward: %w", err)
	}
	return true, nil
}
