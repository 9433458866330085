package gpu

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// dgxBuses are the PCI buses of a DGX A100's eight GPUs and dgxNUMA their
// NUMA nodes, so that the mock looks like a real box.
func dgxBuses() []uint32 { return []uint32{0x07, 0x0f, 0x47, 0x4e, 0x87, 0x90, 0xb7, 0xbd} }
func dgxNUMA() []int     { return []int{3, 3, 1, 1, 7, 7, 5, 5} }

const mib = 1 << 20

// cBusID writes s into NVML's fixed C string field.
func cBusID(s string) [32]int8 {
	var b [32]int8
	for i := range len(s) {
		b[i] = int8(s[i])
	}
	return b
}

// completeMock fills in what go-nvml's server mock leaves unset (calling an
// unset mock method panics): PCI info with a real-looking bus id in NVML's
// upper-case 8-digit-domain form, attributes, utilisation, used memory and
// an empty set of MIG slots.
func completeMock(t *testing.T, s *server.Server, sms uint32) {
	t.Helper()
	buses := dgxBuses()
	for i, dev := range s.Devices {
		d := dev.(*server.Device)
		bus := buses[i]
		d.PciBusID = fmt.Sprintf("0000:%02x:00.0", bus)
		d.MemoryInfo.Used = uint64(i) * 1024 * mib
		d.MemoryInfo.Free = d.MemoryInfo.Total - d.MemoryInfo.Used
		util := uint32(10*i + 5)
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			return nvml.PciInfo{
				Bus:         bus,
				PciDeviceId: d.Config.PciDeviceId,
				BusId:       cBusID(fmt.Sprintf("%08X:%02X:00.0", 0, bus)),
			}, nvml.SUCCESS
		}
		d.GetAttributesFunc = func() (nvml.DeviceAttributes, nvml.Return) {
			return nvml.DeviceAttributes{MultiprocessorCount: sms}, nvml.SUCCESS
		}
		d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: util}, nvml.SUCCESS
		}
		d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, nvml.SUCCESS }
		d.GetMigDeviceHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) {
			return nil, nvml.ERROR_NOT_FOUND
		}
	}
}

func newA100(t *testing.T) *server.Server {
	s := dgxa100.New()
	completeMock(t, s, 108)
	return s
}

func mockDev(s *server.Server, i int) *server.Device { return s.Devices[i].(*server.Device) }

// fakeSys writes numa_node files for the DGX buses; skip names buses that
// get no file.
func fakeSys(t *testing.T, skip ...uint32) string {
	t.Helper()
	root := t.TempDir()
	numa := dgxNUMA()
	for i, bus := range dgxBuses() {
		if slices.Contains(skip, bus) {
			continue
		}
		dir := filepath.Join(root, "bus/pci/devices", fmt.Sprintf("0000:%02x:00.0", bus))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "numa_node"), fmt.Appendf(nil, "%d\n", numa[i]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustOpen(t *testing.T, lib Library, log *slog.Logger) *NVML {
	t.Helper()
	n, err := Open(lib, log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestDiscoverDGXA100(t *testing.T) {
	s := newA100(t)
	n := mustOpen(t, s, nil)
	// Bus 0x90 has no numa_node file: NUMA unknown, not an error.
	devs, drv, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t, 0x90), ProcRoot: t.TempDir()})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if drv != (Driver{Version: "550.54.15", CUDAVersion: "12.4"}) {
		t.Errorf("driver = %+v", drv)
	}
	if len(devs) != 8 {
		t.Fatalf("got %d devices, want 8", len(devs))
	}
	numa := dgxNUMA()
	for i, d := range devs {
		m := mockDev(s, i)
		want := Device{
			Index:             i,
			NVMLIndex:         i,
			UUID:              m.UUID,
			Name:              "Mock NVIDIA A100-SXM4-40GB",
			BusID:             m.PciBusID,
			Minor:             i,
			MemoryBytes:       40960 * mib,
			SMs:               108,
			NUMANode:          numa[i],
			ComputeCapability: "8.0",
		}
		if m.PciBusID == "0000:90:00.0" {
			want.NUMANode = -1
		}
		if fmt.Sprintf("%+v", d) != fmt.Sprintf("%+v", want) {
			t.Errorf("device %d:\n got %+v\nwant %+v", i, d, want)
		}
	}
}

func TestDiscoverDGXH100(t *testing.T) {
	s := dgxh100.New()
	completeMock(t, s, 132)
	n := mustOpen(t, s, nil)
	devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: t.TempDir()})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if len(devs) != 8 {
		t.Fatalf("got %d devices, want 8", len(devs))
	}
	for _, d := range devs {
		if d.Name != "NVIDIA H100 80GB HBM3" || d.ComputeCapability != "9.0" || d.SMs != 132 || d.MemoryBytes != 81920*mib {
			t.Errorf("device %d = %+v", d.Index, d)
		}
	}
}

// shuffled presents the mock's devices in another NVML index order, as a
// host can whose NVML order is not the PCI order.
type shuffled struct {
	*server.Server
	perm []int
}

func (s shuffled) DeviceGetHandleByIndex(i int) (nvml.Device, nvml.Return) {
	if i < 0 || i >= len(s.perm) {
		return nil, nvml.ERROR_INVALID_ARGUMENT
	}
	return s.Devices[s.perm[i]], nvml.SUCCESS
}

func TestDiscoverOrdersByBusID(t *testing.T) {
	s := newA100(t)
	perm := []int{5, 2, 7, 0, 3, 6, 1, 4}
	n := mustOpen(t, shuffled{s, perm}, nil)
	devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: t.TempDir()})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	for i, d := range devs {
		if d.Index != i || d.UUID != mockDev(s, i).UUID {
			t.Errorf("position %d: index %d uuid %s, want the GPU on bus %s", i, d.Index, d.UUID, mockDev(s, i).PciBusID)
		}
		if want := slices.Index(perm, i); d.NVMLIndex != want {
			t.Errorf("position %d: NVML index %d, want %d", i, d.NVMLIndex, want)
		}
		if i > 0 && compareBusID(devs[i-1].BusID, d.BusID) >= 0 {
			t.Errorf("bus ids out of order: %s before %s", devs[i-1].BusID, d.BusID)
		}
	}
}

func TestDiscoverMask(t *testing.T) {
	s := newA100(t)
	var buf bytes.Buffer
	n := mustOpen(t, s, testLogger(&buf))
	hideUUID := strings.ToUpper(mockDev(s, 1).UUID) // case does not matter
	devs, _, err := Discover(n, DiscoverOptions{
		SysRoot:  fakeSys(t),
		ProcRoot: t.TempDir(),
		Mask:     []string{" " + hideUUID + " ", "4", "", "GPU-nope", "12"},
	})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	var idx []int
	for _, d := range devs {
		idx = append(idx, d.Index)
	}
	if want := []int{0, 2, 3, 5, 6, 7}; !slices.Equal(idx, want) {
		t.Errorf("indices after mask = %v, want %v (masking must not renumber)", idx, want)
	}
	for _, w := range []string{`mask_entry=GPU-nope`, `mask_entry=12`} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("log lacks warning %q:\n%s", w, buf.String())
		}
	}
	if strings.Contains(buf.String(), "mask_entry=4") {
		t.Errorf("matched entry logged as unmatched:\n%s", buf.String())
	}
}

func TestApplyMaskHidesMIGWithParent(t *testing.T) {
	devs := []Device{
		{Index: 0, UUID: "GPU-a", Minor: 0},
		{Index: 1, UUID: "GPU-b", Minor: 1, MIGEnabled: true},
		{Index: 2, UUID: "MIG-x", Minor: 1, MIG: &MIGDevice{ParentMinor: 1, GI: 1}},
		{Index: 3, UUID: "MIG-y", Minor: 1, MIG: &MIGDevice{ParentMinor: 1, GI: 2}},
	}
	kept, unmatched := ApplyMask(devs, []string{"GPU-b"})
	if len(kept) != 1 || kept[0].UUID != "GPU-a" || unmatched != nil {
		t.Errorf("mask GPU-b: kept %v unmatched %v", kept, unmatched)
	}
	kept, _ = ApplyMask(devs, []string{"mig-Y"})
	if len(kept) != 3 || kept[2].UUID != "MIG-x" {
		t.Errorf("mask MIG-y: kept %v", kept)
	}
	kept, unmatched = ApplyMask(devs, nil)
	if len(kept) != 4 || unmatched != nil {
		t.Errorf("no mask: kept %v unmatched %v", kept, unmatched)
	}
}

// addMIG turns on MIG mode on the mock GPU i with MIG devices in slots 0
// and 3 (GI 2/CI 0 and GI 1/CI 0, listed out of order on purpose) and
// makes them reachable by UUID.
func addMIG(t *testing.T, s *server.Server, i int) []*mock.Device {
	t.Helper()
	parent := mockDev(s, i)
	parent.MigMode = nvml.DEVICE_MIG_ENABLE
	mk := func(uuid, name string, memMiB uint64, sms uint32, gi, ci int) *mock.Device {
		return &mock.Device{
			GetUUIDFunc: func() (string, nvml.Return) { return uuid, nvml.SUCCESS },
			GetNameFunc: func() (string, nvml.Return) { return name, nvml.SUCCESS },
			GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
				return nvml.Memory{Total: memMiB * mib, Used: 100 * mib}, nvml.SUCCESS
			},
			GetAttributesFunc: func() (nvml.DeviceAttributes, nvml.Return) {
				return nvml.DeviceAttributes{MultiprocessorCount: sms}, nvml.SUCCESS
			},
			GetGpuInstanceIdFunc:     func() (int, nvml.Return) { return gi, nvml.SUCCESS },
			GetComputeInstanceIdFunc: func() (int, nvml.Return) { return ci, nvml.SUCCESS },
			GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
				return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED
			},
		}
	}
	migs := []*mock.Device{
		mk("MIG-22222222-2222-2222-2222-222222222222", "NVIDIA A100-SXM4-40GB MIG 3g.20gb", 19968, 42, 2, 0),
		mk("MIG-11111111-1111-1111-1111-111111111111", "NVIDIA A100-SXM4-40GB MIG 1g.5gb", 4864, 14, 1, 0),
	}
	parent.GetMigDeviceHandleByIndexFunc = func(slot int) (nvml.Device, nvml.Return) {
		switch slot {
		case 0:
			return migs[0], nvml.SUCCESS
		case 3:
			return migs[1], nvml.SUCCESS
		}
		return nil, nvml.ERROR_NOT_FOUND
	}
	byUUID := s.DeviceGetHandleByUUIDFunc
	s.DeviceGetHandleByUUIDFunc = func(uuid string) (nvml.Device, nvml.Return) {
		for _, m := range migs {
			if u, _ := m.GetUUID(); u == uuid {
				return m, nvml.SUCCESS
			}
		}
		return byUUID(uuid)
	}
	return migs
}

// fakeCaps writes the driver's MIG access files for GPU minor with the
// given GIs, each with CI 0. Minors follow the driver's numbering scheme
// closely enough to be distinct.
func fakeCaps(t *testing.T, minor int, gis ...int) string {
	t.Helper()
	root := t.TempDir()
	for _, gi := range gis {
		giDir := filepath.Join(root, "driver/nvidia/capabilities", fmt.Sprintf("gpu%d", minor), "mig", fmt.Sprintf("gi%d", gi))
		ciDir := filepath.Join(giDir, "ci0")
		if err := os.MkdirAll(ciDir, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(dir string, m int) {
			content := fmt.Sprintf("DeviceFileMinor: %d\nDeviceFileMode: 292\nDeviceFileModify: 1\n", m)
			if err := os.WriteFile(filepath.Join(dir, "access"), []byte(content), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		giMinor := 3 + minor*100 + gi*10 // any distinct numbers will do
		write(giDir, giMinor)
		write(ciDir, giMinor+1)
	}
	return root
}

func TestDiscoverMIG(t *testing.T) {
	s := newA100(t)
	addMIG(t, s, 2)
	n := mustOpen(t, s, nil)
	devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: fakeCaps(t, 2, 1, 2)})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if len(devs) != 10 {
		t.Fatalf("got %d devices, want 8 GPUs + 2 MIG", len(devs))
	}
	parent := devs[2]
	if !parent.MIGEnabled || parent.MIG != nil {
		t.Errorf("parent = %+v", parent)
	}
	want := []struct {
		uuid   string
		sms    int
		mem    uint64
		gi     int
		minors []int
	}{
		{"MIG-11111111-1111-1111-1111-111111111111", 14, 4864 * mib, 1, []int{213, 214}},
		{"MIG-22222222-2222-2222-2222-222222222222", 42, 19968 * mib, 2, []int{223, 224}},
	}
	for i, w := range want {
		d := devs[8+i]
		if d.Index != 8+i || d.UUID != w.uuid || d.SMs != w.sms || d.MemoryBytes != w.mem ||
			d.BusID != parent.BusID || d.Minor != parent.Minor || d.NUMANode != parent.NUMANode ||
			d.ComputeCapability != "8.0" || d.MIGEnabled || !strings.Contains(d.Name, "MIG") {
			t.Errorf("MIG device %d = %+v", i, d)
		}
		if d.MIG == nil {
			t.Fatalf("MIG device %d has no MIG info", i)
		}
		if d.MIG.ParentMinor != 2 || d.MIG.GI != w.gi || d.MIG.CI != 0 || !slices.Equal(d.MIG.CapMinors, w.minors) {
			t.Errorf("MIG device %d: %+v", i, *d.MIG)
		}
	}

	// Masking the parent by index hides its MIG devices too.
	devs, _, err = Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: fakeCaps(t, 2, 1, 2), Mask: []string{"2"}})
	if err != nil {
		t.Fatalf("Discover with mask: %v", err)
	}
	if len(devs) != 7 {
		t.Errorf("mask of the MIG parent left %d devices, want 7", len(devs))
	}
}

func TestDiscoverMIGMissingCaps(t *testing.T) {
	s := newA100(t)
	addMIG(t, s, 2)
	n := mustOpen(t, s, nil)
	// Only GI 2 has access files: the GI 1 device cannot be bound.
	devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: fakeCaps(t, 2, 2)})
	if err == nil || !strings.Contains(err.Error(), "MIG-11111111") || !strings.Contains(err.Error(), "access cap") {
		t.Fatalf("err = %v, want one naming the MIG device and its access cap", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want it to wrap ErrNotExist", err)
	}
	if len(devs) != 9 || devs[8].UUID != "MIG-22222222-2222-2222-2222-222222222222" {
		t.Errorf("got %d devices; the readable ones must still be returned", len(devs))
	}
}

func TestDiscoverDeviceErrors(t *testing.T) {
	s := newA100(t)
	// GPU 3 cannot report its memory: it is left out, named in the error.
	mockDev(s, 3).GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_UNKNOWN }
	// GPU 5 supports neither attributes nor compute capability nor MIG:
	// zero values, no error.
	d5 := mockDev(s, 5)
	d5.GetAttributesFunc = func() (nvml.DeviceAttributes, nvml.Return) {
		return nvml.DeviceAttributes{}, nvml.ERROR_NOT_SUPPORTED
	}
	d5.GetCudaComputeCapabilityFunc = func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED }
	d5.GetMigModeFunc = func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED }
	n := mustOpen(t, s, nil)
	devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t), ProcRoot: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), mockDev(s, 3).UUID) || !errors.Is(err, nvml.ERROR_UNKNOWN) {
		t.Fatalf("err = %v, want one naming GPU 3 and wrapping ERROR_UNKNOWN", err)
	}
	if len(devs) != 7 {
		t.Fatalf("got %d devices, want 7", len(devs))
	}
	for i, d := range devs {
		if d.Index != i {
			t.Errorf("position %d has index %d", i, d.Index)
		}
		if d.UUID == d5.UUID && (d.SMs != 0 || d.ComputeCapability != "" || d.MIGEnabled) {
			t.Errorf("unsupported fields not zero: %+v", d)
		}
	}
}

func TestDiscoverNVMLErrors(t *testing.T) {
	s := newA100(t)
	s.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	n := mustOpen(t, s, nil)
	if devs, _, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t)}); err == nil || devs != nil {
		t.Errorf("count failure: devs %v err %v", devs, err)
	}
	s.SystemGetCudaDriverVersionFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	s.DeviceGetCountFunc = func() (int, nvml.Return) { return 1, nvml.SUCCESS }
	devs, drv, err := Discover(n, DiscoverOptions{SysRoot: fakeSys(t)})
	if err != nil || len(devs) != 1 || drv.CUDAVersion != "" || drv.Version == "" {
		t.Errorf("unsupported CUDA version: devs %d drv %+v err %v", len(devs), drv, err)
	}
}

func TestNormalizeBusID(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"00000000:07:00.0", "0000:07:00.0"},
		{"00000000:BD:00.0", "0000:bd:00.0"},
		{"0000:4e:00.0", "0000:4e:00.0"},
		{"00000001:0A:1F.7", "0001:0a:1f.7"},
		{"00010000:01:00.0", "10000:01:00.0"}, // VMD domains are wider
		{"07:00.0", "0000:07:00.0"},
	} {
		got, err := NormalizeBusID(c.in)
		if err != nil || got != c.want {
			t.Errorf("NormalizeBusID(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "garbage", "0000:07:00", "0000:zz:00.0", "0000:07:20.0", "0000:07:00.8"} {
		if got, err := NormalizeBusID(bad); err == nil {
			t.Errorf("NormalizeBusID(%q) = %q, want an error", bad, got)
		}
	}
	if compareBusID("10000:01:00.0", "ffff:ff:00.0") <= 0 {
		t.Error("wide domains must sort after narrow ones")
	}
}

func TestBusIDFromPCIInfoFallback(t *testing.T) {
	got, err := busIDFromPCIInfo(nvml.PciInfo{Domain: 1, Bus: 0x41, Device: 2})
	if err != nil || got != "0001:41:02.0" {
		t.Errorf("fallback = %q, %v", got, err)
	}
}

func TestCUDAVersionString(t *testing.T) {
	for v, want := range map[int]string{12040: "12.4", 11080: "11.8", 12000: "12.0", 13010: "13.1", 0: ""} {
		if got := CUDAVersionString(v); got != want {
			t.Errorf("CUDAVersionString(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestReadCapMinor(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "access")
	os.WriteFile(p, []byte("DeviceFileMinor: 12\nDeviceFileMode: 292\n"), 0o644)
	if m, err := readCapMinor(p); err != nil || m != 12 {
		t.Errorf("readCapMinor = %d, %v", m, err)
	}
	os.WriteFile(p, []byte("DeviceFileMode: 292\n"), 0o644)
	if _, err := readCapMinor(p); err == nil {
		t.Error("want an error without a DeviceFileMinor line")
	}
}

// deadLibrary fails Init like a host without libnvidia-ml and fails the
// test on any other call: after a failed Init, a call into the real
// library kills the process.
type deadLibrary struct {
	t     *testing.T
	inits int
}

func (l *deadLibrary) Init() nvml.Return { l.inits++; return nvml.ERROR_LIBRARY_NOT_FOUND }
func (l *deadLibrary) Shutdown() nvml.Return {
	l.t.Fatal("Shutdown called after a failed Init")
	return 0
}
func (l *deadLibrary) DeviceGetCount() (int, nvml.Return) {
	l.t.Fatal("DeviceGetCount called after a failed Init")
	return 0, 0
}
func (l *deadLibrary) DeviceGetHandleByIndex(int) (nvml.Device, nvml.Return) {
	l.t.Fatal("DeviceGetHandleByIndex called after a failed Init")
	return nil, 0
}
func (l *deadLibrary) DeviceGetHandleByUUID(string) (nvml.Device, nvml.Return) {
	l.t.Fatal("DeviceGetHandleByUUID called after a failed Init")
	return nil, 0
}
func (l *deadLibrary) SystemGetDriverVersion() (string, nvml.Return) {
	l.t.Fatal("SystemGetDriverVersion called after a failed Init")
	return "", 0
}
func (l *deadLibrary) SystemGetCudaDriverVersion() (int, nvml.Return) {
	l.t.Fatal("SystemGetCudaDriverVersion called after a failed Init")
	return 0, 0
}

func TestOpenInitFailure(t *testing.T) {
	lib := &deadLibrary{t: t}
	n, err := Open(lib, nil)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, nvml.ERROR_LIBRARY_NOT_FOUND) {
		t.Fatalf("Open err = %v, want ErrUnavailable and ERROR_LIBRARY_NOT_FOUND", err)
	}
	if !strings.Contains(err.Error(), "not found") {
		t.Errorf("Open err = %q, want it to say the library was not found", err)
	}
	if n == nil || n.Available() {
		t.Fatalf("Open returned %v; want a non-nil, unavailable session", n)
	}
	if _, _, err := Discover(n, DiscoverOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Discover err = %v", err)
	}
	if _, err := n.Sample([]Device{{UUID: "GPU-x"}}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Sample err = %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if lib.inits != 1 {
		t.Errorf("Init called %d times", lib.inits)
	}
	var nilN *NVML
	if _, _, err := Discover(nilN, DiscoverOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Discover(nil) err = %v", err)
	}
}

func TestCloseOnce(t *testing.T) {
	s := newA100(t)
	n, err := Open(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Available() {
		t.Fatal("not available after a good Open")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(s.ShutdownCalls()); got != 1 {
		t.Errorf("Shutdown called %d times, want 1", got)
	}
	if got := len(s.InitCalls()); got != 1 {
		t.Errorf("Init called %d times, want 1", got)
	}
	before := len(s.DeviceGetCountCalls())
	if _, _, err := Discover(n, DiscoverOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Discover after Close: %v", err)
	}
	if len(s.DeviceGetCountCalls()) != before {
		t.Error("Discover after Close called into the library")
	}
}

// TestOpenRealLibraryMissing loads the real go-nvml from a path that does
// not exist: Init must fail with ERROR_LIBRARY_NOT_FOUND and nothing else
// be called (a call would kill the test binary).
func TestOpenRealLibraryMissing(t *testing.T) {
	n, err := Open(NewLibrary(filepath.Join(t.TempDir(), "libnvidia-ml.so.1")), nil)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, nvml.ERROR_LIBRARY_NOT_FOUND) {
		t.Fatalf("Open err = %v", err)
	}
	if _, _, err := Discover(n, DiscoverOptions{}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Discover err = %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}

	// The default search: on this build host there is no libnvidia-ml; on
	// a GPU host it loads, and must then close cleanly.
	n, err = Open(NewLibrary(""), nil)
	switch {
	case err == nil:
		t.Log("libnvidia-ml.so.1 loaded: this host has the NVIDIA driver")
		if err := n.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	case !errors.Is(err, ErrUnavailable):
		t.Errorf("Open(default) err = %v, want ErrUnavailable", err)
	default:
		t.Logf("default library: %v", err)
	}
	if err != nil {
		if ok, reason := Probe(); ok || reason == "" {
			t.Errorf("Probe = %v, %q; want false and a reason (Open: %v)", ok, reason, err)
		}
	}
}
