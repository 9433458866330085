package configs

// Container is the [container] section: how kernels are run on this node.
type Container struct {
	// KernelUID is the uid kernels run as. The file may give a number or
	// a user name (resolved when parsing); -1 means the agent's own uid.
	KernelUID int `toml:"kernel-uid" cfg:"uid"`
	// KernelGID is the gid kernels run as; a number or a group name; -1
	// means the agent's own gid.
	KernelGID int `toml:"kernel-gid" cfg:"gid"`
	// PortRange is the inclusive [start, end] range of host ports given to
	// kernel services.
	PortRange [2]int `toml:"port-range"`
	// PortReuseCooldown is how long a released host port rests before it
	// is given out again.
	PortReuseCooldown Duration `toml:"port-reuse-cooldown-sec"`
	// BindHost is the host address kernel service ports are published on
	// (alias "kernel-host"); "" means auto-detection.
	BindHost string `toml:"bind-host" alias:"kernel-host"`
	// AdvertisedHost, when set, is reported as the kernels' host.
	AdvertisedHost string `toml:"advertised-host"`
	// StatsType is "docker" or "cgroup". Both are accepted and kept; this
	// agent always reads cgroups.
	StatsType string `toml:"stats-type"`
	// SandboxType is "docker" (the only supported value) or "jail".
	SandboxType string `toml:"sandbox-type"`
	// JailArgs are extra arguments of the jail sandbox.
	JailArgs []string `toml:"jail-args"`
	// ScratchType is "hostdir", "hostfile", "memory" or "k8s-nfs".
	ScratchType string `toml:"scratch-type"`
	// ScratchRoot holds the kernels' scratch directories.
	ScratchRoot string `toml:"scratch-root" cfg:"path"`
	// ScratchSize is the size of each scratch (hostfile and memory only);
	// 0 means unlimited.
	ScratchSize BinarySize `toml:"scratch-size"`
	// ScratchNFSAddress is the NFS export of k8s-nfs scratches.
	ScratchNFSAddress string `toml:"scratch-nfs-address"`
	// ScratchNFSOptions are the NFS mount options of k8s-nfs scratches.
	ScratchNFSOptions string `toml:"scratch-nfs-options"`
	// AlternativeBridge, when set, is the network bridge kernels attach to
	// instead of the default one ("bai0"); the agent creates it if missing.
	AlternativeBridge string `toml:"alternative-bridge"`
	// BridgeSubnet is the IPv4 subnet of the kernels' bridge (not an
	// upstream key: Docker chose its own). It must not collide with a host
	// route.
	BridgeSubnet string `toml:"bridge-subnet"`
	// SessionNetworkPool is the IPv4 range cut into /24 subnets for session
	// networks (create_local_network; not an upstream key).
	SessionNetworkPool string `toml:"session-network-pool"`
}
