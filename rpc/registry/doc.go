// Package registry is the agent's side of etcd: the shared configuration it
// reads at start-up and the registration it writes, with upstream
// Backend.AI's key layout (common/etcd.py, agent/server.py).
//
// # Key layout
//
// Every key lives under /sorna/{namespace}/. The keys this package's
// methods take are relative to that prefix and, as upstream, must be
// quoted by the caller where a component may hold a '/'; [Quote] and
// [Unquote] do what upstream's quote (urllib's quote with safe="") and
// unquote do. A leading '/' of a relative key is dropped.
//
// [Client.GetPrefix] turns the keys under a prefix into a [Tree] exactly as
// upstream's get_prefix does: the part after the prefix is split on '/',
// each component unquoted, and a key that has a value and children at once
// keeps its own value under the empty key "". [Client.PutDict] is the
// reverse (upstream's put_prefix): a nested tree is flattened with every
// map key quoted, in one transaction.
//
// # Agent scope
//
// An [Agent] is the view of one agent, upstream's NODE scope
// nodes/agents/{id}: its reads are "merged" (the node's key first, then the
// global one; for a prefix, the node's top-level entries over the global
// ones), its registration is written under the node prefix. See
// [Agent.ReadOverrides], [Agent.Register], [Agent.WaitForManager] and
// [Agent.KeepRegistered].
//
// # Failures
//
// Every call is bounded by [Options.CallTimeout]: when etcd does not answer
// in time the error wraps [ErrUnavailable]. The underlying gRPC connection
// reconnects by itself (backoff capped by [Options.MaxReconnectDelay]), and
// watches resume where they left off.
//
// The production code links only the etcd client; the tests run an
// embedded etcd server and, when installed, Debian's etcd binary.
package registry
