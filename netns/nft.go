package netns

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
)

// DefaultTable is the nftables table (family ip) the agent owns.
const DefaultTable = "backendai"

// Names of the chains of the agent's table.
const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
)

// nftLoopback is 127.0.0.0/8: connections to REPL ports published on
// 127.0.0.1 leave with such a source and are masqueraded on the bridge.
var nftLoopback = netip.MustParsePrefix("127.0.0.0/8")

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Table is the name of the agent's own table (family ip); default
	// DefaultTable. The Publisher never touches any other table.
	Table string
	// Bridge is the agent's bridge. When set, connections from 127.0.0.0/8
	// are masqueraded out of it and route_localnet is enabled on it (and on
	// nothing else), so that ports published on 127.0.0.1 reach kernels. The
	// bridge must exist when NewPublisher runs.
	Bridge string
	// Subnet is the kernels' subnet; when valid, its egress not via the
	// bridge is masqueraded.
	Subnet netip.Prefix
}

// Publisher publishes kernel ports with DNAT rules in the agent's own
// nftables table, talking netlink through github.com/google/nftables:
//
//	prerouting  (nat, dstnat -100): DNAT for traffic from outside
//	output      (nat, -100):        DNAT for connections from the host itself
//	postrouting (nat, srcnat 100):  masquerade
//
// Every DNAT rule carries its kernel id in its comment (rule user data), so
// the rules can be read back after an agent restart. Publish works from an
// index of the rules, refreshed from the kernel by every other operation,
// so that its cost does not grow with the number of rules; Unpublish,
// Reconcile and Mappings read the chains. A Publisher is safe for
// concurrent use; only it may change its table.
type Publisher struct {
	opts PublisherOptions

	mu    sync.Mutex
	conn  *nftables.Conn
	table *nftables.Table
	dnat  []*nftables.Chain // prerouting, output
	post  *nftables.Chain   // postrouting: masquerade
	// forward and bridges isolate the agent's segments (isolate.go).
	forward *nftables.Chain
	bridges *nftables.Set
	// known indexes the published mappings as last read from or written to
	// the kernel; nil means unknown (read again before use). A key whose
	// rules are not one identical rule per DNAT chain maps to the zero
	// Mapping, so that Publish repairs it.
	known map[mappingKey]Mapping
}

// NewPublisher creates (or adopts, after a restart) the table and its
// chains, rewrites the masquerade rules and enables route_localnet on the
// bridge. Existing DNAT rules are kept: see Mappings and Reconcile.
func NewPublisher(o PublisherOptions) (*Publisher, error) {
	if o.Table == "" {
		o.Table = DefaultTable
	}
	if err := checkBridgeName(o.Bridge); err != nil {
		return nil, fmt.Errorf("new publisher: %w", err)
	}
	if o.Subnet.IsValid() && !o.Subnet.Addr().Is4() {
		return nil, fmt.Errorf("new publisher: subnet %s is not IPv4", o.Subnet)
	}
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("new publisher: open nftables: %w", err)
	}
	p := &Publisher{opts: o, conn: conn}
	p.table = conn.AddTable(&nftables.Table{Name: o.Table, Family: nftables.TableFamilyIPv4})
	nat := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return conn.AddChain(&nftables.Chain{
			Name: name, Table: p.table, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio,
		})
	}
	p.dnat = []*nftables.Chain{
		nat(chainPrerouting, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		nat(chainOutput, nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
	}
	post := nat(chainPostrouting, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	p.post = post
	p.addIsolationChain()
	if err := conn.AddSet(p.bridges, nil); err != nil {
		_ = conn.CloseLasting()
		return nil, fmt.Errorf("new publisher: %w", err)
	}
	// The masquerade rules are rewritten; session segments add theirs
	// again when the runtime reopens them (AddSegment).
	conn.FlushChain(post)
	tag := userdata.AppendString(nil, userdata.TypeComment, "backendai masquerade")
	if o.Subnet.IsValid() && o.Bridge == "" {
		conn.AddRule(&nftables.Rule{Table: p.table, Chain: post, Exprs: masqExprs(o.Subnet, o.Bridge, false), UserData: tag})
	}
	if err := conn.Flush(); err != nil {
		_ = conn.CloseLasting()
		return nil, fmt.Errorf("new publisher: create table %s: %w", o.Table, err)
	}
	if o.Bridge != "" {
		if err := p.AddSegment(o.Bridge, o.Subnet); err != nil {
			_ = conn.CloseLasting()
			return nil, fmt.Errorf("new publisher: %w", err)
		}
	}
	return p, nil
}

// Close releases the netlink connection. The rules stay.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn.CloseLasting()
}

// dnatRule is a tagged DNAT rule read from the kernel.
type dnatRule struct {
	rule *nftables.Rule
	m    Mapping
}

// rulesLocked reads the tagged rules of both DNAT chains; rules without a
// kernel tag are not the Publisher's and are left out.
// Precondition: p.mu is held.
func (p *Publisher) rulesLocked() ([]dnatRule, error) {
	var out []dnatRule
	for _, c := range p.dnat {
		rules, err := p.conn.GetRules(p.table, c)
		if err != nil {
			return nil, fmt.Errorf("list rules of %s/%s: %w", p.table.Name, c.Name, err)
		}
		for _, r := range rules {
			id, ok := taggedKernel(r.UserData)
			if !ok {
				continue
			}
			m, err := parseDNAT(id, r.Exprs)
			if err != nil {
				// Still listed, so that Unpublish and Reconcile remove it.
				m = Mapping{KernelID: id}
			}
			out = append(out, dnatRule{rule: r, m: m})
		}
	}
	p.known = p.index(out)
	return out, nil
}

// index builds the known-mappings index from the rules of the DNAT chains.
func (p *Publisher) index(rules []dnatRule) map[mappingKey]Mapping {
	type seen struct {
		m     Mapping
		count map[string]int // chain -> rules
		same  bool
	}
	by := make(map[mappingKey]*seen)
	for _, r := range rules {
		k := r.m.key()
		s, ok := by[k]
		if !ok {
			s = &seen{m: r.m, count: map[string]int{}, same: true}
			by[k] = s
		}
		s.count[r.rule.Chain.Name]++
		s.same = s.same && s.m == r.m
	}
	known := make(map[mappingKey]Mapping, len(by))
	for k, s := range by {
		ok := s.same && s.m.HostPort != 0
		for _, c := range p.dnat {
			ok = ok && s.count[c.Name] == 1
		}
		if ok {
			known[k] = s.m
		} else {
			known[k] = Mapping{} // needs repair
		}
	}
	return known
}

// Publish adds the DNAT rules of ms in one atomic batch. It is idempotent
// per (kernel, host port, protocol): a mapping already published is left
// as it is, and one whose target changed is replaced. A host port published
// for another kernel gives ErrPortPublished and nothing is changed.
func (p *Publisher) Publish(ms []Mapping) error {
	want := make(map[mappingKey]Mapping, len(ms))
	order := make([]mappingKey, 0, len(ms))
	for _, m := range ms {
		m, err := m.normalize()
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		k := m.key()
		if prev, ok := want[k]; ok {
			if prev != m {
				return fmt.Errorf("publish kernel %s port %d: two targets in one call: %w", m.KernelID, m.HostPort, ErrInvalidMapping)
			}
			continue
		}
		want[k] = m
		order = append(order, k)
	}
	if len(order) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known == nil {
		if _, err := p.rulesLocked(); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	var add []Mapping
	stale := make(map[mappingKey]bool)
	for _, k := range order {
		for have := range p.known {
			if have.port == k.port && have.proto == k.proto && have.kernel != k.kernel {
				return fmt.Errorf("publish kernel %s port %d: kernel %s has it: %w", k.kernel, k.port, have.kernel, ErrPortPublished)
			}
		}
		m := want[k]
		cur, ok := p.known[k]
		if ok && cur == m {
			continue
		}
		if ok {
			stale[k] = true
		}
		add = append(add, m)
	}
	if len(add) == 0 {
		return nil
	}
	if len(stale) > 0 {
		// A changed target or a damaged mapping: its old rules go in the
		// same batch.
		rules, err := p.rulesLocked()
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		for _, r := range rules {
			if stale[r.m.key()] {
				if err := p.conn.DelRule(r.rule); err != nil {
					return fmt.Errorf("publish kernel %s port %d: %w", r.m.KernelID, r.m.HostPort, err)
				}
			}
		}
	}
	for _, m := range add {
		for _, c := range p.dnat {
			p.conn.AddRule(&nftables.Rule{Table: p.table, Chain: c, Exprs: dnatExprs(m), UserData: kernelTag(m.KernelID)})
		}
	}
	if err := p.conn.Flush(); err != nil {
		p.known = nil
		return fmt.Errorf("publish %d mappings of kernel %s: %w", len(add), add[0].KernelID, err)
	}
	for _, m := range add {
		p.known[m.key()] = m
	}
	return nil
}

// deleteLocked removes, in one batch, the rules for which drop is true and
// returns how many distinct mappings they were.
// Precondition: p.mu is held.
func (p *Publisher) deleteLocked(drop func(kernelID string) bool) (int, error) {
	rules, err := p.rulesLocked()
	if err != nil {
		return 0, err
	}
	gone := make(map[mappingKey]bool)
	for _, r := range rules {
		if !drop(r.m.KernelID) {
			continue
		}
		if err := p.conn.DelRule(r.rule); err != nil {
			return 0, err
		}
		gone[r.m.key()] = true
	}
	if len(gone) == 0 {
		return 0, nil
	}
	if err := p.conn.Flush(); err != nil {
		p.known = nil
		return 0, err
	}
	for k := range gone {
		delete(p.known, k)
	}
	return len(gone), nil
}

// Unpublish removes every DNAT rule of the kernel; none is not an error.
func (p *Publisher) Unpublish(kernelID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.deleteLocked(func(id string) bool { return id == kernelID }); err != nil {
		return fmt.Errorf("unpublish kernel %s: %w", kernelID, err)
	}
	return nil
}

// Reconcile removes the rules of every kernel not in running (after an
// agent restart) and returns how many mappings it removed.
func (p *Publisher) Reconcile(running map[string]bool) (removed int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	removed, err = p.deleteLocked(func(id string) bool { return !running[id] })
	if err != nil {
		return 0, fmt.Errorf("reconcile published ports: %w", err)
	}
	return removed, nil
}

// Mappings reads the published mappings back from the kernel's ruleset,
// each once, ordered by kernel id, host port and protocol.
func (p *Publisher) Mappings() ([]Mapping, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rules, err := p.rulesLocked()
	if err != nil {
		return nil, fmt.Errorf("read mappings: %w", err)
	}
	seen := make(map[Mapping]bool)
	var out []Mapping
	for _, r := range rules {
		if r.m.HostPort == 0 { // unparsable: only Unpublish/Reconcile see it
			continue
		}
		if !seen[r.m] {
			seen[r.m] = true
			out = append(out, r.m)
		}
	}
	slices.SortFunc(out, func(a, b Mapping) int {
		return cmp.Or(cmp.Compare(a.KernelID, b.KernelID), cmp.Compare(a.HostPort, b.HostPort),
			cmp.Compare(a.Proto, b.Proto), a.HostIP.Compare(b.HostIP))
	})
	return out, nil
}

// Delete removes the whole table (uninstall, tests) and turns route_localnet
// off again on the bridge if it still exists. A missing table is not an
// error. The Publisher must not be used afterwards except for Close.
func (p *Publisher) Delete() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	tables, err := p.conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("delete table %s: %w", p.table.Name, err)
	}
	var errs []error
	if slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == p.table.Name }) {
		p.conn.DelTable(p.table)
		p.known = nil
		if err := p.conn.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("delete table %s: %w", p.table.Name, err))
		}
	}
	if p.opts.Bridge != "" {
		err := os.WriteFile(routeLocalnetPath(p.opts.Bridge), []byte("0"), 0o644)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("disable route_localnet: %w", err))
		}
	}
	return errors.Join(errs...)
}
