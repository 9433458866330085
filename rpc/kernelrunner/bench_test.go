package kernelrunner

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkQueryRoundTrip measures one query against the fake runner:
// send `code`, get `stdout` and `finished` back, assemble the result.
func BenchmarkQueryRoundTrip(b *testing.B) {
	f := newFakeRunner(b, func(m msg) [][]string {
		if m.typ == msgCode {
			return [][]string{{msgStdout, "42\n"}, finished(0)}
		}
		return nil
	})
	c := dial(b, f, Options{Keepalive: -1})
	ctx := context.Background()
	// Warm up: the first message waits for the TCP connections.
	if _, err := c.Execute(ctx, "warm", ModeQuery, "x", nil, 0, 2); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		res, err := c.Execute(ctx, "bench", ModeQuery, "print(42)", nil, 0, 2)
		lat = append(lat, time.Since(start))
		if err != nil || res.Status != StatusFinished {
			b.Fatalf("Execute = %+v, %v", res, err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}
