package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/image"
	"github.com/baiagent/agent/runtime/spec"
)

// kernelConfig is what the agent takes from one KernelCreationConfig
// (spec 4.5) and the session's ClusterInfo.
type kernelConfig struct {
	kernelID, sessionID codec.UUID
	image               imageConfig
	req                 runtime.CreateRequest
	// startup is the session's startup command; batch says the session
	// is a batch one (its command is then run by the runner, when the
	// manager triggers it).
	startup string
	batch   bool
	// raw and opts are what it was parsed from, for relabel.
	raw  map[string]any
	opts parseOptions
}

// imageConfig is the manager's ImageConfig of a kernel or a pull.
type imageConfig struct {
	canonical string
	digest    string // config digest, "sha256:..."
	labels    map[string]string
	isLocal   bool
	autoPull  image.AutoPull
	registry  string // registry name
	ref       *codec.ImageRef
}

// ref is what the store is asked for: the config digest when the manager
// gave one (it names exactly the image it scheduled), else the canonical.
func (ic imageConfig) storeRef() string {
	if ic.digest != "" {
		return ic.digest
	}
	return ic.canonical
}

// value helpers over decoded dicts; each error names the key.

func field(m map[string]any, key string) (any, bool) {
	v, ok := m[key]
	return v, ok && v != nil
}

func str(m map[string]any, key string) (string, error) {
	v, ok := field(m, key)
	if !ok {
		return "", nil
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case codec.Enum:
		if s, ok := x.Value.(string); ok {
			return s, nil
		}
		return strings.ToLower(x.Member), nil
	case codec.SlotName:
		return string(x), nil
	case codec.PurePosixPath:
		return string(x), nil
	case codec.PosixPath:
		return string(x), nil
	}
	return "", fmt.Errorf("%w: %s is a %s, want str", codec.ErrArgument, key, codec.TypeName(v))
}

func dict(m map[string]any, key string) (map[string]any, error) {
	v, ok := field(m, key)
	if !ok {
		return map[string]any{}, nil
	}
	d, ok := v.(map[string]any)
	if !ok {
		if om, isEmpty := v.(map[any]any); isEmpty && len(om) == 0 {
			return map[string]any{}, nil
		}
		return nil, fmt.Errorf("%w: %s is a %s, want a dict with str keys", codec.ErrArgument, key, codec.TypeName(v))
	}
	return d, nil
}

func list(m map[string]any, key string) ([]any, error) {
	v, ok := field(m, key)
	if !ok {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is a %s, want a list", codec.ErrArgument, key, codec.TypeName(v))
	}
	return l, nil
}

// integer takes an int, or a str/Decimal/BinarySize holding one.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), true
		}
	case codec.BinarySize:
		return int64(x), true
	case codec.Decimal:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// quantity renders a slot amount as the decimal text alloc parses.
func quantity(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case codec.Decimal:
		return string(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case codec.BinarySize:
		return strconv.FormatInt(int64(x), 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// sessionArg is a call's first argument, session_id, as a UUID.
func sessionArg(c codec.Call) (codec.UUID, error) {
	sid, err := c.String(0, "session_id")
	if err != nil {
		return codec.UUID{}, err
	}
	return parseUUID(sid, "session id")
}

// optsArg is an optional dict argument "opts" ({} when absent or None).
func optsArg(c codec.Call, i int) (map[string]any, error) {
	if !c.Has(i, "opts") {
		return map[string]any{}, nil
	}
	return c.Map(i, "opts")
}

func parseUUID(s, what string) (codec.UUID, error) {
	u, err := codec.ParseUUID(s)
	if err != nil {
		return codec.UUID{}, fmt.Errorf("%w: %s %q is not a UUID", codec.ErrArgument, what, s)
	}
	return u, nil
}

// parseImageConfig reads an ImageConfig dict.
func parseImageConfig(m map[string]any) (imageConfig, error) {
	var ic imageConfig
	var err error
	if ic.canonical, err = str(m, "canonical"); err != nil {
		return ic, err
	}
	if ic.canonical == "" {
		return ic, fmt.Errorf("%w: image has no canonical name", codec.ErrArgument)
	}
	if ic.digest, err = str(m, "digest"); err != nil {
		return ic, err
	}
	auto, err := str(m, "auto_pull")
	if err != nil {
		return ic, err
	}
	ic.autoPull = image.AutoPull(auto)
	if ic.autoPull == "" {
		ic.autoPull = image.AutoPullDigest
	}
	if v, ok := field(m, "is_local"); ok {
		b, isBool := v.(bool)
		if !isBool {
			return ic, fmt.Errorf("%w: image.is_local is a %s, want bool", codec.ErrArgument, codec.TypeName(v))
		}
		ic.isLocal = b
	}
	labels, err := dict(m, "labels")
	if err != nil {
		return ic, err
	}
	ic.labels = make(map[string]string, len(labels))
	for k := range labels {
		if s, err := str(labels, k); err == nil {
			ic.labels[k] = s
		}
	}
	reg, err := dict(m, "registry")
	if err != nil {
		return ic, err
	}
	if ic.registry, err = str(reg, "name"); err != nil {
		return ic, err
	}
	return ic, nil
}

// parseOptions are the agent's settings that shape a creation request.
type parseOptions struct {
	// networking says whether the bridge and host modes are offered.
	networking bool
	// kernelUID and kernelGID are container.kernel-uid/gid, for images
	// with the uid-match feature.
	kernelUID, kernelGID int
}

// parseKernelConfig turns one creation config into a runtime request.
func parseKernelConfig(cfg, cluster map[string]any, sessionID codec.UUID, kernelID string, po parseOptions) (kernelConfig, error) {
	kc := kernelConfig{sessionID: sessionID, raw: cfg, opts: po}
	var err error
	if kc.kernelID, err = parseUUID(kernelID, "kernel id"); err != nil {
		return kc, err
	}
	imgMap, err := dict(cfg, "image")
	if err != nil {
		return kc, err
	}
	if kc.image, err = parseImageConfig(imgMap); err != nil {
		return kc, err
	}
	req := runtime.CreateRequest{ID: kernelID, Image: kc.image.storeRef()}

	// Resources: every slot of the request; alloc refuses unknown ones
	// with a non-zero amount.
	slots, err := dict(cfg, "resource_slots")
	if err != nil {
		return kc, err
	}
	req.Slots = make(map[string]string, len(slots))
	for k, v := range slots {
		q, ok := quantity(v)
		if !ok {
			return kc, fmt.Errorf("%w: resource_slots[%s] is a %s, want a decimal", codec.ErrArgument, k, codec.TypeName(v))
		}
		req.Slots[k] = q
	}
	opts, err := dict(cfg, "resource_opts")
	if err != nil {
		return kc, err
	}
	if v, ok := field(opts, "shmem"); ok {
		n, isInt := integer(v)
		if !isInt || n < 0 {
			return kc, fmt.Errorf("%w: resource_opts.shmem is not a byte count", codec.ErrArgument)
		}
		req.ShmSize = n
	}

	environ, err := dict(cfg, "environ")
	if err != nil {
		return kc, err
	}
	for _, k := range slices.Sorted(maps.Keys(environ)) {
		v, err := str(environ, k)
		if err != nil {
			return kc, err
		}
		req.Env = append(req.Env, k+"="+v)
	}

	mounts, err := list(cfg, "mounts")
	if err != nil {
		return kc, err
	}
	for i, raw := range mounts {
		m, ok := raw.(map[string]any)
		if !ok {
			return kc, fmt.Errorf("%w: mounts[%d] is a %s, want a dict", codec.ErrArgument, i, codec.TypeName(raw))
		}
		src, err := str(m, "host_path")
		if err != nil {
			return kc, err
		}
		dst, err := str(m, "kernel_path")
		if err != nil {
			return kc, err
		}
		perm, err := str(m, "mount_perm")
		if err != nil {
			return kc, err
		}
		req.Mounts = append(req.Mounts, spec.Mount{Source: src, Target: dst, ReadOnly: perm == "ro" || perm == ""})
	}

	if req.Hostname, err = str(cfg, "cluster_hostname"); err != nil {
		return kc, err
	}
	// Until the kernel runner arrives the startup command, when given, is
	// the kernel's main process; otherwise the image's entrypoint runs.
	cmd, err := str(cfg, "startup_command")
	if err != nil {
		return kc, err
	}
	if cmd != "" {
		req.Args = []string{"/bin/sh", "-c", cmd}
	}
	kc.startup = cmd
	if st, err := str(cfg, "session_type"); err == nil && st == "batch" {
		kc.batch = true
	}

	req.Labels = map[string]string{
		"ai.backend.kernel-id":  kernelID,
		"ai.backend.session-id": sessionID.String(),
	}
	for _, key := range []string{"owner_user_id", "owner_project_id", "cluster_role", "scaling_group"} {
		if v, err := str(cfg, key); err == nil && v != "" {
			req.Labels["ai.backend."+strings.ReplaceAll(key, "_", "-")] = v
		}
	}

	if err := kernelUser(&req, cfg, kc.image.labels, po); err != nil {
		return kc, err
	}
	dotfiles, err := dotfilesOf(cfg)
	if err != nil {
		return kc, err
	}
	if dotfiles != nil {
		req.ConfigFiles = map[string][]byte{"dotfiles.json": dotfiles}
	}

	if sp := kc.image.labels[labelServicePorts]; sp != "" {
		req.Labels[labelServicePorts] = sp
	}
	if err := networkOf(&req, cluster, po.networking); err != nil {
		return kc, err
	}
	if req.Network == runtime.NetBridge {
		ports, err := publishedPorts(cfg, kc.image.labels)
		if err != nil {
			return kc, err
		}
		req.Publish = ports
	}
	kc.req = req
	return kc, nil
}

// networkOf reads ClusterInfo.network_config: {} is the agent's bridge,
// {"mode": "bridge", "network_name": N} a session network, {"mode":
// "host"} the host's namespace, and {"mode": "none"} (ours) loopback only.
// An agent without networking runs every kernel on loopback only.
func networkOf(req *runtime.CreateRequest, cluster map[string]any, networking bool) error {
	nc, err := dict(cluster, "network_config")
	if err != nil {
		return err
	}
	mode, err := str(nc, "mode")
	if err != nil {
		return err
	}
	if !networking {
		if mode == "host" {
			return fmt.Errorf("network mode host: %w: networking is not set up on this agent", runtime.ErrInvalidArgument)
		}
		req.Network = runtime.NetNone
		return nil
	}
	switch mode {
	case "", "bridge":
		req.Network = runtime.NetBridge
		if req.NetworkName, err = str(nc, "network_name"); err != nil {
			return err
		}
	case "host":
		req.Network = runtime.NetHost
	case "none":
		req.Network = runtime.NetNone
	default:
		return fmt.Errorf("%w: network mode %q is not supported by this agent", runtime.ErrInvalidArgument, mode)
	}
	return nil
}

// publishedPorts are the image's service ports (label
// ai.backend.service-ports, "name:proto:port[,port...]" items separated
// by commas) and the session's preopen ports.
func publishedPorts(cfg map[string]any, labels map[string]string) ([]runtime.Publish, error) {
	seen := map[int]bool{}
	var out []runtime.Publish
	add := func(p int) {
		if p > 0 && p < 65536 && !seen[p] {
			seen[p] = true
			out = append(out, runtime.Publish{ContainerPort: p})
		}
	}
	for _, sp := range parseServicePorts(labels[labelServicePorts]) {
		for _, p := range sp.ports {
			add(p)
		}
	}
	pre, err := list(cfg, "preopen_ports")
	if err != nil {
		return nil, err
	}
	for _, v := range pre {
		n, ok := integer(v)
		if !ok {
			return nil, fmt.Errorf("%w: preopen_ports holds a %s, want int", codec.ErrArgument, codec.TypeName(v))
		}
		add(int(n))
	}
	return out, nil
}

// labelServicePorts is the image label of its services, kept on the
// kernel too (as upstream's container label) to name its service ports.
const labelServicePorts = "ai.backend.service-ports"

// servicePort is one entry of the ai.backend.service-ports label.
type servicePort struct {
	name, protocol string
	ports          []int
}

// parseServicePorts reads "jupyter:http:8080,ttyd:http:7681" and the
// bracketed multi-port form "name:proto:[8000,8001]". Malformed entries
// are skipped, as the image is not the manager's fault.
func parseServicePorts(label string) []servicePort {
	var out []servicePort
	for len(label) > 0 {
		var item string
		// A bracketed port list holds commas of its own.
		if i := strings.IndexByte(label, '['); i >= 0 && i < strings.IndexByte(label+",", ',') {
			j := strings.IndexByte(label, ']')
			if j < 0 {
				return out
			}
			item, label = label[:j+1], strings.TrimPrefix(label[j+1:], ",")
		} else if i := strings.IndexByte(label, ','); i >= 0 {
			item, label = label[:i], label[i+1:]
		} else {
			item, label = label, ""
		}
		parts := strings.SplitN(strings.TrimSpace(item), ":", 3)
		if len(parts) != 3 {
			continue
		}
		sp := servicePort{name: parts[0], protocol: parts[1]}
		for _, p := range strings.Split(strings.Trim(parts[2], "[]"), ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(p)); err == nil {
				sp.ports = append(sp.ports, n)
			}
		}
		if len(sp.ports) > 0 {
			out = append(out, sp)
		}
	}
	return out
}

// kernelUser sets what the runner makes the work user from (spec 6.6):
// LOCAL_USER_ID and LOCAL_GROUP_ID from the manager's per-user uid and
// main_gid, else, for images with the uid-match feature, the agent's
// kernel-uid and kernel-gid; ADDITIONAL_GIDS from supplementary_gids.
// Without either the runner uses 9001, as upstream's entrypoint.
func kernelUser(req *runtime.CreateRequest, cfg map[string]any, labels map[string]string, po parseOptions) error {
	uidMatch := slices.Contains(strings.Fields(labels["ai.backend.features"]), "uid-match")
	id := func(key string, fallback int) (string, error) {
		if v, ok := field(cfg, key); ok {
			n, isInt := integer(v)
			if !isInt || n < 0 || n > math.MaxInt32 {
				return "", fmt.Errorf("%w: %s is not a user or group id", codec.ErrArgument, key)
			}
			return strconv.FormatInt(n, 10), nil
		}
		if uidMatch && fallback >= 0 {
			return strconv.Itoa(fallback), nil
		}
		return "", nil
	}
	uid, err := id("uid", po.kernelUID)
	if err != nil {
		return err
	}
	gid, err := id("main_gid", po.kernelGID)
	if err != nil {
		return err
	}
	if uid != "" {
		req.Env = append(req.Env, "LOCAL_USER_ID="+uid)
	}
	if gid != "" {
		req.Env = append(req.Env, "LOCAL_GROUP_ID="+gid)
	}
	sup, err := list(cfg, "supplementary_gids")
	if err != nil {
		return err
	}
	var gids []string
	for _, v := range sup {
		n, ok := integer(v)
		if !ok || n < 0 || n > math.MaxInt32 {
			return fmt.Errorf("%w: supplementary_gids holds a %s, want group ids", codec.ErrArgument, codec.TypeName(v))
		}
		gids = append(gids, strconv.FormatInt(n, 10))
	}
	if len(gids) > 0 {
		req.Env = append(req.Env, "ADDITIONAL_GIDS="+strings.Join(gids, ","))
	}
	return nil
}

// dotfile is one entry of the runner's dotfiles.json.
type dotfile struct {
	Path string `json:"path"`
	Data string `json:"data"`
	Perm string `json:"perm"`
}

// dotfilesOf gathers what the runner writes into the work dir as the
// user: internal_data.dotfiles ({path, data, perm}), the user's SSH
// keypair of internal_data.ssh_keypair (.ssh/authorized_keys, .ssh/id_rsa
// and id_container, as upstream), and bootstrap_script as bootstrap.sh.
// nil when there is nothing.
func dotfilesOf(cfg map[string]any) ([]byte, error) {
	var out []dotfile
	internal, err := dict(cfg, "internal_data")
	if err != nil {
		return nil, err
	}
	entries, err := list(internal, "dotfiles")
	if err != nil {
		return nil, err
	}
	for i, raw := range entries {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: internal_data.dotfiles[%d] is a %s, want a dict", codec.ErrArgument, i, codec.TypeName(raw))
		}
		var d dotfile
		for key, dst := range map[string]*string{"path": &d.Path, "data": &d.Data, "perm": &d.Perm} {
			if *dst, err = str(m, key); err != nil {
				return nil, fmt.Errorf("internal_data.dotfiles[%d]: %w", i, err)
			}
		}
		if d.Path == "" {
			return nil, fmt.Errorf("%w: internal_data.dotfiles[%d] has no path", codec.ErrArgument, i)
		}
		out = append(out, d)
	}
	keys, err := dict(internal, "ssh_keypair")
	if err != nil {
		return nil, err
	}
	pub, err := str(keys, "public_key")
	if err != nil {
		return nil, err
	}
	priv, err := str(keys, "private_key")
	if err != nil {
		return nil, err
	}
	if pub != "" && priv != "" {
		out = append(out,
			dotfile{Path: ".ssh/authorized_keys", Data: pub, Perm: "600"},
			dotfile{Path: ".ssh/id_rsa", Data: priv, Perm: "600"},
			dotfile{Path: "id_container", Data: priv, Perm: "600"})
	}
	boot, err := str(cfg, "bootstrap_script")
	if err != nil {
		return nil, err
	}
	if boot != "" {
		out = append(out, dotfile{Path: "bootstrap.sh", Data: boot, Perm: "755"})
	}
	if len(out) == 0 {
		return nil, nil
	}
	return json.Marshal(out)
}

// relabel takes the image's own labels from the store when the manager
// sent none (a client such as ctl that does not know them) and redoes
// what depends on them: the uid-match user and the service ports.
func (kc *kernelConfig) relabel(labels map[string]string) error {
	if len(kc.image.labels) > 0 || len(labels) == 0 {
		return nil
	}
	kc.image.labels = labels
	kc.req.Env = slices.DeleteFunc(slices.Clone(kc.req.Env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == "LOCAL_USER_ID" || k == "LOCAL_GROUP_ID" || k == "ADDITIONAL_GIDS"
	})
	if err := kernelUser(&kc.req, kc.raw, labels, kc.opts); err != nil {
		return err
	}
	if sp := labels[labelServicePorts]; sp != "" {
		kc.req.Labels[labelServicePorts] = sp
	}
	if kc.req.Network == runtime.NetBridge {
		ports, err := publishedPorts(kc.raw, labels)
		if err != nil {
			return err
		}
		kc.req.Publish = ports
	}
	return nil
}

// The intrinsic services of a runner kernel, as upstream lists them in
// every kernel's service ports: the runner starts them from the image's
// own binaries (or fails the start, saying so).
var intrinsicServices = []servicePort{{name: "sshd", protocol: "tcp", ports: []int{2200}}, {name: "ttyd", protocol: "http", ports: []int{7681}}}

// addIntrinsicServices adds sshd and ttyd to a runner kernel's service
// ports (label and published ports; bridge mode only) unless the image
// already names them or uses their ports.
func (kc *kernelConfig) addIntrinsicServices() {
	if kc.req.Network != runtime.NetBridge {
		// Host mode would need host ports of their own (upstream's
		// intrinsic-ports.json entries); not offered yet.
		return
	}
	label := kc.req.Labels[labelServicePorts]
	have := parseServicePorts(label)
	used := map[int]bool{}
	for _, p := range kc.req.Publish {
		used[p.ContainerPort] = true
	}
	for _, sp := range intrinsicServices {
		if slices.ContainsFunc(have, func(h servicePort) bool { return h.name == sp.name }) || used[sp.ports[0]] {
			continue
		}
		if label != "" {
			label += ","
		}
		label += fmt.Sprintf("%s:%s:%d", sp.name, sp.protocol, sp.ports[0])
		kc.req.Publish = append(kc.req.Publish, runtime.Publish{ContainerPort: sp.ports[0], Intrinsic: true})
	}
	if label != "" {
		kc.req.Labels[labelServicePorts] = label
	}
}
