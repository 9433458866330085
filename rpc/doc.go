// Package rpc speaks the Backend.AI manager's protocol: Callosum RPC over
// ZeroMQ, events and stats to Redis, and the agent's registration in etcd.
// It adapts wire types to runtime calls and is the only layer that knows
// the wire format.
package rpc
