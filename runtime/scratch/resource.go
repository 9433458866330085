package scratch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Keys of resource.txt.
const (
	keyScratchSize    = "SCRATCH_SIZE"
	keyMounts         = "MOUNTS"
	keySlots          = "SLOTS"
	keyUnifiedDevices = "UNIFIED_DEVICES"
	keyContainerID    = "CID"
	sharesSuffix      = "_SHARES"
)

// ResourceSpec is a kernel's config/resource.txt (upstream's
// KernelResourceSpec): what the kernel was given, read back by the agent
// on recovery and by the kernel runner inside the container.
type ResourceSpec struct {
	// ScratchSize is the scratch size in bytes. It is written in MiB
	// rounded to two decimals, as upstream does: whole MiB read back
	// exactly, other sizes may not.
	ScratchSize int64
	// Mounts are the vfolder mounts, each "src:dst:perm".
	Mounts []string
	// Slots are the requested slots, amounts as decimal strings.
	Slots map[string]string
	// UnifiedDevices are the unified devices attached, each
	// [device, slot]; nil is written as [].
	UnifiedDevices [][2]string
	// Shares are the per-device allocations: slot -> device id -> amount,
	// for example "cpu": {"0": "1", "1": "1"}, "mem": {"root": "4g"}.
	// Amounts are written as given: format bytes slots with
	// FormatBinarySize, as upstream does.
	Shares map[string]map[string]string
	// Extra are the accelerator plugins' lines, each "K=V", in order.
	Extra []string
	// ContainerID is the CID line; empty writes none (upstream appends it
	// once the container exists).
	ContainerID string
}

// String renders resource.txt in upstream's format and order:
//
//	SCRATCH_SIZE=0m
//	MOUNTS=/vfroot/u1:/home/work/data:rw
//	SLOTS={"cpu":"2","mem":"4294967296"}
//	UNIFIED_DEVICES=[]
//	CPU_SHARES=0:1,1:1
//	MEM_SHARES=root:4g
//	CUDA_GLOBAL_DEVICE_IDS=0:0
//	CID=5d1f...
//
// SLOTS is compact JSON with sorted keys; _SHARES lines come in slot name
// order with device ids in natural order. String does not check the spec;
// WriteResourceSpec does.
func (r ResourceSpec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s=%s\n", keyScratchSize, formatScaled(max(r.ScratchSize, 0), 1))
	fmt.Fprintf(&b, "%s=%s\n", keyMounts, strings.Join(r.Mounts, ","))
	fmt.Fprintf(&b, "%s=%s\n", keySlots, compactJSON(r.Slots, "{}"))
	fmt.Fprintf(&b, "%s=%s\n", keyUnifiedDevices, compactJSON(r.UnifiedDevices, "[]"))
	for _, slot := range slices.Sorted(maps.Keys(r.Shares)) {
		devs := r.Shares[slot]
		pieces := make([]string, 0, len(devs))
		for _, dev := range slices.SortedFunc(maps.Keys(devs), naturalCompare) {
			pieces = append(pieces, dev+":"+devs[dev])
		}
		fmt.Fprintf(&b, "%s%s=%s\n", strings.ToUpper(slot), sharesSuffix, strings.Join(pieces, ","))
	}
	for _, line := range r.Extra {
		b.WriteString(line + "\n")
	}
	if r.ContainerID != "" {
		fmt.Fprintf(&b, "%s=%s\n", keyContainerID, r.ContainerID)
	}
	return b.String()
}

// compactJSON encodes v without spaces or HTML escaping, as orjson does;
// a nil map or slice is written as empty.
func compactJSON[T any](v T, empty string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return empty // maps of strings and string pairs always encode
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	if out == "null" {
		return empty
	}
	return out
}

// naturalCompare orders device ids with their digit runs as numbers, so
// that core "10" comes after "2".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := len(na) - len(nb); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// ParseResourceSpec reads resource.txt back. As upstream, lines without
// "=" are skipped, each line is trimmed, and SCRATCH_SIZE, MOUNTS and
// SLOTS must be present; an unknown key is kept in Extra, and of repeated
// CID lines (a known upstream bug on restart) the last wins.
func ParseResourceSpec(rd io.Reader) (ResourceSpec, error) {
	var r ResourceSpec
	seen := map[string]bool{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		seen[key] = true
		var err error
		switch {
		case key == keyScratchSize:
			r.ScratchSize, err = ParseBinarySize(val)
		case key == keyMounts:
			r.Mounts = nil
			for m := range strings.SplitSeq(val, ",") {
				if m != "" {
					r.Mounts = append(r.Mounts, m)
				}
			}
		case key == keySlots:
			r.Slots, err = parseSlots(val)
		case key == keyUnifiedDevices:
			r.UnifiedDevices = nil
			if val != "" {
				err = json.Unmarshal([]byte(val), &r.UnifiedDevices)
			}
			if len(r.UnifiedDevices) == 0 {
				r.UnifiedDevices = nil // [] reads back as the nil it was written from
			}
		case key == keyContainerID:
			r.ContainerID = val
		case strings.HasSuffix(key, sharesSuffix) && len(key) > len(sharesSuffix):
			if r.Shares == nil {
				r.Shares = map[string]map[string]string{}
			}
			r.Shares[strings.ToLower(strings.TrimSuffix(key, sharesSuffix))] = parseShares(val)
		default:
			r.Extra = append(r.Extra, line)
		}
		if err != nil {
			return ResourceSpec{}, fmt.Errorf("parse resource spec: %s: %w", key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return ResourceSpec{}, fmt.Errorf("parse resource spec: %w", err)
	}
	for _, k := range []string{keyScratchSize, keyMounts, keySlots} {
		if !seen[k] {
			return ResourceSpec{}, fmt.Errorf("parse resource spec: no %s line", k)
		}
	}
	return r, nil
}

// parseSlots reads the SLOTS JSON object; amounts may be strings or, from
// other writers, numbers.
func parseSlots(val string) (map[string]string, error) {
	dec := json.NewDecoder(strings.NewReader(val))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	slots := make(map[string]string, len(raw))
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			slots[k] = v
		case json.Number:
			slots[k] = v.String()
		default:
			return nil, fmt.Errorf("slot %s: amount %v is not a string or number", k, v)
		}
	}
	return slots, nil
}

// parseShares reads "dev:amount,..."; entries without both parts are
// skipped, as upstream does.
func parseShares(val string) map[string]string {
	devs := map[string]string{}
	for entry := range strings.SplitSeq(val, ",") {
		dev, amount, _ := strings.Cut(entry, ":")
		if dev != "" && amount != "" {
			devs[dev] = amount
		}
	}
	return devs
}

// validate checks that the spec reads back as written.
func (r ResourceSpec) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.ScratchSize < 0 {
		bad("negative scratch size %d", r.ScratchSize)
	}
	for _, m := range r.Mounts {
		parts := strings.Split(m, ":")
		if len(parts) != 3 || slices.Contains(parts, "") || strings.ContainsAny(m, ",\r\n") || strings.TrimSpace(m) != m {
			bad("mount %q is not src:dst:perm", m)
		}
	}
	for slot, devs := range r.Shares {
		if slot == "" || slot != strings.ToLower(slot) || strings.ContainsAny(slot, "=:, \t\r\n") {
			bad("share slot %q is not a lowercase slot name", slot)
		}
		for dev, amount := range devs {
			if dev == "" || amount == "" || strings.ContainsAny(dev+amount, ":, \t\r\n") {
				bad("share %s of device %q is %q: neither may be empty or hold spaces, : or ,", slot, dev, amount)
			}
		}
	}
	for _, line := range r.Extra {
		key, _, ok := strings.Cut(line, "=")
		switch {
		case !ok || strings.TrimSpace(key) == "" || strings.ContainsAny(line, "\r\n") || strings.TrimSpace(line) != line:
			bad("extra line %q is not K=V", line)
		case key == keyScratchSize || key == keyMounts || key == keySlots || key == keyUnifiedDevices ||
			key == keyContainerID || strings.HasSuffix(key, sharesSuffix):
			bad("extra line %q uses a reserved key", line)
		}
	}
	if strings.ContainsAny(r.ContainerID, "\r\n") || strings.TrimSpace(r.ContainerID) != r.ContainerID {
		bad("container id %s is not one word", strconv.Quote(r.ContainerID))
	}
	return errors.Join(errs...)
}

// WriteResourceSpec checks r and writes it to path atomically.
func WriteResourceSpec(path string, r ResourceSpec) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("write resource spec %s: %w", path, err)
	}
	if err := writeAtomic(path, []byte(r.String())); err != nil {
		return fmt.Errorf("write resource spec: %w", err)
	}
	return nil
}
