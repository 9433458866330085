package runner

import (
	"sort"
	"testing"
	"time"
)

// BenchmarkQueryRoundTrip measures `code` "print(1)" → stdout → finished
// through ZeroMQ and the Python driver; it reports the median and p99.
func BenchmarkQueryRoundTrip(b *testing.B) {
	_, c := startServer(b, Config{RuntimeType: RuntimePython})
	c.run("pass") // the interpreter is warm
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r := c.run("print(1)")
		lat = append(lat, time.Since(t0))
		if r.stdout.String() != "1\n" {
			b.Fatalf("stdout %q", r.stdout.String())
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAppRoundTrip is the same through `sh -c`.
func BenchmarkAppRoundTrip(b *testing.B) {
	_, c := startServer(b, Config{RuntimeType: RuntimeApp})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := c.run("echo 1"); r.stdout.String() != "1\n" {
			b.Fatalf("stdout %q", r.stdout.String())
		}
	}
}
