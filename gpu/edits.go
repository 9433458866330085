package gpu

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// NVIDIA_DRIVER_CAPABILITIES values. Each brings in a group of driver
// files; "all" is every group.
const (
	CapCompat32 = "compat32"
	CapCompute  = "compute"
	CapDisplay  = "display"
	CapGraphics = "graphics"
	CapNGX      = "ngx"
	CapUtility  = "utility"
	CapVideo    = "video"
	CapAll      = "all"

	// DefaultCapabilities applies when none are given, as in the NVIDIA
	// container toolkit.
	DefaultCapabilities = CapCompute + "," + CapUtility
)

// ErrInvalidCapability is wrapped by the error for an unknown
// NVIDIA_DRIVER_CAPABILITIES value.
var ErrInvalidCapability = errors.New("invalid NVIDIA driver capability")

// HostRoots are where the binder finds the host's driver files. Tests
// point them into a fake tree; DefaultHostRoots gives a real host's. An
// empty LDCache, Sys, FirmwareRoot or Run turns off what it serves.
type HostRoots struct {
	// Dev holds the device nodes (nvidiactl, nvidia<N>, nvidia-caps/).
	Dev string
	// Proc is procfs: devices (majors) and driver/nvidia.
	Proc string
	// Sys is sysfs: module/firmware_class/parameters/path, a firmware
	// directory searched before FirmwareRoot.
	Sys string
	// LDCache is the host's ld cache file.
	LDCache string
	// LibDirs are directories outside the ld cache that may hold the
	// driver's libraries (GPU cloud images keep it in /usr/local/nvidia).
	LibDirs []string
	// BinDirs are searched in order for the driver's programs.
	BinDirs []string
	// FirmwareRoot holds nvidia/<driver version>/gsp_*.bin.
	FirmwareRoot string
	// Run holds the driver daemons' sockets (nvidia-persistenced/socket).
	Run string
}

// DefaultHostRoots returns a real host's roots.
func DefaultHostRoots() HostRoots {
	return HostRoots{
		Dev:          "/dev",
		Proc:         "/proc",
		Sys:          "/sys",
		LDCache:      "/etc/ld.so.cache",
		LibDirs:      []string{"/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"},
		BinDirs:      []string{"/usr/local/nvidia/bin", "/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin", "/sbin"},
		FirmwareRoot: "/lib/firmware",
		Run:          "/run",
	}
}

// Paths in the kernel.
const (
	// containerLibDir receives libraries whose host directory an image's
	// loader would not search. Debian and Ubuntu images (nearly all
	// Backend.AI images) search it; for others Edits.LibDirs lets the
	// runtime add it to the loader's configuration.
	containerLibDir      = "/usr/lib/x86_64-linux-gnu"
	containerBinDir      = "/usr/bin"
	containerFirmwareDir = "/lib/firmware/nvidia"
	containerProcDriver  = "/proc/driver/nvidia"
)

// systemLibDirs are the host library directories kept as they are in the
// kernel: every distribution's loader searches one of them.
var systemLibDirs = [...]string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// driverPrograms are the driver's programs by capability, as
// libnvidia-container binds them.
var driverPrograms = [...]struct{ name, capability string }{
	{"nvidia-smi", CapUtility},
	{"nvidia-debugdump", CapUtility},
	{"nvidia-persistenced", CapUtility},
	{"nvidia-cuda-mps-control", CapCompute},
	{"nvidia-cuda-mps-server", CapCompute},
}

// driverSockets are the driver daemons' sockets under HostRoots.Run, bound
// with utility when they exist: nvidia-smi asks persistenced and the
// fabric manager (NVSwitch hosts) through them.
var driverSockets = [...]string{"nvidia-persistenced/socket", "nvidia-fabricmanager/socket"}

// extraLinks are links beyond the SONAME that programs load by: libcuda.so
// (what build tools and some frameworks dlopen), the optical flow SDK's
// unversioned name, and GLVND's indirect GLX vendor.
var extraLinks = [...]struct{ stem, link string }{
	{"libcuda", "libcuda.so"},
	{"libnvidia-opticalflow", "libnvidia-opticalflow.so"},
	{"libGLX_nvidia", "libGLX_indirect.so.0"},
}

// Mount is a read-only bind mount of a host file into the kernel. The
// runtime adds it to the spec with type "bind"; Options are complete.
type Mount struct {
	Source, Target string
	Options        []string
}

// Symlink is a link the runtime creates in the kernel's rootfs before
// start: LinkPath (absolute, in the kernel) pointing at Target (relative
// to LinkPath's directory). The SONAME links let a program load the
// driver even in an image without ldconfig; an existing link at LinkPath
// is replaced.
type Symlink struct {
	Target, LinkPath string
}

// ProcDriver is what the kernel should see at /proc/driver/nvidia instead
// of the host's directory, which lists every GPU and lets the driver
// create device nodes: a tmpfs holding Files, with the selected GPUs'
// entries (and MIG access files) bound from HostDir.
//
// runc refuses spec mounts under /proc (checkProcMount allows a few lxcfs
// files only), so the runtime must present this itself inside the
// kernel's mount namespace; where it cannot, masking HiddenGPUs through
// linux.maskedPaths at least hides the other GPUs.
type ProcDriver struct {
	// HostDir is the host's /proc/driver/nvidia.
	HostDir string
	// Files are file name → content: params with ModifyDeviceFiles set to
	// 0 (so libcuda never mknods or chmods nodes in the kernel), and
	// copies of version and registry.
	Files map[string][]byte
	// GPUs are the bus ids of the selected GPUs: HostDir/gpus/<id> goes to
	// /proc/driver/nvidia/gpus/<id>.
	GPUs []string
	// MIGCaps are paths relative to HostDir of the MIG access files
	// (capabilities/gpu<N>/mig/gi<G>/access and .../ci<C>/access) that
	// CUDA reads to find its caps nodes; each goes to the same path
	// under /proc/driver/nvidia.
	MIGCaps []string
	// HiddenGPUs are the bus ids of the host's other GPUs, for masking
	// /proc/driver/nvidia/gpus/<id> when ProcDriver cannot be presented.
	HiddenGPUs []string
}

// Edits are what binding GPUs adds to a kernel. Every field is plain data
// in a stable order; the runtime turns it into the OCI spec and rootfs
// changes. Paths in the kernel are absolute.
type Edits struct {
	// DeviceNodes go to linux.devices, each with a device-cgroup allow
	// rule "c major:minor rwm".
	DeviceNodes []DeviceNode
	// Mounts are the driver's libraries, programs, firmware and sockets,
	// all read-only, nosuid and nodev.
	Mounts []Mount
	// Symlinks are created in the rootfs before start (resolved inside
	// the rootfs: an image's own symlinks must not lead out of it).
	Symlinks []Symlink
	// ProcDriver is nil when no GPU is bound.
	ProcDriver *ProcDriver
	// Env is appended to the kernel's environment, overriding the
	// image's: "KEY=value" entries.
	Env []string
	// LDConfig is true when libraries were added: the kernel's init runs
	// ldconfig before the user's command so the loader cache knows them.
	LDConfig bool
	// LibDirs are the kernel directories the libraries were put in. The
	// runtime lists them in the rootfs's /etc/ld.so.conf.d (before
	// ldconfig runs) for images whose loader does not search them.
	LibDirs []string
	// NoLibraries are requested capabilities for which the host has no
	// library (e.g. video on a headless driver install): not an error;
	// the caller logs them.
	NoLibraries []string
}

// Binder turns a kernel's GPUs into Edits. It scans the host once, at
// NewBinder: the driver's libraries, programs and firmware do not change
// while the driver stays loaded (a driver upgrade means restarting the
// agent, whose NVML session would be stale anyway). Per kernel it only
// checks device nodes and reads the small /proc/driver/nvidia files. A
// Binder is safe for concurrent use: Edits does not modify it.
type Binder struct {
	roots    HostRoots
	driver   Driver
	libs     []DriverLibrary
	programs []hostFile
	firmware []hostFile
}

// hostFile is a host file and where it goes in the kernel.
type hostFile struct {
	source, target, capability string
}

// NewBinder scans the host for the driver's user-space files.
func NewBinder(roots HostRoots, driver Driver) (*Binder, error) {
	if driver.Version == "" {
		return nil, errors.New("new GPU binder: no driver version")
	}
	if roots.Dev == "" || roots.Proc == "" {
		return nil, errors.New("new GPU binder: no /dev or /proc root")
	}
	libs, err := FindDriverLibraries(roots.LDCache, roots.LibDirs, driver.Version)
	if err != nil {
		return nil, fmt.Errorf("new GPU binder: %w", err)
	}
	b := &Binder{roots: roots, driver: driver, libs: libs}
	for _, p := range driverPrograms {
		if src, ok := findProgram(roots.BinDirs, p.name); ok {
			b.programs = append(b.programs, hostFile{src, path.Join(containerBinDir, p.name), p.capability})
		}
	}
	if b.firmware, err = findFirmware(roots, driver.Version); err != nil {
		return nil, fmt.Errorf("new GPU binder: %w", err)
	}
	return b, nil
}

// Libraries returns the driver libraries the binder found.
func (b *Binder) Libraries() []DriverLibrary { return slices.Clone(b.libs) }

// findProgram returns the real path (symlinks resolved) of the first
// regular, executable file called name in dirs.
func findProgram(dirs []string, name string) (string, bool) {
	for _, dir := range dirs {
		resolved, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if fi, err := os.Stat(resolved); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return resolved, true
		}
	}
	return "", false
}

// findFirmware lists the GSP firmware of the driver version: the files
// under nvidia/<version>/ in the kernel's custom firmware path (sysfs
// firmware_class.path), which the kernel searches first, else in
// FirmwareRoot. The kernel module has already loaded it from the host; it
// is bound for parity with libnvidia-container and nvidia-ctk's CDI specs.
func findFirmware(roots HostRoots, version string) ([]hostFile, error) {
	var dirs []string
	if roots.Sys != "" {
		if custom, err := os.ReadFile(filepath.Join(roots.Sys, "module/firmware_class/parameters/path")); err == nil {
			if c := strings.TrimSpace(string(custom)); c != "" {
				dirs = append(dirs, c)
			}
		}
	}
	if roots.FirmwareRoot != "" {
		dirs = append(dirs, roots.FirmwareRoot)
	}
	for _, root := range dirs {
		dir := filepath.Join(root, "nvidia", version)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list firmware: %w", err)
		}
		var files []hostFile
		for _, de := range ents {
			if de.Type().IsRegular() {
				files = append(files, hostFile{
					source: filepath.Join(dir, de.Name()),
					target: path.Join(containerFirmwareDir, version, de.Name()),
				})
			}
		}
		if len(files) > 0 {
			return files, nil
		}
	}
	return nil, nil
}

// Edits returns what a kernel needs to use devs (in the kernel's device
// order, which the caller sorts by bus id) with the given
// NVIDIA_DRIVER_CAPABILITIES values (each may be a comma list; none means
// DefaultCapabilities).
//
// With no devs the kernel gets only an environment that hides every GPU,
// so a CUDA image setting NVIDIA_VISIBLE_DEVICES=all sees none.
func (b *Binder) Edits(devs []Device, capabilities []string) (Edits, error) {
	caps, err := parseCapabilities(capabilities)
	if err != nil {
		return Edits{}, err
	}
	if len(devs) == 0 {
		return Edits{Env: []string{
			"NVIDIA_VISIBLE_DEVICES=void",
			"CUDA_VISIBLE_DEVICES=",
			"GPU_COUNT=0",
			"N_GPUS=0",
		}}, nil
	}

	var e Edits
	if e.DeviceNodes, err = deviceNodes(b.roots.Dev, b.roots.Proc, devs, caps); err != nil {
		return Edits{}, err
	}
	if err := b.addLibraries(&e, caps); err != nil {
		return Edits{}, err
	}
	for _, p := range b.programs {
		if caps.has(p.capability) {
			e.Mounts = append(e.Mounts, roMount(p.source, p.target))
		}
	}
	for _, f := range b.firmware {
		e.Mounts = append(e.Mounts, roMount(f.source, f.target))
	}
	if caps.has(CapUtility) && b.roots.Run != "" {
		for _, s := range driverSockets {
			src := filepath.Join(b.roots.Run, s)
			if _, err := os.Stat(src); err == nil {
				m := roMount(src, path.Join("/run", s))
				m.Options = append(m.Options, "noexec")
				e.Mounts = append(e.Mounts, m)
			}
		}
	}
	if e.ProcDriver, err = b.procDriver(devs); err != nil {
		return Edits{}, err
	}
	e.Env = b.env(devs, caps)
	return e, nil
}

// addLibraries adds the mounts and links of the libraries caps select.
func (b *Binder) addLibraries(e *Edits, caps capSet) error {
	found := make(map[string]bool)
	links := make(map[string]bool)
	link := func(dir, target, name string) {
		lp := path.Join(dir, name)
		if name == target || links[lp] {
			return
		}
		links[lp] = true
		e.Symlinks = append(e.Symlinks, Symlink{Target: target, LinkPath: lp})
	}
	for _, l := range b.libs {
		if !caps.has(l.Capability) {
			continue
		}
		found[l.Capability] = true
		dir := containerLibDirFor(l.Path)
		e.Mounts = append(e.Mounts, roMount(l.Path, path.Join(dir, l.Name)))
		if !slices.Contains(e.LibDirs, dir) {
			e.LibDirs = append(e.LibDirs, dir)
		}
		link(dir, l.Name, l.SONAME)
		stem, _, _ := strings.Cut(l.Name, ".so.")
		for _, x := range extraLinks {
			if x.stem == stem {
				link(dir, l.SONAME, x.link)
			}
		}
	}
	if caps.has(CapCompute) && !slices.ContainsFunc(b.libs, func(l DriverLibrary) bool {
		return strings.HasPrefix(l.Name, "libcuda.so.")
	}) {
		return fmt.Errorf("%w: compute requested but no libcuda.so.%s on the host", ErrHostSetup, b.driver.Version)
	}
	for _, c := range caps.names() {
		if libraryCapability(c) && !found[c] {
			e.NoLibraries = append(e.NoLibraries, c)
		}
	}
	slices.Sort(e.LibDirs)
	e.LDConfig = len(found) > 0
	return nil
}

// libraryCapability reports whether capability c brings libraries.
func libraryCapability(c string) bool {
	switch c {
	case CapUtility, CapCompute, CapVideo, CapGraphics, CapNGX:
		return true
	}
	return false
}

// containerLibDirFor returns the kernel directory for a host library: its
// own directory when that is one every loader searches (so the kernel
// matches the host), else containerLibDir (a Debian-style driver install
// in /usr/lib/x86_64-linux-gnu/nvidia/current, or /usr/local/nvidia/lib64,
// would not be searched).
func containerLibDirFor(hostPath string) string {
	dir := filepath.Dir(hostPath)
	if slices.Contains(systemLibDirs[:], dir) {
		return dir
	}
	return containerLibDir
}

// roMount binds a host file read-only. Libraries and programs need exec,
// so no noexec.
func roMount(src, dst string) Mount {
	return Mount{Source: src, Target: dst, Options: []string{"ro", "nosuid", "nodev", "bind"}}
}

// procDriver reads what the kernel's /proc/driver/nvidia should hold.
func (b *Binder) procDriver(devs []Device) (*ProcDriver, error) {
	dir := filepath.Join(b.roots.Proc, "driver/nvidia")
	p := &ProcDriver{HostDir: dir, Files: make(map[string][]byte, 3)}
	for _, name := range []string{"params", "version", "registry"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) && name == "registry" {
			continue // absent on some driver builds; nothing reads it by default
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: driver file %s missing: %w", ErrHostSetup, name, err)
		}
		if err != nil {
			return nil, fmt.Errorf("read driver %s: %w", name, err)
		}
		if name == "params" {
			data = disableDeviceFileModification(data)
		}
		p.Files[name] = data
	}
	selected := make(map[string]bool, len(devs))
	for _, d := range devs {
		if !selected[d.BusID] {
			selected[d.BusID] = true
			p.GPUs = append(p.GPUs, d.BusID)
		}
		if d.MIG != nil {
			gi := path.Join("capabilities", "gpu"+strconv.Itoa(d.MIG.ParentMinor), "mig", "gi"+strconv.Itoa(d.MIG.GI))
			for _, c := range []string{path.Join(gi, "access"), path.Join(gi, "ci"+strconv.Itoa(d.MIG.CI), "access")} {
				if slices.Contains(p.MIGCaps, c) {
					continue
				}
				if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
					return nil, fmt.Errorf("%w: MIG device %s: %w", ErrHostSetup, d.UUID, err)
				}
				p.MIGCaps = append(p.MIGCaps, c)
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, "gpus"))
	if err != nil {
		return nil, fmt.Errorf("list driver GPUs: %w", err)
	}
	for _, de := range ents {
		if !selected[de.Name()] {
			p.HiddenGPUs = append(p.HiddenGPUs, de.Name())
		}
	}
	for _, id := range p.GPUs {
		if _, err := os.Stat(filepath.Join(dir, "gpus", id)); err != nil {
			return nil, fmt.Errorf("%w: GPU %s: %w", ErrHostSetup, id, err)
		}
	}
	return p, nil
}

// disableDeviceFileModification sets ModifyDeviceFiles to 0 in the
// driver's params, as libnvidia-container does: with 1, libcuda in the
// kernel would try to create and chmod /dev/nvidia* for every host GPU.
// A params without the line gets it appended.
func disableDeviceFileModification(params []byte) []byte {
	const key = "ModifyDeviceFiles:"
	lines := bytes.SplitAfter(params, []byte("\n"))
	out := make([]byte, 0, len(params)+len(key)+3)
	found := false
	for _, l := range lines {
		if bytes.HasPrefix(l, []byte(key)) {
			found = true
			out = append(out, key+" 0\n"...)
			continue
		}
		out = append(out, l...)
	}
	if !found {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, key+" 0\n"...)
	}
	return out
}

// env returns the kernel's GPU environment.
//
// NVIDIA_VISIBLE_DEVICES=void makes an image's own NVIDIA hook, or a value
// "all" baked into a CUDA image, do nothing: the agent has bound the GPUs.
// CUDA_VISIBLE_DEVICES lists the kernel's devices by container-local index
// (the kernel sees only its own nodes, so indices restart at 0), or by
// UUID when there are MIG devices, which CUDA can only select by UUID.
// The GPU_* and N_GPUS variables are what upstream's agent sets for the
// first accelerator (agent.py create_kernel): GPU_MODEL_NAME is the first
// device's name; GPU_CONFIG and TF_GPU_MEMORY_ALLOC list each device's
// memory as "<local index>:<size>", the size in upstream's BinarySize
// short form ("40g") and in MiB.
func (b *Binder) env(devs []Device, caps capSet) []string {
	useUUIDs := slices.ContainsFunc(devs, func(d Device) bool { return d.MIG != nil })
	visible := make([]string, len(devs))
	config := make([]string, len(devs))
	tf := make([]string, len(devs))
	for i, d := range devs {
		if useUUIDs {
			visible[i] = d.UUID
		} else {
			visible[i] = strconv.Itoa(i)
		}
		config[i] = strconv.Itoa(i) + ":" + binarySize(d.MemoryBytes)
		tf[i] = strconv.Itoa(i) + ":" + strconv.FormatUint(d.MemoryBytes>>20, 10)
	}
	n := strconv.Itoa(len(devs))
	return []string{
		"NVIDIA_VISIBLE_DEVICES=void",
		"NVIDIA_DRIVER_CAPABILITIES=" + strings.Join(caps.names(), ","),
		"CUDA_DEVICE_ORDER=PCI_BUS_ID",
		"CUDA_VISIBLE_DEVICES=" + strings.Join(visible, ","),
		"GPU_TYPE=cuda",
		"GPU_MODEL_NAME=" + devs[0].Name,
		"GPU_CONFIG=" + strings.Join(config, ","),
		"TF_GPU_MEMORY_ALLOC=" + strings.Join(tf, ","),
		"GPU_COUNT=" + n,
		"N_GPUS=" + n,
	}
}

// binarySize formats a byte count as upstream's BinarySize does with
// format "s": scaled to the largest binary unit not above it, lowercase
// unit letter, at most two decimals (rounded half to even) with trailing
// zeros dropped: 42949672960 → "40g", 85520809984 → "79.65g", 512 → "512".
func binarySize(n uint64) string {
	const units = " kmgtpe"
	idx := 0
	for s := n; s >= 1024 && idx < len(units)-1; s /= 1024 {
		idx++
	}
	if idx == 0 {
		return strconv.FormatUint(n, 10)
	}
	mult := uint64(1) << (10 * idx)
	whole, rem := n/mult, n%mult
	// Hundredths of the remainder, rounded half to even. rem*100 can pass
	// 2^64 (exbibytes), hence the 128-bit product.
	hi, lo := bits.Mul64(rem, 100)
	h, r := bits.Div64(hi, lo, mult)
	if r > mult-r || (r == mult-r && h%2 == 1) { // r*2 could overflow
		h++
	}
	if h == 100 {
		whole, h = whole+1, 0
	}
	s := strconv.FormatUint(whole, 10)
	if h != 0 {
		frac := fmt.Sprintf("%02d", h)
		s += "." + strings.TrimRight(frac, "0")
	}
	return s + string(units[idx])
}

// capSet is a set of capabilities.
type capSet uint8

// capabilityNames are the valid capabilities in the order Edits writes
// them (sorted, so the default reads "compute,utility").
var capabilityNames = [...]string{CapCompat32, CapCompute, CapDisplay, CapGraphics, CapNGX, CapUtility, CapVideo}

func (s capSet) has(c string) bool {
	i := slices.Index(capabilityNames[:], c)
	return i >= 0 && s&(1<<i) != 0
}

func (s capSet) names() []string {
	var out []string
	for i, c := range capabilityNames {
		if s&(1<<i) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// parseCapabilities reads NVIDIA_DRIVER_CAPABILITIES values. compat32 is
// accepted, as images ask for it, but brings nothing: only x86-64
// libraries are bound.
func parseCapabilities(values []string) (capSet, error) {
	var s capSet
	given := false
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			c = strings.TrimSpace(c)
			if c == "" {
				continue
			}
			given = true
			if c == CapAll {
				s = 1<<len(capabilityNames) - 1
				continue
			}
			i := slices.Index(capabilityNames[:], c)
			if i < 0 {
				return 0, fmt.Errorf("%w: %q", ErrInvalidCapability, c)
			}
			s |= 1 << i
		}
	}
	if !given {
		return parseCapabilities([]string{DefaultCapabilities})
	}
	return s, nil
}
