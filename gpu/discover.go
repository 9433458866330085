package gpu

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// DiscoverOptions tunes Discover. The zero value reads the real /sys and
// /proc and hides nothing.
type DiscoverOptions struct {
	// SysRoot is where sysfs is mounted (for numa_node); "" means /sys.
	SysRoot string
	// ProcRoot is where procfs is mounted (for the MIG access caps under
	// driver/nvidia/capabilities); "" means /proc.
	ProcRoot string
	// Mask is the device_mask: devices to hide. See ApplyMask for the rule.
	Mask []string
}

// Discover enumerates the GPUs NVML sees.
//
// Full GPUs come first, sorted by PCI bus id, with Index 0..n-1 in that
// order (what CUDA numbers with CUDA_DEVICE_ORDER=PCI_BUS_ID). The MIG
// devices of every GPU in MIG mode follow, ordered by parent bus id, then
// GPU instance, then compute instance, with Index continuing from n. A GPU
// in MIG mode is still listed (MIGEnabled set) so that its node and bus id
// are known; CUDA cannot use it whole, so an allocator should offer its MIG
// devices instead.
//
// Indices are assigned before the mask is applied, so hiding a device never
// renumbers the others (like upstream, whose ids are CUDA indices and whose
// mask only filters). Mask entries that match nothing are logged as
// warnings, not errors.
//
// A failure on one device does not stop the others: Discover returns every
// device it could read together with an error that joins one wrapped error
// per failed device (naming it). Fields NVML does not support on a device
// become zero values. A caller that must have all GPUs treats a non-nil
// error as fatal; one that prefers to run degraded may use the devices.
// Errors that concern NVML as a whole (driver version, device count) return
// no devices.
func Discover(n *NVML, o DiscoverOptions) ([]Device, Driver, error) {
	if err := n.acquire(); err != nil {
		return nil, Driver{}, err
	}
	defer n.mu.RUnlock()
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}

	drv, err := readDriver(n.lib)
	if err != nil {
		return nil, Driver{}, err
	}
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, drv, fmt.Errorf("NVML device count: %w", ret)
	}

	var errs []error
	gpus := make([]found, 0, count)
	for i := range count {
		h, ret := n.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			errs = append(errs, fmt.Errorf("GPU at NVML index %d: handle: %w", i, ret))
			continue
		}
		d, err := readGPU(h, i, o.SysRoot)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		gpus = append(gpus, found{dev: d, h: h})
	}
	slices.SortStableFunc(gpus, func(a, b found) int {
		return cmp.Or(compareBusID(a.dev.BusID, b.dev.BusID), cmp.Compare(a.dev.NVMLIndex, b.dev.NVMLIndex))
	})

	devs := make([]Device, 0, len(gpus))
	for i := range gpus {
		gpus[i].dev.Index = i
		devs = append(devs, gpus[i].dev)
	}
	for _, g := range gpus {
		if !g.dev.MIGEnabled {
			continue
		}
		migs, migErrs := readMIGDevices(g.h, g.dev, o.ProcRoot)
		errs = append(errs, migErrs...)
		for _, m := range migs {
			m.Index = len(devs)
			devs = append(devs, m)
		}
	}

	devs, unmatched := ApplyMask(devs, o.Mask)
	for _, e := range unmatched {
		n.log.Warn("device_mask entry matches no GPU", "mask_entry", e)
	}
	for _, d := range devs {
		n.log.Debug("GPU discovered", "index", d.Index, "uuid", d.UUID, "name", d.Name,
			"bus_id", d.BusID, "minor", d.Minor, "memory", d.MemoryBytes, "sms", d.SMs,
			"numa_node", d.NUMANode, "mig", d.MIG != nil)
	}
	n.log.Info("GPUs discovered", "count", len(devs), "nvml_count", count,
		"driver_version", drv.Version, "cuda_version", drv.CUDAVersion, "failed", len(errs))
	return devs, drv, errors.Join(errs...)
}

// found pairs a device with its handle, kept for the MIG walk.
type found struct {
	dev Device
	h   nvml.Device
}

func readDriver(lib Library) (Driver, error) {
	v, ret := lib.SystemGetDriverVersion()
	if ret != nvml.SUCCESS {
		return Driver{}, fmt.Errorf("NVML driver version: %w", ret)
	}
	drv := Driver{Version: v}
	cv, ret := lib.SystemGetCudaDriverVersion()
	switch {
	case ret == nvml.SUCCESS:
		drv.CUDAVersion = CUDAVersionString(cv)
	case unsupported(ret):
	default:
		return Driver{}, fmt.Errorf("NVML CUDA driver version: %w", ret)
	}
	return drv, nil
}

// CUDAVersionString turns NVML's integer CUDA version (1000*major +
// 10*minor, e.g. 12040) into "12.4", the form upstream reports.
func CUDAVersionString(v int) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// readGPU reads one full GPU. UUID, name, minor, memory and bus id are
// required (binding and accounting need them); SM count, compute
// capability and MIG mode fall back to zero values when unsupported.
func readGPU(h nvml.Device, nvmlIndex int, sysRoot string) (Device, error) {
	d := Device{NVMLIndex: nvmlIndex, NUMANode: -1}
	uuid, ret := h.GetUUID()
	if ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("GPU at NVML index %d: UUID: %w", nvmlIndex, ret)
	}
	d.UUID = uuid
	fail := func(what string, err error) (Device, error) {
		return Device{}, fmt.Errorf("GPU %s (NVML index %d): %s: %w", uuid, nvmlIndex, what, err)
	}

	if d.Name, ret = h.GetName(); ret != nvml.SUCCESS {
		return fail("name", ret)
	}
	if d.Minor, ret = h.GetMinorNumber(); ret != nvml.SUCCESS {
		return fail("minor number", ret)
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return fail("memory info", ret)
	}
	d.MemoryBytes = mem.Total
	pci, ret := h.GetPciInfo()
	if ret != nvml.SUCCESS {
		return fail("PCI info", ret)
	}
	busID, err := busIDFromPCIInfo(pci)
	if err != nil {
		return fail("PCI bus id", err)
	}
	d.BusID = busID
	d.NUMANode = readNUMANode(sysRoot, busID)

	// nvmlDeviceGetAttributes was documented for MIG handles only; drivers
	// that keep to that refuse a full GPU with NOT_SUPPORTED or, on some
	// versions, INVALID_ARGUMENT. Either way the SM count is unknown, not
	// an error.
	attrs, ret := h.GetAttributes()
	switch {
	case ret == nvml.SUCCESS:
		d.SMs = int(attrs.MultiprocessorCount)
	case unsupported(ret) || ret == nvml.ERROR_INVALID_ARGUMENT:
	default:
		return fail("attributes", ret)
	}
	major, minor, ret := h.GetCudaComputeCapability()
	switch {
	case ret == nvml.SUCCESS:
		d.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	case unsupported(ret):
	default:
		return fail("compute capability", ret)
	}
	current, _, ret := h.GetMigMode()
	switch {
	case ret == nvml.SUCCESS:
		d.MIGEnabled = current == nvml.DEVICE_MIG_ENABLE
	case unsupported(ret):
	default:
		return fail("MIG mode", ret)
	}
	return d, nil
}

// readMIGDevices lists the MIG devices of parent. A slot without a device
// is skipped; a device that cannot be read (or whose access caps are
// missing, so it could not be bound) is left out with an error.
func readMIGDevices(h nvml.Device, parent Device, procRoot string) ([]Device, []error) {
	slots, ret := h.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		return nil, []error{fmt.Errorf("GPU %s: MIG device count: %w", parent.UUID, ret)}
	}
	var devs []Device
	var errs []error
	for i := range slots {
		mh, ret := h.GetMigDeviceHandleByIndex(i)
		if ret == nvml.ERROR_NOT_FOUND || ret == nvml.ERROR_INVALID_ARGUMENT {
			continue // an empty slot
		}
		if ret != nvml.SUCCESS {
			errs = append(errs, fmt.Errorf("GPU %s: MIG device %d: handle: %w", parent.UUID, i, ret))
			continue
		}
		d, err := readMIG(mh, parent, procRoot)
		if err != nil {
			errs = append(errs, fmt.Errorf("GPU %s: MIG device %d: %w", parent.UUID, i, err))
			continue
		}
		devs = append(devs, d)
	}
	slices.SortFunc(devs, func(a, b Device) int {
		return cmp.Or(cmp.Compare(a.MIG.GI, b.MIG.GI), cmp.Compare(a.MIG.CI, b.MIG.CI))
	})
	return devs, errs
}

// readMIG reads one MIG device. It shares its parent's device node, bus
// id, NUMA node and compute capability; it has its own UUID, memory and SM
// count, and needs the GI and CI access caps.
func readMIG(h nvml.Device, parent Device, procRoot string) (Device, error) {
	uuid, ret := h.GetUUID()
	if ret != nvml.SUCCESS {
		return Device{}, fmt.Errorf("UUID: %w", ret)
	}
	d := Device{
		NVMLIndex:         parent.NVMLIndex,
		UUID:              uuid,
		Name:              parent.Name,
		BusID:             parent.BusID,
		Minor:             parent.Minor,
		NUMANode:          parent.NUMANode,
		ComputeCapability: parent.ComputeCapability,
	}
	fail := func(what string, err error) (Device, error) {
		return Device{}, fmt.Errorf("%s: %s: %w", uuid, what, err)
	}
	name, ret := h.GetName()
	switch {
	case ret == nvml.SUCCESS:
		d.Name = name
	case unsupported(ret):
	default:
		return fail("name", ret)
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return fail("memory info", ret)
	}
	d.MemoryBytes = mem.Total
	attrs, ret := h.GetAttributes()
	switch {
	case ret == nvml.SUCCESS:
		d.SMs = int(attrs.MultiprocessorCount)
	case unsupported(ret):
	default:
		return fail("attributes", ret)
	}
	gi, ret := h.GetGpuInstanceId()
	if ret != nvml.SUCCESS {
		return fail("GPU instance id", ret)
	}
	ci, ret := h.GetComputeInstanceId()
	if ret != nvml.SUCCESS {
		return fail("compute instance id", ret)
	}
	giDir := filepath.Join(procRoot, "driver/nvidia/capabilities",
		"gpu"+strconv.Itoa(parent.Minor), "mig", "gi"+strconv.Itoa(gi))
	giMinor, err := readCapMinor(filepath.Join(giDir, "access"))
	if err != nil {
		return fail("GPU instance access cap", err)
	}
	ciMinor, err := readCapMinor(filepath.Join(giDir, "ci"+strconv.Itoa(ci), "access"))
	if err != nil {
		return fail("compute instance access cap", err)
	}
	d.MIG = &MIGDevice{ParentMinor: parent.Minor, GI: gi, CI: ci, CapMinors: []int{giMinor, ciMinor}}
	return d, nil
}

// readCapMinor reads the "DeviceFileMinor: N" line of a
// /proc/driver/nvidia/capabilities access file: N is the minor of
// /dev/nvidia-caps/nvidia-cap<N>.
func readCapMinor(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "DeviceFileMinor" {
			continue
		}
		m, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || m < 0 {
			return 0, fmt.Errorf("%s: bad DeviceFileMinor %q", path, strings.TrimSpace(v))
		}
		return m, nil
	}
	return 0, fmt.Errorf("%s: no DeviceFileMinor line", path)
}

// readNUMANode reads the device's NUMA node from sysfs. The kernel writes
// -1 when the platform has no NUMA affinity for it; a missing or unreadable
// file (no sysfs, a VM without the device there) is -1 too.
func readNUMANode(sysRoot, busID string) int {
	b, err := os.ReadFile(filepath.Join(sysRoot, "bus/pci/devices", busID, "numa_node"))
	if err != nil {
		return -1
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v < -1 {
		return -1
	}
	return v
}

// busIDFromPCIInfo returns the bus id in sysfs form. NVML's string is the
// reliable source (it has the function number); the numeric fields are the
// fallback when it is empty.
func busIDFromPCIInfo(p nvml.PciInfo) (string, error) {
	s := cString(p.BusId[:])
	if s == "" {
		s = cString(p.BusIdLegacy[:])
	}
	if s == "" {
		return fmt.Sprintf("%04x:%02x:%02x.0", p.Domain, p.Bus, p.Device), nil
	}
	return NormalizeBusID(s)
}

func cString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// NormalizeBusID turns a PCI bus id as NVML writes it ("00000000:07:00.0",
// upper-case hex, 8-digit domain) into the sysfs form ("0000:07:00.0"):
// lower case, the domain with at least 4 digits as the kernel prints it.
// A missing domain ("07:00.0") means domain 0.
func NormalizeBusID(s string) (string, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) == 2 {
		parts = append([]string{"0"}, parts...)
	}
	if len(parts) != 3 {
		return "", fmt.Errorf("bad PCI bus id %q", s)
	}
	devStr, fnStr, ok := strings.Cut(parts[2], ".")
	if !ok {
		return "", fmt.Errorf("bad PCI bus id %q", s)
	}
	dom, err1 := strconv.ParseUint(parts[0], 16, 32)
	bus, err2 := strconv.ParseUint(parts[1], 16, 8)
	dev, err3 := strconv.ParseUint(devStr, 16, 5)
	fn, err4 := strconv.ParseUint(fnStr, 16, 3)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return "", fmt.Errorf("bad PCI bus id %q: %w", s, err)
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", dom, bus, dev, fn), nil
}

// compareBusID orders sysfs bus ids numerically by domain (which may be
// wider than 4 digits) and then by the fixed-width rest.
func compareBusID(a, b string) int {
	ad, ar, _ := strings.Cut(a, ":")
	bd, br, _ := strings.Cut(b, ":")
	an, aerr := strconv.ParseUint(ad, 16, 32)
	bn, berr := strconv.ParseUint(bd, 16, 32)
	if aerr != nil || berr != nil {
		return strings.Compare(a, b)
	}
	return cmp.Or(cmp.Compare(an, bn), strings.Compare(ar, br))
}

// ApplyMask removes the devices that device_mask hides and reports the
// entries that matched nothing.
//
// The rule, the same for listing, allocation and stats (upstream compares
// UUIDs in one place and indices in another): an entry of decimal digits is
// a device Index; any other entry is a UUID ("GPU-…" or "MIG-…"), compared
// without regard to case. Blank entries are ignored. Hiding a full GPU also
// hides its MIG devices, which cannot be used without it. Devices keep
// their Index; order is preserved.
func ApplyMask(devs []Device, mask []string) (kept []Device, unmatched []string) {
	type entry struct {
		raw     string
		index   int // -1 for a UUID entry
		matched bool
	}
	var entries []*entry
	for _, m := range mask {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		e := &entry{raw: m, index: -1}
		if isDigits(m) {
			if v, err := strconv.Atoi(m); err == nil {
				e.index = v
			}
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return devs, nil
	}
	hides := func(d Device) bool {
		hit := false
		for _, e := range entries {
			if (e.index >= 0 && e.index == d.Index) || (e.index < 0 && strings.EqualFold(e.raw, d.UUID)) {
				e.matched = true
				hit = true
			}
		}
		return hit
	}
	hiddenMinors := map[int]bool{}
	hidden := make([]bool, len(devs))
	for i, d := range devs {
		if hides(d) {
			hidden[i] = true
			if d.MIG == nil {
				hiddenMinors[d.Minor] = true
			}
		}
	}
	kept = make([]Device, 0, len(devs))
	for i, d := range devs {
		if hidden[i] || (d.MIG != nil && hiddenMinors[d.MIG.ParentMinor]) {
			continue
		}
		kept = append(kept, d)
	}
	for _, e := range entries {
		if !e.matched {
			unmatched = append(unmatched, e.raw)
		}
	}
	return kept, unmatched
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
