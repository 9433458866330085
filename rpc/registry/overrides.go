package registry

import "context"

// DefaultWatcherToken is the watcher's token when etcd has none (upstream's
// watcher falls back to this literal).
const DefaultWatcherToken = "insecure"

// Keys read at start-up, namespace-relative.
const (
	KeyRedis              = "config/redis"
	KeyVolumes            = "volumes"
	KeyAgentConfig        = "config/agent"
	KeyContainerConfig    = "config/container"
	KeyAcceleratorPlugins = "config/plugins/accelerator"
	KeyCPUPlugin          = "config/plugins/cpu"
	KeyMemoryPlugin       = "config/plugins/memory"
	KeyAgentSubnet        = "config/network/subnet/agent"
	KeyContainerSubnet    = "config/network/subnet/container"
	KeyWatcherToken       = "config/watcher/token"
)

// Overrides is the shared configuration upstream's agent reads from etcd
// at start-up, in upstream's shapes; the caller merges it into its own
// configuration. Every Tree is read in the agent's merged scope and is
// empty (not nil) when etcd has nothing there.
type Overrides struct {
	// Redis is config/redis; upstream replaces the [redis] section with
	// it. ParseRedis reads it.
	Redis Tree
	// Volumes is volumes: the legacy vfolder mount base ("_mount" or
	// "mount") and prefix ("_fsprefix" or "fsprefix"); without a mount
	// upstream assumes a storage proxy.
	Volumes Tree
	// Agent is config/agent. Upstream takes only its "api",
	// "container-logs" and "kernel-lifecycles" subtrees, each replacing
	// the local section of that name (a missing one resets the section to
	// its defaults), and only when the Tree is not empty.
	Agent Tree
	// Container is config/container. Upstream takes only "kernel-uid" and
	// "kernel-gid" from it, over [container]'s values.
	Container Tree
	// AcceleratorPlugins is config/plugins/accelerator; upstream sets the
	// plugins section to it, and each compute plugin reads its own subtree
	// ({name}, e.g. "cuda") as its configuration.
	AcceleratorPlugins Tree
	// CPUPlugin and MemoryPlugin are config/plugins/cpu and
	// config/plugins/memory, the intrinsic plugins' configuration.
	CPUPlugin, MemoryPlugin Tree
	// AgentSubnet is config/network/subnet/agent, a CIDR; upstream picks
	// the local address in it as the RPC host when
	// agent.rpc-listen-addr's host is empty. "" when absent.
	AgentSubnet string
	// ContainerSubnet is config/network/subnet/container; upstream picks
	// container.bind-host in it when that is empty (a /0 or no local
	// match falls back to the RPC host). "" when absent.
	ContainerSubnet string
	// WatcherToken is config/watcher/token, read in the global scope only
	// (as the watcher does); DefaultWatcherToken when absent.
	WatcherToken string
}

// ReadOverrides reads every key of Overrides in one transaction, so that
// they come from one revision.
func (a *Agent) ReadOverrides(ctx context.Context) (*Overrides, error) {
	qs := []query{
		{key: KeyRedis, prefix: true, merged: true},
		{key: KeyVolumes, prefix: true, merged: true},
		{key: KeyAgentConfig, prefix: true, merged: true},
		{key: KeyContainerConfig, prefix: true, merged: true},
		{key: KeyAcceleratorPlugins, prefix: true, merged: true},
		{key: KeyCPUPlugin, prefix: true, merged: true},
		{key: KeyMemoryPlugin, prefix: true, merged: true},
		{key: KeyAgentSubnet, merged: true},
		{key: KeyContainerSubnet, merged: true},
		{key: KeyWatcherToken},
	}
	res, err := a.read(ctx, "read overrides", "config", qs)
	if err != nil {
		return nil, err
	}
	o := &Overrides{
		Redis:              res[0].tree,
		Volumes:            res[1].tree,
		Agent:              res[2].tree,
		Container:          res[3].tree,
		AcceleratorPlugins: res[4].tree,
		CPUPlugin:          res[5].tree,
		MemoryPlugin:       res[6].tree,
		WatcherToken:       DefaultWatcherToken,
	}
	o.AgentSubnet, _ = res[7].value()
	o.ContainerSubnet, _ = res[8].value()
	if v, ok := res[9].value(); ok {
		o.WatcherToken = v
	}
	return o, nil
}
