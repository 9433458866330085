package events

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/stats"
)

func metricValue1() stats.MetricValue {
	return stats.MetricValue{
		"current": "1000", "capacity": "2000", "pct": "50.00", "unit_hint": "msec",
		"stats.max": "1500", "stats.avg": "900", "stats.version": 2,
	}
}

func TestWriteNodeStats(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	rdb := s.client(t, DBStatistics)
	ns := stats.NodeStats{
		Node: map[string]stats.MetricValue{"cpu_util": metricValue1(), "mem": {
			"current": "1", "capacity": nil, "pct": "0.00", "unit_hint": "bytes"}},
		Devices: map[string]map[string]stats.MetricValue{"cpu_util": {"0": metricValue1(), "1": metricValue1()}},
	}
	if err := p.WriteNodeStats(t.Context(), ns, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	raw, err := rdb.Get(t.Context(), testAgentID).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	v, err := codec.DecodeOrdered(raw)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(codec.OrderedMap)
	if len(m) != 2 || m[0].Key != "node" || m[1].Key != "devices" {
		t.Fatalf("top keys %#v", m)
	}
	cpu, _ := m[0].Value.(codec.OrderedMap).Get("cpu_util")
	var keys []any
	for _, kv := range cpu.(codec.OrderedMap) {
		keys = append(keys, kv.Key)
	}
	if want := []any{"current", "capacity", "pct", "unit_hint", "stats.max", "stats.avg", "stats.version"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("metric keys %v, want upstream's order %v", keys, want)
	}
	plain, err := codec.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"node": map[string]any{
			"cpu_util": map[string]any{"current": "1000", "capacity": "2000", "pct": "50.00", "unit_hint": "msec",
				"stats.max": "1500", "stats.avg": "900", "stats.version": int64(2)},
			"mem": map[string]any{"current": "1", "capacity": nil, "pct": "0.00", "unit_hint": "bytes"},
		},
	}
	dev := map[string]any{"current": "1000", "capacity": "2000", "pct": "50.00", "unit_hint": "msec",
		"stats.max": "1500", "stats.avg": "900", "stats.version": int64(2)}
	want["devices"] = map[string]any{"cpu_util": map[string]any{"0": dev, "1": dev}}
	if !reflect.DeepEqual(plain, want) {
		t.Errorf("node stats\n got %#v\nwant %#v", plain, want)
	}
	if ttl := rdb.TTL(t.Context(), testAgentID).Val(); ttl <= 100*time.Second || ttl > 120*time.Second {
		t.Errorf("ttl %v, want 4 × 30 s", ttl)
	}
}

func TestMetricTTL(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		30 * time.Second: 120 * time.Second, 5 * time.Second: 20 * time.Second,
		1500 * time.Millisecond: 6 * time.Second, 1100 * time.Millisecond: 4 * time.Second, 0: time.Second,
	} {
		if got := MetricTTL(in); got != want {
			t.Errorf("MetricTTL(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestWriteKernelStats(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	rdb := s.client(t, DBStatistics)
	kernels := map[string]map[string]stats.MetricValue{
		kernelText:  {"cpu_util": metricValue1()},
		sessionText: {"mem": {"current": "5", "capacity": "10", "pct": "50.00", "unit_hint": "bytes"}},
	}
	if err := p.WriteKernelStats(t.Context(), kernels); err != nil {
		t.Fatal(err)
	}
	for id, metrics := range kernels {
		raw, err := rdb.Get(t.Context(), id).Bytes()
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{}
		for k, mv := range metrics {
			m := map[string]any{}
			for f, x := range mv {
				if i, ok := x.(int); ok {
					x = int64(i)
				}
				m[f] = x
			}
			want[k] = m
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\n got %#v\nwant %#v", id, got, want)
		}
		if ttl := rdb.TTL(t.Context(), id).Val(); ttl < DefaultStatTTL-time.Minute || ttl > DefaultStatTTL {
			t.Errorf("%s ttl %v", id, ttl)
		}
	}
}

func TestWriteKernelPresence(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	rdb := s.client(t, DBLive)
	if err := p.WriteKernelPresence(t.Context(), []string{kernelText, sessionText}); err != nil {
		t.Fatal(err)
	}
	now := rdb.Time(t.Context()).Val().Unix()
	for _, id := range []string{kernelText, sessionText} {
		key := "kernel:presence:" + id
		h, err := rdb.HGetAll(t.Context(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		ts, err := strconv.ParseInt(h["last_presence"], 10, 64)
		if h["presence"] != "1" || len(h) != 2 || err != nil || now-ts > 5 || ts > now {
			t.Errorf("%s = %v (redis time %d)", key, h, now)
		}
		if ttl := rdb.TTL(t.Context(), key).Val(); ttl <= 290*time.Second || ttl > KernelPresenceTTL {
			t.Errorf("%s ttl %v", key, ttl)
		}
	}
}

func TestWriteContainerCountAndImages(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	ctx := t.Context()
	if err := p.WriteContainerCount(ctx, 42); err != nil {
		t.Fatal(err)
	}
	stat := s.client(t, DBStatistics)
	if v := stat.Get(ctx, "container_count."+testAgentID).Val(); v != "42" {
		t.Errorf("container count %q", v)
	}
	if ttl := stat.TTL(ctx, "container_count."+testAgentID).Val(); ttl < 23*time.Hour {
		t.Errorf("container count ttl %v", ttl)
	}
	images := []InstalledImage{
		{Canonical: "cr.backend.ai/stable/python:3.13", Digest: "sha256:aa", Architecture: "x86_64"},
		{Canonical: "lablup/<local>&", Digest: "sha256:bb", Architecture: "aarch64"},
	}
	if err := p.WriteInstalledImages(ctx, images); err != nil {
		t.Fatal(err)
	}
	img := s.client(t, DBImage)
	want := `[{"canonical":"cr.backend.ai/stable/python:3.13","digest":"sha256:aa","architecture":"x86_64"},` +
		`{"canonical":"lablup/<local>&","digest":"sha256:bb","architecture":"aarch64"}]`
	if v := img.Get(ctx, "installed_image:"+testAgentID).Val(); v != want {
		t.Errorf("installed images\n got %s\nwant %s", v, want)
	}
	if ttl := img.TTL(ctx, "installed_image:"+testAgentID).Val(); ttl != -1 {
		t.Errorf("installed images ttl %v, want none", ttl)
	}
	if err := p.WriteInstalledImages(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if v := img.Get(ctx, "installed_image:"+testAgentID).Val(); v != want {
		t.Errorf("an empty list overwrote the key: %s", v)
	}
}

// logEntry is upstream's ContainerLogData JSON.
type logEntry struct {
	CompressType string `json:"compress_type"`
	Content      string `json:"content"`
}

func TestPushContainerLog(t *testing.T) {
	s, ok := startRedis(t)
	if !ok {
		return
	}
	p := newProducer(t, s, Options{})
	rdb := s.client(t, DBContainerLog)
	var log strings.Builder
	for i := range 5000 {
		log.WriteString("line " + strconv.Itoa(i) + " of the kernel's output\n")
	}
	const chunk = 4096
	n, err := p.PushContainerLog(t.Context(), "c0ffee", strings.NewReader(log.String()), chunk)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(log.Len()) {
		t.Errorf("read %d of %d bytes", n, log.Len())
	}
	items, err := rdb.LRange(t.Context(), "containerlog.c0ffee", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := (log.Len() + chunk - 1) / chunk; len(items) != want {
		t.Errorf("%d chunks, want %d", len(items), want)
	}
	var got bytes.Buffer
	for i, item := range items {
		if !strings.HasPrefix(item, `{"compress_type": "zlib", "content": "`) {
			t.Fatalf("chunk %d is not json.dumps' form: %.60s", i, item)
		}
		var e logEntry
		if err := json.Unmarshal([]byte(item), &e); err != nil || e.CompressType != "zlib" {
			t.Fatalf("chunk %d: %v %+v", i, err, e)
		}
		z, err := base64.StdEncoding.DecodeString(e.Content)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			t.Fatal(err)
		}
		part, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if i < len(items)-1 && len(part) != chunk {
			t.Errorf("chunk %d has %d bytes", i, len(part))
		}
		got.Write(part)
	}
	if got.String() != log.String() {
		t.Error("the chunks do not make up the log")
	}
	if ttl := rdb.TTL(t.Context(), "containerlog.c0ffee").Val(); ttl <= 59*time.Minute || ttl > ContainerLogTTL {
		t.Errorf("ttl %v", ttl)
	}
	if n, err := p.PushContainerLog(t.Context(), "empty", strings.NewReader(""), 0); n != 0 || err != nil {
		t.Errorf("empty log: %d %v", n, err)
	}
	if rdb.Exists(t.Context(), "containerlog.empty").Val() != 0 {
		t.Error("an empty log made a key")
	}
}
