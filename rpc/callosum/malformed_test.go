package callosum

import (
	"bytes"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
)

func TestMalformedDropped(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})
	d := newRawDealer(t, s.Addr())
	hdr := fnHeader(t, TypeFunction, "echo", 1)
	body := fnBody(t, []byte{0xc0})

	garbage := map[string][][]byte{
		"one frame":         {[]byte("UPPER")},
		"two frames":        {[]byte("UPPER"), hdr},
		"four frames":       {[]byte("UPPER"), hdr, body, body},
		"empty frames":      {{}, {}, {}},
		"unknown marker":    {[]byte("LOWER"), hdr, body},
		"lowercase marker":  {[]byte("upper"), hdr, body},
		"header not msgpck": {[]byte("UPPER"), []byte("{\"type\": 1}"), body},
		"header meth int":   {[]byte("UPPER"), pack(t, "type", 1, "meth", 5, "okey", []byte{}, "seq", 1, "zip", false), body},
		"header type 9":     {[]byte("UPPER"), pack(t, "type", 9, "meth", "echo", "okey", []byte{}, "seq", 1, "zip", false), body},
		"header no okey":    {[]byte("UPPER"), pack(t, "type", 1, "meth", "echo", "seq", 1, "zip", false), body},
		"body not a map":    {[]byte("UPPER"), hdr, []byte{0x91, 0x01}},
		"body no meta":      {[]byte("UPPER"), hdr, pack(t, "body", []byte{})},
		"zip not snappy":    {[]byte("UPPER"), pack(t, "type", 1, "meth", "echo", "okey", []byte{}, "seq", 1, "zip", true), body},
		"cancel bad body":   {[]byte("UPPER"), fnHeader(t, TypeCancel, "echo", 1), []byte{0xc1}},
	}
	for name, frames := range garbage {
		d.send(frames...)
		// Nothing comes back: the next message is the PONG of this PING.
		d.ping(name)
	}
	if st := s.Stats(); st.Malformed != uint64(len(garbage)) || st.Requests != 0 {
		t.Errorf("Stats = %+v, want Malformed %d and no request", st, len(garbage))
	}

	// Well-formed messages a server has no use for are ignored, not answered.
	for _, typ := range []MsgType{TypeNull, TypeResult, TypeFailure, TypeError, TypeCancelled} {
		d.send([]byte("UPPER"), fnHeader(t, typ, "echo", 1), body)
	}
	d.ping("after ignored")
	if st := s.Stats(); st.Ignored != 5 {
		t.Errorf("Stats.Ignored = %d, want 5", st.Ignored)
	}

	// And the server still calls.
	d.send([]byte("UPPER"), hdr, body)
	if got := d.recv(5 * time.Second); len(got) != 3 || unpackMap(t, got[1])["type"] != int8(TypeResult) {
		t.Fatalf("reply %q, want a RESULT", got)
	}
}

func TestOversizedDropped(t *testing.T) {
	const limit = 1024
	s := startServer(t, Options{Handler: newTestHandler(), MaxFrameBytes: limit})

	t.Run("frame over ZMQ_MAXMSGSIZE", func(t *testing.T) {
		// libzmq drops the connection of a peer sending a larger frame.
		d := newRawDealer(t, s.Addr())
		d.send([]byte("UPPER"), fnHeader(t, TypeFunction, "echo", 1), fnBody(t, make([]byte, 2*limit)))
		if got := d.recv(300 * time.Millisecond); got != nil {
			t.Fatalf("got a reply %q to an oversized frame", got)
		}
		c := dial(t, s.Addr(), ClientOptions{})
		if _, err := c.Call(t.Context(), "echo", []byte{0xc0}); err != nil {
			t.Fatalf("Call after oversized frame: %v", err)
		}
	})

	t.Run("message over MaxFrameBytes", func(t *testing.T) {
		// Each frame fits; together they do not.
		d := newRawDealer(t, s.Addr())
		pad := make([]byte, 600)
		hdr := pack(t, "type", 1, "meth", "echo", "okey", []byte{}, "seq", 2, "zip", false, "pad", pad)
		d.send([]byte("UPPER"), hdr, fnBody(t, pad))
		d.ping("after big message")
		if st := s.Stats(); st.Oversized != 1 {
			t.Errorf("Stats.Oversized = %d, want 1", st.Oversized)
		}
	})

	t.Run("snappy over MaxFrameBytes", func(t *testing.T) {
		d := newRawDealer(t, s.Addr())
		zhdr := pack(t, "type", 1, "meth", "echo", "okey", []byte{}, "seq", 3, "zip", true)
		d.send([]byte("UPPER"), zhdr, snappy.Encode(nil, fnBody(t, make([]byte, 4*limit))))
		d.ping("after snappy bomb")
		if st := s.Stats(); st.Oversized != 2 {
			t.Errorf("Stats.Oversized = %d, want 2", st.Oversized)
		}
	})
}

func TestSnappyRequest(t *testing.T) {
	s := startServer(t, Options{Handler: newTestHandler()})
	d := newRawDealer(t, s.Addr())
	payload := bytes.Repeat([]byte("abc"), 100)
	zhdr := pack(t, "type", 1, "meth", "echo", "okey", []byte{}, "seq", 4, "zip", true)
	d.send([]byte("UPPER"), zhdr, snappy.Encode(nil, fnBody(t, payload)))
	got := d.recv(5 * time.Second)
	if len(got) != 3 {
		t.Fatalf("reply %q", got)
	}
	h, b := unpackMap(t, got[1]), unpackMap(t, got[2])
	if h["type"] != int8(TypeResult) || h["zip"] != false || !bytes.Equal(b["body"].([]byte), payload) {
		t.Errorf("reply header %v body %v; want an uncompressed RESULT of the payload", h, b)
	}
}
