package agent

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/zmq"
)

// BenchmarkPingMethod is the manager's `ping` call through the whole
// agent path on loopback: a bare DEALER (as the manager's PeerInvoker)
// sends FUNCTION ping, the Callosum server runs the Service's handler and
// answers RESULT. It reports p50 and p99 in µs (target: p50 <= 200 µs),
// beside the PING/PONG frame round trip of the same server in the same
// run (the transport's floor).
func BenchmarkPingMethod(b *testing.B) {
	f := newFixture(b, true)
	srv, err := callosum.NewServer(callosum.Options{Addr: "127.0.0.1:0", Handler: f.svc, Inline: f.svc.Inline, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	b.Cleanup(func() { cancel(); <-done })

	zctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	sock, err := zctx.NewSocket(zmq.DEALER)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sock.Close(); _ = zctx.Term() })
	_ = sock.SetLinger(0)
	if err := sock.Connect("tcp://" + srv.Addr()); err != nil {
		b.Fatal(err)
	}
	args, _ := codec.Encode(map[string]any{"args": []any{"bench"}, "kwargs": map[string]any{"agent_id": nil}})
	body, _ := codec.Encode(map[string]any{"meta": []byte{}, "body": args})
	roundTrip := func(frames ...[]byte) {
		if _, err := sock.SendMessage(frames); err != nil {
			b.Fatal(err)
		}
		if _, err := sock.RecvMessageBytes(0); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip([]byte("PING"), []byte("x"), []byte{})
	seq := int64(0)
	call := func() {
		seq++
		hdr, _ := codec.Encode(map[string]any{"type": int64(1), "meth": "ping", "okey": []byte{}, "seq": seq, "zip": false})
		roundTrip([]byte("UPPER"), hdr, body)
	}
	call()
	b.Run("method", func(b *testing.B) { measure(b, call) })
	b.Run("frame", func(b *testing.B) {
		measure(b, func() { roundTrip([]byte("PING"), []byte("x"), []byte{}) })
	})
}

// measure runs op b.N times and reports p50 and p99 in µs.
func measure(b *testing.B, op func()) {
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		op()
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
