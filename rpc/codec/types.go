package codec

import (
	"fmt"
	"time"
)

// Ext type codes of upstream's ExtTypes (common/msgpack.py).
const (
	ExtUUID              = 1
	ExtDatetime          = 2
	ExtDecimal           = 3
	ExtPosixPath         = 4
	ExtPurePosixPath     = 5
	ExtEnum              = 6
	ExtImageRef          = 7
	ExtResourceSlot      = 8
	ExtSlotName          = 9
	ExtBinarySize        = 16
	ExtAutoDirectoryPath = 17
)

// PosixPath is a pathlib.PosixPath (ext 4), its bytes as Python's
// os.fsencode gives them.
type PosixPath string

// PurePosixPath is a pathlib.PurePosixPath (ext 5).
type PurePosixPath string

// AutoDirectoryPath is upstream's typed_validators.AutoDirectoryPath
// (ext 17).
type AutoDirectoryPath string

// SlotName is upstream's types.SlotName (ext 9), a UserString such as
// "cpu" or "cuda.device".
type SlotName string

// BinarySize is upstream's types.BinarySize (ext 16), an int subclass
// counting bytes.
type BinarySize int64

// NaiveDateTime is a datetime without tzinfo. Its wall clock (Date and
// Clock) is the value; the Location is ignored. Decode gives it in UTC.
type NaiveDateTime struct {
	time.Time
}

// Enum is a member of a Python enum class (ext 6), any class under
// ai.backend as upstream sends them, e.g. types.SessionTypes("batch").
type Enum struct {
	Module string // defining module, e.g. "ai.backend.common.types"
	Class  string // qualified class name, e.g. "SessionTypes"
	// Value is the member's value: string (StrEnum), int64, float64,
	// bool, []byte or nil.
	Value any
	// Member is set, and Value nil, only for members pickled by name
	// (CPython 3.11 and older: builtins.getattr(cls, "NAME")).
	Member string
}

// String returns the member's value as text (a StrEnum's string), or its
// name when it was pickled by name.
func (e Enum) String() string {
	if e.Member != "" && e.Value == nil {
		return e.Member
	}
	if s, ok := e.Value.(string); ok {
		return s
	}
	return fmt.Sprint(e.Value)
}

// ImageRef is upstream's docker.ImageRef dataclass (ext 7).
type ImageRef struct {
	Name         string
	Project      *string // None when nil
	Tag          string
	Registry     string
	Architecture string
	IsLocal      bool
}

// SlotQuantity is one entry of a ResourceSlot.
type SlotQuantity struct {
	Slot     string
	Quantity Decimal
}

// ResourceSlot is upstream's types.ResourceSlot (ext 8), a UserDict of slot
// name to Decimal, in insertion order.
type ResourceSlot []SlotQuantity

// Get returns the quantity of slot.
func (r ResourceSlot) Get(slot string) (Decimal, bool) {
	for _, e := range r {
		if e.Slot == slot {
			return e.Quantity, true
		}
	}
	return "", false
}

// KV is one entry of an OrderedMap.
type KV struct {
	Key   any
	Value any
}

// OrderedMap is a msgpack map in wire order, which Encode keeps. Keys may
// be of any decoded type, including ones a Go map cannot hold.
type OrderedMap []KV

// Get returns the value of the first entry whose key equals key (==).
func (m OrderedMap) Get(key any) (any, bool) {
	for _, kv := range m {
		if hashable(kv.Key) && hashable(key) && kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}
