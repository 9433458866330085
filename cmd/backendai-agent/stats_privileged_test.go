package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baiagent/agent/cgroup"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/stats"
	"github.com/baiagent/agent/test/testenv"
)

// The stats ground truth (host lane: cgroup v1; VM lane: cgroup v2): real
// kernels doing known work, read by the collector the agent uses.

func TestPrivilegedStatsGroundTruth(t *testing.T) {
	testenv.RequirePrivileged(t)
	statsGroundTruth(t, true)
}

// TestVMStatsGroundTruth is the same on cgroup v2. The guest has no
// nftables, so the network part runs on the host lane only (rx/tx come
// from the veth, the same on v1 and v2).
func TestVMStatsGroundTruth(t *testing.T) {
	testenv.RequireVMGuest(t)
	statsGroundTruth(t, false)
}

// statsEnv is a runtime made from an agent.toml, as the agent makes it.
type statsEnv struct {
	m   *runtime.Manager
	col *stats.Collector
}

func newStatsEnv(t *testing.T, withNet bool) *statsEnv {
	t.Helper()
	conf, env := runEnv(t)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	lc, err := loadConfig(conf, false)
	if err != nil {
		t.Fatal(err)
	}
	// Two cores for the test's kernels: one burns, the others share one.
	lc.cfg.Resource.ReservedCPU = 0
	if withNet {
		// A bridge and subnets of the test's own; the table is the agent's.
		lc.cfg.Container.AlternativeBridge = "baist0"
		lc.cfg.Container.BridgeSubnet = "10.232.240.0/24"
		lc.cfg.Container.SessionNetworkPool = "10.232.241.0/24"
		cleanupAgentNetwork(t, "baist0")
	}
	m, _, err := newRuntime(t.Context(), lc.cfg, slog.New(slog.DiscardHandler), withNet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, st := range m.List() {
			_, _ = m.Destroy(context.Background(), st.ID, time.Millisecond)
		}
		m.Close()
	})
	col, err := stats.NewCollector(stats.CollectorOptions{Source: runtimeSource{m: m}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(col.Close)
	return &statsEnv{m: m, col: col}
}

// metric returns a kernel metric's field as a number.
func (e *statsEnv) metric(t *testing.T, id, key, field string) float64 {
	t.Helper()
	ms, ok := e.col.Kernel(id)
	if !ok {
		t.Fatalf("no metrics for kernel %s", id)
	}
	s, ok := ms[key][field].(string)
	if !ok {
		t.Fatalf("kernel %s: no %s.%s in %v", id, key, field, ms[key])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (e *statsEnv) create(t *testing.T, req runtime.CreateRequest) {
	t.Helper()
	req.Image = "bai/busybox:1.0"
	if _, err := e.m.Create(t.Context(), req); err != nil {
		t.Fatal(err)
	}
}

func within(got, want, tol float64) bool { return got >= want*(1-tol) && got <= want*(1+tol) }

func statsGroundTruth(t *testing.T, withNet bool) {
	e := newStatsEnv(t, withNet)
	mode, err := cgroup.DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroup layout: %v", mode)
	slots := func(cpu, mem string) map[string]string { return map[string]string{"cpu": cpu, "mem": mem} }

	e.create(t, runtime.CreateRequest{ID: "st-cpu", Slots: slots("1", "268435456"),
		Args: []string{"/bin/sh", "-c", "timeout 3 sh -c 'while :; do :; done'; sleep 60"}})
	e.create(t, runtime.CreateRequest{ID: "st-mem", Slots: slots("0.2", "536870912"), ShmSize: 256 << 20,
		Args: []string{"/bin/sh", "-c", "dd if=/dev/zero of=/dev/shm/hold bs=1M count=100 2>/dev/null; sleep 60"}})
	// cgroup v1 charges buffered writeback to the root cgroup (the flusher
	// writes it), so a write with fsync shows only in part there: on v1
	// the kernel writes with O_DIRECT, which v1 does attribute.
	write := "dd if=/dev/zero of=/home/work/f bs=1M count=64 conv=fsync"
	if mode == cgroup.ModeV1 {
		write = "dd if=/dev/zero of=/home/work/f bs=1M count=64 oflag=direct"
	}
	e.create(t, runtime.CreateRequest{ID: "st-io", Slots: slots("0.2", "268435456"),
		Args: []string{"/bin/sh", "-c", write + " 2>/dev/null; sleep 60"}})
	e.create(t, runtime.CreateRequest{ID: "st-oom", Slots: slots("0.2", "33554432"), ShmSize: 256 << 20,
		Args: []string{"/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=100M count=1; sleep 60"}})
	start := time.Now()
	e.col.SweepKernels()
	time.Sleep(1500 * time.Millisecond)
	e.col.SweepKernels()
	// Between the two sweeps the burner had one core to itself.
	if u := e.metric(t, "st-cpu", "cpu_util", "current"); !within(u, 1000, 0.15) {
		t.Errorf("cpu_util of a kernel burning one core = %.0f, want about 1000", u)
	}
	if c := e.metric(t, "st-cpu", "cpu_util", "capacity"); c != 1000 {
		t.Errorf("cpu_util capacity = %v, want 1000 (one core)", c)
	}
	if m := e.metric(t, "st-mem", "mem", "current"); !within(m, 100<<20, 0.10) {
		t.Errorf("mem of a kernel holding 100 MiB = %.1f MiB", m/(1<<20))
	}
	if c := e.metric(t, "st-mem", "mem", "capacity"); c != 536870912 {
		t.Errorf("mem capacity = %v, want the 512 MiB limit", c)
	}
	if r, _ := e.col.Reading("st-oom"); r.OOMKills == 0 {
		t.Errorf("OOM-killed kernel: oom_kills = 0 (%+v)", r)
	}
	if k := e.metric(t, "st-oom", "oom_kills", "current"); k < 1 {
		t.Errorf("oom_kills metric = %v", k)
	}
	// The burner stops after 3 s: cpu_used is then about 3000 ms.
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
	e.col.SweepKernels()
	if u := e.metric(t, "st-cpu", "cpu_used", "current"); !within(u, 3000, 0.10) {
		t.Errorf("cpu_used after burning one core for 3 s = %.0f ms, want 3000 ± 10%%", u)
	}

	// The writer has a fifth of a core: give it up to 20 s to be done.
	r, _ := e.col.Reading("st-io")
	for deadline := time.Now().Add(20 * time.Second); r.IOWrite < 64<<20 && time.Now().Before(deadline); r, _ = e.col.Reading("st-io") {
		time.Sleep(250 * time.Millisecond)
		e.col.SweepKernels()
	}
	if r.IOAccounted {
		if r.IOWrite < 64<<20 {
			t.Errorf("io_write of a kernel that wrote 64 MiB with fsync = %.1f MiB", float64(r.IOWrite)/(1<<20))
		}
		if w := e.metric(t, "st-io", "io_write", "current"); w < 64<<20 {
			t.Errorf("io_write metric = %v", w)
		}
	} else {
		// Said, not faked: e.g. a guest whose files live in RAM.
		t.Logf("block I/O is not accounted here (no io/blkio data for the kernel's cgroup): io_write not checked")
	}

	if withNet {
		netGroundTruth(t, e)
	}

	// Prometheus: per-kernel series while the kernel runs, none after.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.col.Prometheus())
	if n := seriesOf(t, reg, "st-cpu"); n == 0 {
		t.Fatal("no Prometheus series for a running kernel")
	}
	if _, err := e.m.Destroy(t.Context(), "st-cpu", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.col.SweepKernels()
	if n := seriesOf(t, reg, "st-cpu"); n != 0 {
		t.Errorf("%d Prometheus series of a destroyed kernel", n)
	}
}

// seriesOf counts the series labelled with the kernel id.
func seriesOf(t *testing.T, reg *prometheus.Registry, id string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kernel_id" && l.GetValue() == id {
					n++
				}
			}
		}
	}
	return n
}

// netGroundTruth: 20 MB sent from a bridged kernel to the host show in
// its net_tx.
func netGroundTruth(t *testing.T, e *statsEnv) {
	ln, err := net.Listen("tcp4", "10.232.240.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	e.create(t, runtime.CreateRequest{ID: "st-net", Slots: map[string]string{"cpu": "0.2", "mem": "268435456"}, Network: runtime.NetBridge,
		Args: []string{"/bin/sh", "-c", fmt.Sprintf("dd if=/dev/zero bs=1M count=20 2>/dev/null | nc 10.232.240.1 %d; sleep 60", port)}})
	e.col.SweepKernels()
	select {
	case n := <-got:
		if n != 20<<20 {
			t.Fatalf("the host received %d bytes, want %d", n, 20<<20)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the kernel's 20 MB did not arrive")
	}
	time.Sleep(200 * time.Millisecond)
	e.col.SweepKernels()
	r, _ := e.col.Reading("st-net")
	if r.NetTx < 20<<20 {
		t.Errorf("net tx of a kernel that sent 20 MB = %d bytes", r.NetTx)
	}
	if tx := e.metric(t, "st-net", "net_tx", "current"); tx <= 0 {
		t.Errorf("net_tx rate = %v after sending", tx)
	}
}

// cleanupAgentNetwork removes, after the test, the bridge it names and the
// agent's nftables table (unless they were there before).
func cleanupAgentNetwork(t *testing.T, bridge string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "show", bridge).CombinedOutput(); err == nil {
		t.Fatalf("bridge %s exists already: %s", bridge, out)
	}
	hadTable := exec.Command("nft", "list", "table", "ip", nftTable).Run() == nil
	if prev, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		t.Cleanup(func() { _ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", prev, 0o644) })
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", bridge).Run()
		if !hadTable {
			_ = exec.Command("nft", "delete", "table", "ip", nftTable).Run()
		}
	})
}

// TestPrivilegedRunStats: `run --stats` prints the kernel's metrics in
// upstream's form and its raw totals as one JSON line on stderr.
func TestPrivilegedRunStats(t *testing.T) {
	testenv.RequirePrivileged(t)
	conf, env := runEnv(t)
	cmd := agentCmd(t, "run", "-f", conf, "--stats", "--stats-interval", "100ms", "bai/busybox:1.0", "--",
		"sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo done")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != "done\n" {
		t.Fatalf("run --stats: %v\nstdout: %q\nstderr: %s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var out struct {
		KernelID string                       `json:"kernel_id"`
		Metrics  map[string]stats.MetricValue `json:"metrics"`
		Totals   stats.KernelReading          `json:"totals"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("last stderr line is not the stats JSON: %v\n%s", err, stderr.String())
	}
	for _, key := range []string{"cpu_used", "cpu_util", "mem", "io_read", "io_write", "net_rx", "net_tx", "io_scratch_size"} {
		v, ok := out.Metrics[key]
		if !ok {
			t.Errorf("metric %s missing: %v", key, out.Metrics)
			continue
		}
		for _, f := range []string{"current", "capacity", "pct", "unit_hint"} {
			if _, ok := v[f]; !ok {
				t.Errorf("metric %s has no %s: %v", key, f, v)
			}
		}
	}
	if out.Totals.CPUUsedNs == 0 || out.Totals.MemLimit != 256<<20 {
		t.Errorf("totals: %+v", out.Totals)
	}
}
