// Package codec reads and writes Backend.AI's msgpack: the serializer of
// upstream's common/msgpack.py that carries Callosum call bodies, results
// and (up to 26.8) event payloads.
//
// Upstream packs with use_bin_type and strict_types and unpacks with
// raw=False and strict_map_key=False, so str and bin stay apart and maps
// may have keys of any type. Eleven ext types carry Python values; six of
// them are Python pickles (protocol 5), which this package reads with a
// small pickle machine that builds only the classes upstream sends
// (decimal.Decimal, enums under ai.backend, ImageRef, ResourceSlot,
// SlotName, BinarySize) and never runs anything, and writes with an
// emitter that reproduces CPython's bytes for those classes.
//
// Decoded values are plain Go values (nil, bool, int64 or uint64, float64,
// string, []byte, []any, map[string]any or map[any]any) plus the types of
// this package for the ext types; time.Time and NaiveDateTime for
// datetimes. Encode takes the same values back. Python dicts keep their
// insertion order and upstream's bytes depend on it: DecodeOrdered gives
// maps as OrderedMap, which Encode writes in order; plain Go maps are
// written with sorted keys.
//
// DecodeCall, EncodeResult and the Call accessors serve the RPC
// dispatcher: a call body is {"args": [...], "kwargs": {...}}.
package codec
