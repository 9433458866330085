package callosum

import (
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/baiagent/agent/rpc/zmq"
)

// BenchmarkPingRoundTrip measures PING→PONG over loopback and reports the
// latency percentiles (target: p50 <= 200 µs for the server):
//
//	server  a bare synchronous DEALER, as the manager's connector, against Server
//	client  Client.Ping against Server (adds the client's goroutine hand-offs)
//	libzmq  the floor: a bare DEALER against a bare ROUTER echo, no Go server
//
// Compare the three within one run: a shared machine moves them together.
func BenchmarkPingRoundTrip(b *testing.B) {
	b.Run("server", func(b *testing.B) {
		s := startServer(b, Options{Handler: newTestHandler(), Log: slog.New(slog.DiscardHandler)})
		d := newRawDealer(b, s.Addr())
		d.ping("warm-up")
		measure(b, func() {
			d.send([]byte("PING"), []byte("x"), []byte{})
			if _, err := d.sock.RecvMessageBytes(0); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("client", func(b *testing.B) {
		s := startServer(b, Options{Handler: newTestHandler(), Log: slog.New(slog.DiscardHandler)})
		c := dial(b, s.Addr(), ClientOptions{})
		measure(b, func() {
			if err := c.Ping(b.Context()); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("libzmq", func(b *testing.B) {
		addr := echoRouter(b)
		d := newRawDealer(b, addr)
		measure(b, func() {
			d.send([]byte("PING"), []byte("x"), []byte{})
			if _, err := d.sock.RecvMessageBytes(0); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkCallRoundTrip is one echo call at a time: a handler goroutine
// and the reply mailbox on top of the ping path.
func BenchmarkCallRoundTrip(b *testing.B) {
	s := startServer(b, Options{Handler: newTestHandler(), Log: slog.New(slog.DiscardHandler)})
	d := newRawDealer(b, s.Addr())
	d.ping("warm-up")
	hdr, body := fnHeader(b, TypeFunction, "echo", 1), fnBody(b, []byte{0x92, 0x01, 0x02})
	measure(b, func() {
		d.send([]byte("UPPER"), hdr, body)
		if _, err := d.sock.RecvMessageBytes(0); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCall1000InFlight issues 1000 concurrent echo calls through
// Client per iteration and waits for all of them.
func BenchmarkCall1000InFlight(b *testing.B) {
	const inflight = 1000
	s := startServer(b, Options{Handler: newTestHandler(), Log: slog.New(slog.DiscardHandler)})
	c := dial(b, s.Addr(), ClientOptions{})
	body := []byte{0x92, 0x01, 0x02}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var wg sync.WaitGroup
		for range inflight {
			wg.Go(func() {
				if _, err := c.Call(b.Context(), "echo", body); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N*inflight)/time.Since(start).Seconds(), "calls/s")
}

// measure runs op b.N times and reports p50 and p99 in µs.
func measure(b *testing.B, op func()) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		op()
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}

// echoRouter is a bare ROUTER that sends every message back, on its own
// context and goroutine, until the benchmark ends.
func echoRouter(b *testing.B) string {
	zctx, err := zmq.NewContext()
	if err != nil {
		b.Fatal(err)
	}
	sock, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		b.Fatal(err)
	}
	if err := sock.Bind("tcp://127.0.0.1:*"); err != nil {
		b.Fatal(err)
	}
	ep, err := sock.GetLastEndpoint()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sock.Close()
		for {
			msg, err := sock.RecvMessageBytes(0)
			if err != nil {
				return // ETERM
			}
			if _, err := sock.SendMessage(msg); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() {
		zctx.Term() // wakes the goroutine with ETERM, waits for its Close
		<-done
	})
	return ep[len("tcp://"):]
}
