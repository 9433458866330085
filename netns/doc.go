// Package netns wires kernel networking: network namespaces, the agent's
// bridge, veth pairs and published ports, through netlink and nftables.
//
// It is a leaf: it imports no other package of this module.
package netns
