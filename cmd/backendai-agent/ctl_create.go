//go:build !slimrun

package main

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/rpc/codec"
)

// Module of the enums of the creation payload (common/types.py).
const typesModule = "ai.backend.common.types"

// Enum members the manager puts in a creation payload.
var (
	enumAutoPullDigest = codec.Enum{Module: typesModule, Class: "AutoPullBehavior", Value: "digest"}
	enumInteractive    = codec.Enum{Module: typesModule, Class: "SessionTypes", Value: "interactive"}
	enumSingleNode     = codec.Enum{Module: typesModule, Class: "ClusterMode", Value: "single-node"}
)

// strList is a repeatable string flag.
type strList []string

func (l *strList) String() string     { return strings.Join(*l, " ") }
func (l *strList) Set(s string) error { *l = append(*l, s); return nil }

// createSpec is what `ctl create` was asked for, checked.
type createSpec struct {
	image    string
	kernelID string
	cpu      string // decimal
	mem      int64  // bytes
	env      [][2]string
	mounts   []createMount
	net      string // bridge, host, none
	cmd      *string
	ports    []int // preopen ports
}

type createMount struct{ src, dst, perm string }

// ctlCreateFlags: create IMAGE ... → create_kernels(session_id,
// [kernel_id], [config], cluster_info, kernel_image_refs, agent_id=None).
func ctlCreateFlags(fs *commonFlags) ctlPrepare {
	cpu := fs.String("cpu", "1", "CPU cores (slot cpu, a decimal)")
	mem := fs.String("mem", "1g", "memory (slot mem), e.g. 512m, 2g")
	var env, mounts strList
	fs.Var(&env, "env", "environment variable K=V (repeatable)")
	fs.Var(&mounts, "mount", "bind mount SRC:DST[:ro|rw] (repeatable; a relative DST is under /home/work)")
	netMode := fs.String("net", "bridge", "network: bridge, host or none")
	id := fs.String("id", "", "the kernel id, a UUID (default: a new random one); the session id is the same")
	cmd := fs.String("cmd", "", "startup command (default: none)")
	var ports strList
	fs.Var(&ports, "port", "a container port to publish besides the image's service ports (preopen; repeatable)")
	return func(pos []string) (ctlAction, error) {
		spec := createSpec{image: pos[0], net: *netMode}
		if spec.image == "" {
			return nil, errors.New("empty IMAGE")
		}
		if *id != "" {
			u, err := codec.ParseUUID(*id)
			if err != nil {
				return nil, fmt.Errorf("--id: %w", err)
			}
			spec.kernelID = u.String()
		} else {
			spec.kernelID = newUUID4().String()
		}
		if _, err := codec.ParseDecimal(*cpu); err != nil || !positiveDecimal(*cpu) {
			return nil, fmt.Errorf("--cpu %q: want a positive number", *cpu)
		}
		spec.cpu = *cpu
		size, err := configs.ParseBinarySize(*mem)
		if err != nil || size <= 0 {
			return nil, fmt.Errorf("--mem %q: want a positive size such as 512m", *mem)
		}
		spec.mem = int64(size)
		for _, kv := range env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--env %q: want K=V", kv)
			}
			spec.env = append(spec.env, [2]string{k, v})
		}
		for _, m := range mounts {
			cm, err := parseMountFlag(m)
			if err != nil {
				return nil, err
			}
			spec.mounts = append(spec.mounts, cm)
		}
		switch spec.net {
		case "bridge", "host", "none":
		default:
			return nil, fmt.Errorf("--net %q: want bridge, host or none", spec.net)
		}
		if *cmd != "" {
			spec.cmd = cmd
		}
		for _, p := range ports {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 || n == 2000 || n == 2001 {
				return nil, fmt.Errorf("--port %q: want a port number (not the runner's 2000 and 2001)", p)
			}
			spec.ports = append(spec.ports, n)
		}
		return func(c *ctlClient) error { return ctlCreate(c, spec) }, nil
	}
}

// positiveDecimal reports whether a valid decimal is finite and above 0.
func positiveDecimal(s string) bool {
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f > 0 && !strings.ContainsAny(strings.ToLower(s), "in")
}

// parseMountFlag reads SRC:DST[:ro|rw].
func parseMountFlag(s string) (createMount, error) {
	parts := strings.Split(s, ":")
	m := createMount{perm: "rw"}
	switch len(parts) {
	case 3:
		m.perm = parts[2]
		if m.perm != "ro" && m.perm != "rw" {
			return m, fmt.Errorf("--mount %q: the mode is ro or rw", s)
		}
		fallthrough
	case 2:
		m.src, m.dst = parts[0], parts[1]
	default:
		return m, fmt.Errorf("--mount %q: want SRC:DST[:ro|rw]", s)
	}
	if m.src == "" || m.dst == "" {
		return m, fmt.Errorf("--mount %q: want SRC:DST[:ro|rw]", s)
	}
	src, err := filepath.Abs(m.src)
	if err != nil {
		return m, fmt.Errorf("--mount %q: %w", s, err)
	}
	m.src = src
	if !path.IsAbs(m.dst) {
		m.dst = path.Join("/home/work", m.dst)
	}
	m.dst = path.Clean(m.dst)
	return m, nil
}

// hostArchitecture is the image architecture of this machine, as
// Backend.AI names it.
func hostArchitecture() string {
	switch goruntime.GOARCH {
	case "arm64":
		return "aarch64"
	case "amd64":
		return "x86_64"
	}
	return goruntime.GOARCH
}

// imageRefOf splits an image reference as upstream's ImageRef holds it:
// registry (the first component when it looks like a host), name (the
// rest, without the tag), project (the name's first component, None when
// it has one component only) and tag ("latest" when absent).
func imageRefOf(ref string) codec.ImageRef {
	r := codec.ImageRef{Architecture: hostArchitecture(), IsLocal: true, Tag: "latest"}
	rest := ref
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[:i]
	}
	if first, after, ok := strings.Cut(rest, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.Registry, rest = first, after
	}
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, r.Tag = rest[:i], rest[i+1:]
	}
	r.Name = rest
	if project, _, ok := strings.Cut(rest, "/"); ok {
		r.Project = &project
	}
	return r
}

// createPayload builds create_kernels' positional arguments as the
// manager's launcher does for a single-node session of one kernel.
func createPayload(spec createSpec, agentAddr string) []any {
	kid := spec.kernelID
	sid := kid
	ref := imageRefOf(spec.image)
	project := ""
	if ref.Project != nil {
		project = *ref.Project
	}
	environ := make(map[string]any, len(spec.env)+8)
	for _, kv := range spec.env {
		environ[kv[0]] = kv[1]
	}
	for k, v := range map[string]string{
		"BACKENDAI_KERNEL_ID":          kid,
		"BACKENDAI_KERNEL_IMAGE":       spec.image,
		"BACKENDAI_SESSION_ID":         sid,
		"BACKENDAI_CLUSTER_ROLE":       "main",
		"BACKENDAI_CLUSTER_IDX":        "1",
		"BACKENDAI_CLUSTER_LOCAL_RANK": "0",
		"BACKENDAI_CLUSTER_HOST":       "main1",
		"BACKENDAI_CLUSTER_SIZE":       "1",
	} {
		environ[k] = v
	}
	owner := newUUID4()
	mounts := make([]any, 0, len(spec.mounts))
	for _, m := range spec.mounts {
		mounts = append(mounts, map[string]any{
			"name": path.Base(m.dst),
			// VFolderID's str: "{quota_scope_id}/{folder_id.hex}".
			"vfid":        "user:" + owner.String() + "/" + strings.ReplaceAll(newUUID4().String(), "-", ""),
			"vfsubpath":   ".",
			"host_path":   m.src,
			"kernel_path": m.dst,
			"mount_perm":  m.perm,
			"usage_mode":  "general",
		})
	}
	preopen := make([]any, len(spec.ports))
	for i, p := range spec.ports {
		preopen[i] = p
	}
	var startup any
	if spec.cmd != nil {
		startup = *spec.cmd
	}
	config := map[string]any{
		"image": map[string]any{
			"canonical":    spec.image,
			"project":      project,
			"architecture": ref.Architecture,
			"digest":       "",
			"repo_digest":  nil,
			"registry": map[string]any{
				"name": ref.Registry, "url": "", "username": nil, "password": nil,
			},
			"labels":    map[string]any{},
			"is_local":  true,
			"auto_pull": enumAutoPullDigest,
		},
		"kernel_id":            kid,
		"session_id":           sid,
		"owner_user_id":        owner.String(),
		"owner_project_id":     nil,
		"network_id":           sid,
		"session_type":         enumInteractive,
		"cluster_mode":         enumSingleNode,
		"cluster_role":         "main",
		"cluster_idx":          1,
		"cluster_hostname":     "main1",
		"local_rank":           0,
		"uid":                  nil,
		"main_gid":             nil,
		"supplementary_gids":   []any{},
		"resource_slots":       map[string]any{"cpu": spec.cpu, "mem": strconv.FormatInt(spec.mem, 10)},
		"resource_opts":        map[string]any{},
		"environ":              environ,
		"mounts":               mounts,
		"package_directory":    []any{},
		"idle_timeout":         0,
		"bootstrap_script":     "",
		"startup_command":      startup,
		"preopen_ports":        preopen,
		"allocated_host_ports": []any{},
		"scaling_group":        "default",
		"agent_addr":           agentAddr,
		"endpoint_id":          nil,
		"internal_data":        nil,
		"auto_pull":            enumAutoPullDigest,
	}
	netConfig := map[string]any{}
	if spec.net != "bridge" {
		netConfig["mode"] = spec.net
	}
	clusterInfo := map[string]any{
		"mode":                     enumSingleNode,
		"size":                     1,
		"replicas":                 map[string]any{"main": 1},
		"network_config":           netConfig,
		"ssh_keypair":              nil,
		"cluster_ssh_port_mapping": nil,
	}
	kidUUID, _ := codec.ParseUUID(kid)
	imageRefs := map[any]any{kidUUID: ref}
	return []any{sid, []any{kid}, []any{config}, clusterInfo, imageRefs}
}

// ctlCreate sends create_kernels and prints the kernel id, then its
// container id, host and ports from the first result.
func ctlCreate(c *ctlClient, spec createSpec) error {
	v, err := c.call("create_kernels", createPayload(spec, c.addr), nil)
	if err != nil {
		return fmt.Errorf("%w (kernel %s)", err, spec.kernelID)
	}
	fmt.Fprintln(c.stdout, spec.kernelID)
	list, _ := v.([]any)
	if len(list) == 0 {
		return nil
	}
	res := asStrMap(list[0])
	for _, k := range []string{"container_id", "kernel_host"} {
		if x, ok := res[k]; ok {
			fmt.Fprintf(c.stdout, "%s %s\n", k, cell(x))
		}
	}
	ports, _ := res["service_ports"].([]any)
	for _, p := range ports {
		sp := asStrMap(p)
		if sp == nil {
			continue
		}
		cports, _ := sp["container_ports"].([]any)
		hports, _ := sp["host_ports"].([]any)
		pairs := make([]string, 0, len(hports))
		for i, h := range hports {
			cp := "?"
			if i < len(cports) {
				cp = cell(cports[i])
			}
			pairs = append(pairs, cp+"->"+cell(h))
		}
		fmt.Fprintf(c.stdout, "service %s %s %s\n", cell(sp["name"]), cell(sp["protocol"]), strings.Join(pairs, " "))
	}
	return nil
}
