package scratch

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func sampleSpec() ResourceSpec {
	return ResourceSpec{
		ScratchSize: 64 << 20,
		Mounts:      []string{"/vfroot/local/u1:/home/work/data:rw", "/vfroot/local/u2:/home/work/ro:ro"},
		Slots:       map[string]string{"cpu": "2", "mem": "4294967296", "cuda.device": "1"},
		Shares: map[string]map[string]string{
			"cpu":         {"10": "1", "2": "1"},
			"mem":         {"root": FormatBinarySize(4 << 30)},
			"cuda.device": {"0": "1"},
		},
		Extra:       []string{"CUDA_GLOBAL_DEVICE_IDS=0:0", "CUDA_RESOURCE_VIRTUALIZED=0"},
		ContainerID: "c0ffee",
	}
}

const sampleText = `SCRATCH_SIZE=64m
MOUNTS=/vfroot/local/u1:/home/work/data:rw,/vfroot/local/u2:/home/work/ro:ro
SLOTS={"cpu":"2","cuda.device":"1","mem":"4294967296"}
UNIFIED_DEVICES=[]
CPU_SHARES=2:1,10:1
CUDA.DEVICE_SHARES=0:1
MEM_SHARES=root:4g
CUDA_GLOBAL_DEVICE_IDS=0:0
CUDA_RESOURCE_VIRTUALIZED=0
CID=c0ffee
`

func TestResourceSpecGolden(t *testing.T) {
	if got := sampleSpec().String(); got != sampleText {
		t.Errorf("String:\n%s\nwant:\n%s", got, sampleText)
	}
	minimal := ResourceSpec{Slots: map[string]string{"cpu": "1", "mem": "1073741824"}}
	want := "SCRATCH_SIZE=0m\nMOUNTS=\nSLOTS={\"cpu\":\"1\",\"mem\":\"1073741824\"}\nUNIFIED_DEVICES=[]\n"
	if got := minimal.String(); got != want {
		t.Errorf("String of a minimal spec:\n%s\nwant:\n%s", got, want)
	}
	unified := ResourceSpec{Slots: map[string]string{}, UnifiedDevices: [][2]string{{"mock", "mock.device"}}}
	if got := unified.String(); !strings.Contains(got, "\nUNIFIED_DEVICES=[[\"mock\",\"mock.device\"]]\n") || !strings.Contains(got, "\nSLOTS={}\n") {
		t.Errorf("String with unified devices:\n%s", got)
	}
}

func TestResourceSpecRoundTrip(t *testing.T) {
	for name, spec := range map[string]ResourceSpec{
		"sample":  sampleSpec(),
		"minimal": {ScratchSize: 0, Slots: map[string]string{"cpu": "0.5", "mem": "1"}},
		"unified and empty shares": {
			ScratchSize: 3 << 30, Slots: map[string]string{"cpu": "1"},
			UnifiedDevices: [][2]string{{"mock", "mock.device"}},
			Shares:         map[string]map[string]string{"cuda.device": {}, "cpu": {"0": "1"}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resource.txt")
			if err := WriteResourceSpec(path, spec); err != nil {
				t.Fatalf("WriteResourceSpec: %v", err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseResourceSpec(f)
			if err != nil {
				t.Fatalf("ParseResourceSpec: %v", err)
			}
			if !reflect.DeepEqual(got, spec) {
				t.Errorf("read back %#v\nwant %#v", got, spec)
			}
			if got.String() != spec.String() {
				t.Errorf("String of the read-back spec differs:\n%s\nwant\n%s", got.String(), spec.String())
			}
		})
	}
}

func TestParseResourceSpecUpstream(t *testing.T) {
	// As upstream writes it on a restarted kernel: spaced JSON from older
	// versions, no UNIFIED_DEVICES, plugin lines, CID twice, CRLF and
	// stray lines.
	text := "SCRATCH_SIZE=1.5m\r\nMOUNTS=\nSLOTS={\"cpu\": \"1\", \"mem\": 1073741824}\n" +
		"CPU_SHARES=3:1,\nMEM_SHARES=root:1g\nCUDA_RESOURCE_VIRTUALIZED=0\n\njunk\nCID=old\n  CID=new  \n"
	got, err := ParseResourceSpec(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ParseResourceSpec: %v", err)
	}
	want := ResourceSpec{
		ScratchSize: 3 << 19,
		Slots:       map[string]string{"cpu": "1", "mem": "1073741824"},
		Shares:      map[string]map[string]string{"cpu": {"3": "1"}, "mem": {"root": "1g"}},
		Extra:       []string{"CUDA_RESOURCE_VIRTUALIZED=0"},
		ContainerID: "new",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseResourceSpec = %#v\nwant %#v", got, want)
	}
	for _, bad := range []struct{ name, text, want string }{
		{"no slots", "SCRATCH_SIZE=0m\nMOUNTS=\n", "no SLOTS line"},
		{"no mounts", "SCRATCH_SIZE=0m\nSLOTS={}\n", "no MOUNTS line"},
		{"no size", "MOUNTS=\nSLOTS={}\n", "no SCRATCH_SIZE line"},
		{"bad size", "SCRATCH_SIZE=big\nMOUNTS=\nSLOTS={}\n", "SCRATCH_SIZE: parse binary size"},
		{"bad slots", "SCRATCH_SIZE=0m\nMOUNTS=\nSLOTS={\"cpu\":[1]}\n", "SLOTS: slot cpu"},
		{"bad json", "SCRATCH_SIZE=0m\nMOUNTS=\nSLOTS={\n", "SLOTS:"},
		{"bad unified", "SCRATCH_SIZE=0m\nMOUNTS=\nSLOTS={}\nUNIFIED_DEVICES={}\n", "UNIFIED_DEVICES:"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := ParseResourceSpec(strings.NewReader(bad.text))
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("ParseResourceSpec error %v, want %q", err, bad.want)
			}
		})
	}
}

func TestWriteResourceSpecRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*ResourceSpec)
		want string
	}{
		{"negative size", func(r *ResourceSpec) { r.ScratchSize = -1 }, "negative scratch size"},
		{"mount with comma", func(r *ResourceSpec) { r.Mounts = []string{"/a,b:/c:rw"} }, "is not src:dst:perm"},
		{"mount fields", func(r *ResourceSpec) { r.Mounts = []string{"/a:/b"} }, "is not src:dst:perm"},
		{"uppercase slot", func(r *ResourceSpec) { r.Shares = map[string]map[string]string{"CPU": {"0": "1"}} }, "not a lowercase slot"},
		{"device with colon", func(r *ResourceSpec) { r.Shares = map[string]map[string]string{"cpu": {"0:1": "1"}} }, "neither may be empty"},
		{"empty amount", func(r *ResourceSpec) { r.Shares = map[string]map[string]string{"cpu": {"0": ""}} }, "neither may be empty"},
		{"extra without =", func(r *ResourceSpec) { r.Extra = []string{"FOO"} }, "is not K=V"},
		{"extra reserved", func(r *ResourceSpec) { r.Extra = []string{"CID=x"} }, "reserved key"},
		{"extra shares", func(r *ResourceSpec) { r.Extra = []string{"X_SHARES=0:1"} }, "reserved key"},
		{"extra newline", func(r *ResourceSpec) { r.Extra = []string{"A=1\nB=2"} }, "is not K=V"},
		{"cid newline", func(r *ResourceSpec) { r.ContainerID = "a\nSLOTS={}" }, "is not one word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := sampleSpec()
			tc.edit(&spec)
			dir := t.TempDir()
			err := WriteResourceSpec(filepath.Join(dir, "resource.txt"), spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WriteResourceSpec error %v, want %q", err, tc.want)
			}
			if got := entries(t, dir); got != "" {
				t.Errorf("a refused write left %q", got)
			}
		})
	}
}

func TestNaturalCompare(t *testing.T) {
	ids := []string{"10", "2", "root", "1", "gpu10", "gpu2", "01", "a"}
	slices.SortFunc(ids, naturalCompare)
	if got, want := strings.Join(ids, " "), "1 01 2 10 a gpu2 gpu10 root"; got != want {
		t.Errorf("sorted %q, want %q", got, want)
	}
}
