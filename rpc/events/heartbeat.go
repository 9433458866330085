package events

import (
	"bytes"
	"compress/zlib"
	"fmt"

	"github.com/baiagent/agent/rpc/codec"
)

// SlotType is upstream's SlotTypes: how a resource slot counts.
type SlotType string

// The members of SlotTypes (common/types.py).
const (
	SlotCount   SlotType = "count"
	SlotBytes   SlotType = "bytes"
	SlotUnique  SlotType = "unique"
	SlotUnified SlotType = "unified"
)

// SlotUnit is one entry of AgentInfo.SlotUnits.
type SlotUnit struct {
	Slot string // e.g. "cpu", "mem", "cuda.device"
	Type SlotType
}

// InstalledImage is an image the agent has, as upstream's
// InstalledImageInfo (common/data/image/types.py).
type InstalledImage struct {
	Canonical    string `json:"canonical"`
	Digest       string `json:"digest"`
	Architecture string `json:"architecture"`
}

// AgentInfo is the body of agent_heartbeat, upstream's AgentInfo
// (common/data/agent/types.py), filled as agent.py's heartbeat() fills
// it.
type AgentInfo struct {
	// IP is the host of the RPC address (advertised, else listen).
	IP string
	// Region and ScalingGroup are None when empty.
	Region       string
	ScalingGroup string
	// Addr is "tcp://host:port" of the RPC address.
	Addr string
	// PublicKey is the agent's CURVE public key (Z85), None when nil.
	PublicKey  []byte
	PublicHost string
	// AvailableSlots are the slots the agent offers, in order.
	AvailableSlots codec.ResourceSlot
	// SlotUnits says how each slot counts, in order.
	SlotUnits []SlotUnit
	Version   string
	// ComputePlugins maps a device key ("cpu", "mem", "cuda") to
	// {"version": ..., plus the plugin's extra info}. Values must suit
	// both codec.Encode and encoding/json.
	ComputePlugins map[string]map[string]any
	// Images are the images the agent has. Up to 26.8 they travel in the
	// heartbeat; main reads them from installed_image:{agent_id} only.
	Images                     []InstalledImage
	Architecture               string
	AutoTerminateAbusingKernel bool
}

// AgentHeartbeat is agent_heartbeat (AgentHeartbeatEvent): anycast,
// (agent_info,). Up to 26.8 agent_info is the dict of AgentInfo's
// model_dump(): available_resource_slots a pickled ResourceSlot (the
// manager checks its class), slot_key_and_units keyed by SlotName with
// SlotTypes members, images zlib-compressed msgpack of
// [[canonical, digest], ...] with images_opts {"compression": "zlib"}.
// In JSON (main) it has no images and lists the slots as
// [{"resource_type", "quantity"}].
func AgentHeartbeat(info AgentInfo) (Event, error) {
	return agentHeartbeat(info, nil)
}

// agentHeartbeat builds the event, compressing with z (reset for the
// purpose) when not nil.
func agentHeartbeat(info AgentInfo, z *zlib.Writer) (Event, error) {
	v26, err := info.wire26(z)
	if err != nil {
		return Event{}, fmt.Errorf("agent heartbeat: %w", err)
	}
	return Event{
		Name:     NameAgentHeartbeat,
		Delivery: Anycast,
		Args:     []any{v26},
		Fields:   []Field{{"agent_info", info.wireJSON()}},
	}, nil
}

// wire26 is model_dump() of the 26.8 AgentInfo, in field order.
func (a AgentInfo) wire26(z *zlib.Writer) (codec.OrderedMap, error) {
	images, err := compressedImages(a.Images, z)
	if err != nil {
		return nil, err
	}
	var publicKey any
	if a.PublicKey != nil {
		publicKey = a.PublicKey
	}
	slots := a.AvailableSlots
	if slots == nil {
		slots = codec.ResourceSlot{}
	}
	units := make(codec.OrderedMap, 0, len(a.SlotUnits))
	for _, u := range a.SlotUnits {
		units = append(units, codec.KV{
			Key:   codec.SlotName(u.Slot),
			Value: codec.Enum{Module: "ai.backend.common.types", Class: "SlotTypes", Value: string(u.Type)},
		})
	}
	plugins := a.ComputePlugins
	if plugins == nil {
		plugins = map[string]map[string]any{}
	}
	return codec.OrderedMap{
		{Key: "ip", Value: a.IP},
		{Key: "region", Value: optional(a.Region)},
		{Key: "scaling_group", Value: optional(a.ScalingGroup)},
		{Key: "addr", Value: a.Addr},
		{Key: "public_key", Value: publicKey},
		{Key: "public_host", Value: a.PublicHost},
		{Key: "available_resource_slots", Value: slots},
		{Key: "slot_key_and_units", Value: units},
		{Key: "version", Value: a.Version},
		{Key: "compute_plugins", Value: plugins},
		{Key: "images", Value: images},
		{Key: "architecture", Value: a.Architecture},
		{Key: "auto_terminate_abusing_kernel", Value: a.AutoTerminateAbusingKernel},
		{Key: "images_opts", Value: codec.OrderedMap{{Key: "compression", Value: "zlib"}}},
	}, nil
}

// compressedImages is zlib(msgpack([(canonical, digest), ...])), written
// with w (reset) or a new writer when w is nil.
func compressedImages(images []InstalledImage, w *zlib.Writer) ([]byte, error) {
	list := make([]any, len(images))
	for i, img := range images {
		list[i] = []any{img.Canonical, img.Digest}
	}
	packed, err := codec.Encode(list)
	if err != nil {
		return nil, fmt.Errorf("encode image list: %w", err)
	}
	var buf bytes.Buffer
	if w == nil {
		w = zlib.NewWriter(&buf)
	} else {
		w.Reset(&buf)
	}
	if _, err := w.Write(packed); err != nil {
		return nil, fmt.Errorf("compress image list: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compress image list: %w", err)
	}
	return buf.Bytes(), nil
}

// slotEntryJSON is upstream main's ResourceSlotEntry.
type slotEntryJSON struct {
	ResourceType string `json:"resource_type"`
	Quantity     string `json:"quantity"`
}

// agentInfoJSON is upstream main's AgentInfo in JSON, in field order.
type agentInfoJSON struct {
	IP                         string                    `json:"ip"`
	Region                     *string                   `json:"region"`
	ScalingGroup               *string                   `json:"scaling_group"`
	Addr                       string                    `json:"addr"`
	PublicKey                  *string                   `json:"public_key"`
	PublicHost                 string                    `json:"public_host"`
	AvailableResourceSlots     []slotEntryJSON           `json:"available_resource_slots"`
	SlotKeyAndUnits            orderedJSON               `json:"slot_key_and_units"`
	Version                    string                    `json:"version"`
	ComputePlugins             map[string]map[string]any `json:"compute_plugins"`
	Architecture               string                    `json:"architecture"`
	AutoTerminateAbusingKernel bool                      `json:"auto_terminate_abusing_kernel"`
}

// wireJSON is the main AgentInfo.
func (a AgentInfo) wireJSON() agentInfoJSON {
	j := agentInfoJSON{
		IP:                         a.IP,
		Region:                     optionalPtr(a.Region),
		ScalingGroup:               optionalPtr(a.ScalingGroup),
		Addr:                       a.Addr,
		PublicHost:                 a.PublicHost,
		AvailableResourceSlots:     make([]slotEntryJSON, 0, len(a.AvailableSlots)),
		Version:                    a.Version,
		ComputePlugins:             a.ComputePlugins,
		Architecture:               a.Architecture,
		AutoTerminateAbusingKernel: a.AutoTerminateAbusingKernel,
	}
	if a.PublicKey != nil {
		k := string(a.PublicKey)
		j.PublicKey = &k
	}
	for _, s := range a.AvailableSlots {
		j.AvailableResourceSlots = append(j.AvailableResourceSlots,
			slotEntryJSON{ResourceType: s.Slot, Quantity: stringifyDecimal(s.Quantity)})
	}
	for _, u := range a.SlotUnits {
		j.SlotKeyAndUnits = append(j.SlotKeyAndUnits, Field{u.Slot, string(u.Type)})
	}
	if j.ComputePlugins == nil {
		j.ComputePlugins = map[string]map[string]any{}
	}
	return j
}

// orderedJSON is a JSON object with its keys in slice order.
type orderedJSON []Field

// MarshalJSON writes the fields as one object, in order.
func (o orderedJSON) MarshalJSON() ([]byte, error) {
	return jsonObject(o)
}

func optionalPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
