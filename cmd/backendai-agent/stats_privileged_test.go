package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"

	"github.com/baiagent/agent/cgroup"
	"github.com/baiagent/agent/internal/daemon"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/scratch"
	"github.com/baiagent/agent/stats"
	"github.com/baiagent/agent/stats/promstats"
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
	// Two cores for the test's kernels: one burns, the others share one;
	// the VM lane's guest has under 1 GiB of memory.
	lc.cfg.Resource.ReservedCPU = 0
	lc.cfg.Resource.ReservedMem = 64 << 20
	if withNet {
		// A bridge and subnets of the test's own; the table is the agent's.
		lc.cfg.Container.AlternativeBridge = "baist0"
		lc.cfg.Container.BridgeSubnet = "10.232.240.0/24"
		lc.cfg.Container.SessionNetworkPool = "10.232.241.0/24"
		if _, err := netlink.LinkByName("baist0"); err == nil {
			t.Fatal("bridge baist0 exists already")
		}
		restoreAgentNetwork(t, "baist0")
	}
	m, _, err := newRuntime(t.Context(), lc.cfg, slog.New(slog.DiscardHandler), withNet, nil)
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

// sweepUntil sweeps every 250 ms until cond holds or d has passed (the
// checks that follow say what is missing).
func (e *statsEnv) sweepUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(250 * time.Millisecond) {
		e.col.SweepKernels()
		if cond() || time.Now().After(deadline) {
			return
		}
	}
}

// initPID is the host pid of a kernel's init.
func (e *statsEnv) initPID(t *testing.T, id string) int {
	t.Helper()
	st, err := e.m.Get(id)
	if err != nil || st.InitPID == 0 {
		t.Fatalf("kernel %s: %+v %v", id, st, err)
	}
	return st.InitPID
}

// childOf is the one child of process pid (the kernel command under
// bai-init, forked by whichever of its threads).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var f []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err == nil {
			f = append(f, strings.Fields(string(b))...)
		}
	}
	if len(f) != 1 {
		t.Fatalf("process %d has children %q, want one", pid, f)
	}
	c, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// taskCPU is a process's user+system CPU time in ms (its own account,
// independent of cgroups), from /proc/<pid>/stat in USER_HZ=100 ticks.
func taskCPU(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the ")" that ends the command name: state is 3, utime 14.
	rest := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseInt(rest[11], 10, 64)
	st, _ := strconv.ParseInt(rest[12], 10, 64)
	return (ut + st) * 10
}

func statsGroundTruth(t *testing.T, withNet bool) {
	e := newStatsEnv(t, withNet)
	mode, err := cgroup.DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cgroup layout: %v", mode)
	slots := func(cpu, mem string) map[string]string { return map[string]string{"cpu": cpu, "mem": mem} }

	// The burner spins until it has used 3 s of CPU by its own account
	// (utime+stime of /proc/self/stat, in 10 ms ticks), so a busy machine
	// (CI, the VM lane's emulated CPUs) stretches it but does not change
	// the amount.
	e.create(t, runtime.CreateRequest{ID: "st-cpu", Slots: slots("1", "67108864"),
		Args: []string{"/bin/sh", "-c", `while :; do read -r l < /proc/$$/stat; set -- $l; [ $((${14} + ${15})) -ge 300 ] && break; done; sleep 60`}})
	// cpu_util against the burner's own CPU time over the same window,
	// taken at once: on the VM lane's emulated CPUs the next creates take
	// long enough for the burner to be done.
	burner := childOf(t, e.initPID(t, "st-cpu"))
	e.col.SweepKernels()
	w0, c0 := time.Now(), taskCPU(t, burner)
	time.Sleep(1500 * time.Millisecond)
	e.col.SweepKernels()
	truth := float64(taskCPU(t, burner)-c0) / time.Since(w0).Seconds() // ms per s
	if u := e.metric(t, "st-cpu", "cpu_util", "current"); truth < 200 || !within(u, truth, 0.15) {
		t.Errorf("cpu_util of the burner = %.0f, its own CPU time says %.0f (want them within 15%%, and the burner running)", u, truth)
	} else {
		t.Logf("cpu_util %.0f (the burner's own account: %.0f; 1000 = one core)", u, truth)
	}
	if c := e.metric(t, "st-cpu", "cpu_util", "capacity"); c != 1000 {
		t.Errorf("cpu_util capacity = %v, want 1000 (one core)", c)
	}
	e.create(t, runtime.CreateRequest{ID: "st-mem", Slots: slots("0.2", "268435456"), ShmSize: 256 << 20,
		Args: []string{"/bin/sh", "-c", "dd if=/dev/zero of=/dev/shm/hold bs=1M count=100 2>/dev/null; sleep 60"}})
	// cgroup v1 charges buffered writeback to the root cgroup (the flusher
	// writes it), so a write with fsync shows only in part there: on v1
	// the kernel writes with O_DIRECT, which v1 does attribute.
	write := "dd if=/dev/zero of=/home/work/f bs=1M count=64 conv=fsync"
	if mode == cgroup.ModeV1 {
		write = "dd if=/dev/zero of=/home/work/f bs=1M count=64 oflag=direct"
	}
	e.create(t, runtime.CreateRequest{ID: "st-io", Slots: slots("0.2", "67108864"),
		Args: []string{"/bin/sh", "-c", write + " 2>/dev/null; sleep 60"}})
	e.create(t, runtime.CreateRequest{ID: "st-oom", Slots: slots("0.2", "33554432"), ShmSize: 256 << 20,
		Args: []string{"/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=100M count=1; sleep 60"}})
	e.create(t, runtime.CreateRequest{ID: "st-scr", Slots: slots("0.2", "67108864"), ScratchType: scratch.Memory, ScratchSize: 64 << 20,
		Args: []string{"/bin/sh", "-c", "dd if=/dev/zero of=/home/work/f bs=1M count=8 2>/dev/null; sleep 60"}})
	e.sweepUntil(t, 30*time.Second, func() bool { return e.metric(t, "st-mem", "mem", "current") >= 95<<20 })
	if m := e.metric(t, "st-mem", "mem", "current"); !within(m, 100<<20, 0.10) {
		t.Errorf("mem of a kernel holding 100 MiB = %.1f MiB", m/(1<<20))
	}
	if c := e.metric(t, "st-mem", "mem", "capacity"); c != 268435456 {
		t.Errorf("mem capacity = %v, want the 256 MiB limit", c)
	}
	// A memory scratch is a file system of its own: statfs sees the 8 MiB.
	e.sweepUntil(t, 30*time.Second, func() bool { return e.metric(t, "st-scr", "io_scratch_size", "current") >= 8<<20 })
	if sz := e.metric(t, "st-scr", "io_scratch_size", "current"); sz < 8<<20 || sz > 16<<20 {
		t.Errorf("io_scratch_size of a memory scratch holding 8 MiB = %.1f MiB", sz/(1<<20))
	}
	e.sweepUntil(t, 30*time.Second, func() bool { r, _ := e.col.Reading("st-oom"); return r.OOMKills > 0 })
	if r, _ := e.col.Reading("st-oom"); r.OOMKills == 0 {
		t.Errorf("OOM-killed kernel: oom_kills = 0 (%+v)", r)
	}
	if k := e.metric(t, "st-oom", "oom_kills", "current"); k < 1 {
		t.Errorf("oom_kills metric = %v", k)
	}
	// The burner stops once it used 3 s of CPU: cpu_used is then 3000 ms.
	e.sweepUntil(t, 60*time.Second, func() bool { return taskCPU(t, burner) >= 3000 })
	time.Sleep(100 * time.Millisecond) // it is sleeping now
	e.col.SweepKernels()
	// The kernel's processes are the burner and its init (whose own start
	// costs little on a host, but a few hundred ms on the VM lane's
	// emulated CPU): cpu_used must be their sum, 3000 ms and the init's.
	initCPU := taskCPU(t, e.initPID(t, "st-cpu"))
	if u := e.metric(t, "st-cpu", "cpu_used", "current"); !within(u, float64(3000+initCPU), 0.10) {
		t.Errorf("cpu_used after burning 3 s of CPU = %.0f ms, want 3000 + the init's %d ms, ± 10%%", u, initCPU)
	} else {
		t.Logf("cpu_used %.0f ms (burner 3000 ms + init %d ms)", u, initCPU)
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

	// /metrics, as the server serves it: per-kernel series while the
	// kernel runs, none after.
	srv, err := daemon.NewHTTPServer(daemon.HTTPOptions{Addr: "127.0.0.1:0", Version: version, Registry: metricsRegistry(e.col)})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	url := "http://" + srv.Addr().String() + "/metrics"
	if n := seriesOf(t, url, "st-cpu"); n == 0 {
		t.Fatal("no /metrics series for a running kernel")
	}
	if _, err := e.m.Destroy(t.Context(), "st-cpu", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.col.SweepKernels()
	if n := seriesOf(t, url, "st-cpu"); n != 0 {
		t.Errorf("%d /metrics series of a destroyed kernel", n)
	}
}

// seriesOf counts the series of /metrics at url labelled with the kernel
// id.
func seriesOf(t *testing.T, url, id string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return strings.Count(string(b), `kernel_id="`+id+`"`)
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
	e.create(t, runtime.CreateRequest{ID: "st-net", Slots: map[string]string{"cpu": "0.2", "mem": "67108864"}, Network: runtime.NetBridge,
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

// metricsRegistry is what the server's /metrics serves (server.go
// registers the same): the agent's own metrics and the collector's node
// and kernel series.
func metricsRegistry(col *stats.Collector) *prometheus.Registry {
	reg := daemon.NewRegistry(version)
	reg.MustRegister(promstats.New(col))
	return reg
}
