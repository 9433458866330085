package events

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/baiagent/agent/rpc/codec"
)

// Delivery says how an event travels. An event may take both ways, as
// upstream's anycast_and_broadcast_event sends the kernel lifecycle
// events.
type Delivery uint8

// The deliveries.
const (
	// Anycast appends the event to the "events" stream, which one
	// manager consumes.
	Anycast Delivery = 1 << iota
	// Broadcast publishes the event on the "events_all" channel, which
	// every subscriber receives.
	Broadcast
)

// Event is one event in both wire formats. The constructors of this
// package fill it in as upstream's event classes do; a caller may build
// others the same way.
type Event struct {
	// Name is upstream's event_name(), e.g. "kernel_started".
	Name     string
	Delivery Delivery
	// CacheID, when not empty, makes a broadcast cached: its JSON is also
	// stored under this key for 300 s (upstream's broadcast_with_cache),
	// so that late subscribers can fetch it (bgtask events).
	CacheID string
	// Args is the body in WireMsgpack26: the tuple upstream's serialize()
	// returns, as values codec.Encode takes.
	Args []any
	// Fields is the body in WireJSON: the event model's fields in their
	// declared order, as values encoding/json renders as pydantic does.
	Fields []Field
}

// Field is one named field of an event's JSON body.
type Field struct {
	Name  string
	Value any
}

// body returns the event's body in format f: msgpack of Args, or JSON of
// Fields.
func (e Event) body(f WireFormat) ([]byte, error) {
	if f == WireJSON {
		return jsonObject(e.Fields)
	}
	args := e.Args
	if args == nil {
		args = []any{}
	}
	b, err := codec.Encode(args)
	if err != nil {
		return nil, fmt.Errorf("%w: %s args: %w", ErrInvalidEvent, e.Name, err)
	}
	return b, nil
}

// jsonObject writes fields as one JSON object, in order, compact and with
// non-ASCII and <, >, & unescaped, as orjson and pydantic write JSON.
func jsonObject(fields []Field) ([]byte, error) {
	w := jsonWriter{buf: make([]byte, 0, 64*len(fields))}
	w.buf = append(w.buf, '{')
	for i, f := range fields {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		if err := w.value(f.Name); err != nil {
			return nil, err
		}
		w.buf = append(w.buf, ':')
		if err := w.value(f.Value); err != nil {
			return nil, fmt.Errorf("%w: field %s: %w", ErrInvalidEvent, f.Name, err)
		}
	}
	return append(w.buf, '}'), nil
}

// jsonWriter appends JSON values: plain strings directly, anything else
// through encoding/json without HTML escaping.
type jsonWriter struct {
	buf []byte
	enc *json.Encoder
	out *bytes.Buffer
}

func (w *jsonWriter) value(v any) error {
	if s, ok := v.(string); ok && plainJSON(s) {
		w.buf = append(w.buf, '"')
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, '"')
		return nil
	}
	if w.enc == nil {
		w.out = new(bytes.Buffer)
		w.enc = json.NewEncoder(w.out)
		w.enc.SetEscapeHTML(false)
	}
	w.out.Reset()
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	w.buf = append(w.buf, bytes.TrimSuffix(w.out.Bytes(), []byte{'\n'})...)
	return nil
}

// plainJSON reports whether s goes into JSON quotes unchanged: printable
// ASCII without quote or backslash.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// optional returns nil for "", s otherwise: a Python str | None.
func optional(s string) any {
	if s == "" {
		return nil
	}
	return s
}
