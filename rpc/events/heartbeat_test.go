package events

import (
	"bytes"
	"compress/zlib"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/baiagent/agent/rpc/codec"
)

func testAgentInfo() AgentInfo {
	return AgentInfo{
		IP:           "10.0.0.5",
		Region:       "local",
		ScalingGroup: "default",
		Addr:         "tcp://10.0.0.5:6001",
		PublicHost:   "10.0.0.5",
		AvailableSlots: codec.ResourceSlot{
			{Slot: "cpu", Quantity: "8"},
			{Slot: "mem", Quantity: "33285996544"},
			{Slot: "cuda.device", Quantity: "2"},
		},
		SlotUnits: []SlotUnit{{"cpu", SlotCount}, {"mem", SlotBytes}, {"cuda.device", SlotCount}},
		Version:   "26.8.0",
		ComputePlugins: map[string]map[string]any{
			"cpu": {"version": "26.8.0", "agent_version": "26.8.0", "machine": "x86_64", "os_type": "Linux"},
		},
		Images: []InstalledImage{
			{Canonical: "cr.backend.ai/stable/python:3.13", Digest: "sha256:aa", Architecture: "x86_64"},
			{Canonical: "cr.backend.ai/stable/r:4", Digest: "sha256:bb", Architecture: "x86_64"},
		},
		Architecture: "x86_64",
	}
}

// TestHeartbeat26 decodes agent_heartbeat's args as the 26.8 manager
// does: one dict with AgentInfo's fields in order, a ResourceSlot,
// SlotName keys with SlotTypes members, and the zlib'd image list.
func TestHeartbeat26(t *testing.T) {
	info := testAgentInfo()
	ev, err := AgentHeartbeat(info)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Name != "agent_heartbeat" || ev.Delivery != Anycast {
		t.Fatalf("%s %d", ev.Name, ev.Delivery)
	}
	b, err := ev.body(WireMsgpack26)
	if err != nil {
		t.Fatal(err)
	}
	v, err := codec.DecodeOrdered(b)
	if err != nil {
		t.Fatal(err)
	}
	args := v.([]any)
	if len(args) != 1 {
		t.Fatalf("%d args", len(args))
	}
	m := args[0].(codec.OrderedMap)
	var keys []any
	for _, kv := range m {
		keys = append(keys, kv.Key)
	}
	wantKeys := []any{"ip", "region", "scaling_group", "addr", "public_key", "public_host",
		"available_resource_slots", "slot_key_and_units", "version", "compute_plugins",
		"images", "architecture", "auto_terminate_abusing_kernel", "images_opts"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("keys %v", keys)
	}
	get := func(k string) any { x, _ := m.Get(k); return x }
	if get("public_key") != nil || get("region") != "local" || get("auto_terminate_abusing_kernel") != false {
		t.Errorf("scalars: %v %v %v", get("public_key"), get("region"), get("auto_terminate_abusing_kernel"))
	}
	if got := get("available_resource_slots"); !reflect.DeepEqual(got, info.AvailableSlots) {
		t.Errorf("slots %#v", got)
	}
	units := get("slot_key_and_units").(codec.OrderedMap)
	slotTypes := func(v string) codec.Enum {
		return codec.Enum{Module: "ai.backend.common.types", Class: "SlotTypes", Value: v}
	}
	wantUnits := codec.OrderedMap{
		{Key: codec.SlotName("cpu"), Value: slotTypes("count")},
		{Key: codec.SlotName("mem"), Value: slotTypes("bytes")},
		{Key: codec.SlotName("cuda.device"), Value: slotTypes("count")},
	}
	if !reflect.DeepEqual(units, wantUnits) {
		t.Errorf("units %#v", units)
	}
	if got := get("images_opts"); !reflect.DeepEqual(got, codec.OrderedMap{{Key: "compression", Value: "zlib"}}) {
		t.Errorf("images_opts %#v", got)
	}
	zr, err := zlib.NewReader(bytes.NewReader(get("images").([]byte)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	list, err := codec.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantList := []any{
		[]any{"cr.backend.ai/stable/python:3.13", "sha256:aa"},
		[]any{"cr.backend.ai/stable/r:4", "sha256:bb"},
	}
	if !reflect.DeepEqual(list, wantList) {
		t.Errorf("images %#v", list)
	}
}

// TestHeartbeatJSON checks the main form: slots as entries, no images.
func TestHeartbeatJSON(t *testing.T) {
	info := testAgentInfo()
	info.PublicKey = []byte("k3y")
	info.Region = ""
	info.AvailableSlots = append(info.AvailableSlots, codec.SlotQuantity{Slot: "cuda.shares", Quantity: "0.125"})
	ev, err := AgentHeartbeat(info)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ev.body(WireJSON)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"agent_info":{"ip":"10.0.0.5","region":null,"scaling_group":"default","addr":"tcp://10.0.0.5:6001",` +
		`"public_key":"k3y","public_host":"10.0.0.5","available_resource_slots":[` +
		`{"resource_type":"cpu","quantity":"8"},{"resource_type":"mem","quantity":"33285996544"},` +
		`{"resource_type":"cuda.device","quantity":"2"},{"resource_type":"cuda.shares","quantity":"0.12"}],` +
		`"slot_key_and_units":{"cpu":"count","mem":"bytes","cuda.device":"count"},"version":"26.8.0",` +
		`"compute_plugins":{"cpu":{"agent_version":"26.8.0","machine":"x86_64","os_type":"Linux","version":"26.8.0"}},` +
		`"architecture":"x86_64","auto_terminate_abusing_kernel":false}}`
	if string(b) != want {
		t.Errorf("json\n got %s\nwant %s", b, want)
	}
}

func TestStringifyDecimal(t *testing.T) {
	for in, want := range map[codec.Decimal]string{
		"8": "8", "8.000": "8", "0.5": "0.5", "0.125": "0.12", "0.135": "0.14", "1.005": "1",
		"1E+3": "1000", "2.5e-1": "0.25", "-1.5": "-1.5", "-0.125": "-0.12", "0": "0",
		"Infinity": "Infinity", "-Infinity": "-Infinity", "NaN": "NaN", "17179869184": "17179869184",
	} {
		if got := stringifyDecimal(in); got != want {
			t.Errorf("stringifyDecimal(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestProducerHeartbeat publishes the heartbeat and stores the images, as
// upstream's heartbeat() does, twice with the producer's one compressor.
func TestProducerHeartbeat(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	info := testAgentInfo()
	want, err := AgentHeartbeat(info)
	if err != nil {
		t.Fatal(err)
	}
	wantArgs, err := want.body(WireMsgpack26)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Heartbeat(t.Context(), info); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := s.client(t, DBStream).XRange(t.Context(), StreamKey, "-", "+").Result()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("stream: %v %v", msgs, err)
	}
	for _, m := range msgs {
		if m.Values["name"] != NameAgentHeartbeat || m.Values["args"] != string(wantArgs) {
			t.Errorf("heartbeat entry differs from AgentHeartbeat's: %v", m.Values["name"])
		}
	}
	if v := s.client(t, DBImage).Get(t.Context(), InstalledImagesKey(testAgentID)).Val(); !strings.HasPrefix(v, `[{"canonical":"cr.backend.ai/stable/python:3.13"`) {
		t.Errorf("installed images %s", v)
	}
}
