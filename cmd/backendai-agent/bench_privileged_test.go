package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/netns"

	"github.com/baiagent/agent/runtime/image"
	"github.com/baiagent/agent/runtime/spec"
	"github.com/baiagent/agent/test/testenv"
)

// BenchmarkPrivilegedRunVsRunc times whole processes, alternating:
// `backendai-agent run IMAGE -- sh -c 'echo hi'` (create, start, exit,
// destroy) against Debian's `runc run` + `runc delete` on an equivalent
// bundle: the same busybox layer as an overlay rootfs mounted per run, and
// a config.json from the same spec builder (same mounts, limits, seccomp
// profile and capabilities; without our init, which runc does not need,
// and without rlimits, which Debian's runc 1.1.5 fails to set).
// It reports both medians and their ratio (target: ours at most 0.6 of
// runc's). The "bridge" variant runs ours with --net bridge --no-runner
// (namespace, veth, address and routes made and removed per run) against
// runc joining a network namespace made once beforehand, as the
// networking issue asks; "runner" is the same with the kernel runner, as
// `run --net bridge` does by default (runner start, readiness, the
// command as a batch step): the create cycle of the runner issue.
// Ours is the agent as installed (backendai-agent with backendai-agent-run
// beside it, built by the benchmark); "ms-ours-without-helper" is the same
// run kept in the full binary. It also reports the median of
// libcontainer's Run inside ours (the
// create's "start" step) and its ratio to runc's whole cycle: a floor that
// no work outside libcontainer can go under.
func BenchmarkPrivilegedRunVsRunc(b *testing.B) {
	testenv.RequirePrivileged(b)
	agent := installedAgent(b)
	b.Run("none", func(b *testing.B) { benchRunVsRunc(b, agent, false, false) })
	b.Run("bridge", func(b *testing.B) { benchRunVsRunc(b, agent, true, false) })
	b.Run("runner", func(b *testing.B) { benchRunVsRunc(b, agent, true, true) })
}

func benchRunVsRunc(b *testing.B, agent string, bridge, withRunner bool) {
	runc, err := exec.LookPath("runc")
	if err != nil {
		b.Fatalf("Debian's runc is the baseline (make deps installs it): %v", err)
	}
	conf, env := runEnv(b)
	dir := filepath.Dir(conf)
	var netnsPath string
	if bridge {
		netnsPath = benchNetworking(b, dir)
	}
	store, err := image.Open(b.Context(), image.Options{Root: filepath.Join(dir, "var", "images")})
	if err != nil {
		b.Fatal(err)
	}
	img, err := store.Get(b.Context(), "bai/busybox:1.0")
	if err != nil {
		b.Fatal(err)
	}
	layer := filepath.Join(dir, "var", "images", "layers", "sha256", strings.TrimPrefix(img.Layers[0].DiffID, "sha256:"))
	bundle := filepath.Join(dir, "bundle")
	for _, d := range []string{"rootfs", "work", "config", "upper", "ovwork"} {
		if err := os.MkdirAll(filepath.Join(bundle, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	s, err := spec.Build(spec.Input{
		KernelID: "runc-bench", Rootfs: filepath.Join(bundle, "rootfs"), Image: img.Config,
		Args: []string{"sh", "-c", "echo hi"}, WorkDir: filepath.Join(bundle, "work"), ConfigDir: filepath.Join(bundle, "config"),
		CgroupsPath: "/backendai-bench/runc", CPUs: []int{0}, CPUQuota: 1, MemoryBytes: 256 << 20, PidsLimit: 16384,
		NetNSPath: netnsPath,
	})
	if err != nil {
		b.Fatal(err)
	}
	// Debian's runc 1.1.5 sets rlimits after dropping CAP_SYS_RESOURCE and
	// fails on nofile 1048576; setting them costs nothing measurable.
	s.Process.Rlimits = nil
	raw, _ := json.MarshalIndent(s, "", " ")
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), raw, 0o644); err != nil {
		b.Fatal(err)
	}
	runcRoot := filepath.Join("/run", "runc-bench-"+filepath.Base(dir))
	b.Cleanup(func() {
		_ = os.RemoveAll(runcRoot)
		// runc delete removes the container's cgroups; the parent is ours,
		// in every hierarchy (v1) or the one (v2).
		parents, _ := filepath.Glob("/sys/fs/cgroup/*/backendai-bench")
		for _, p := range append(parents, "/sys/fs/cgroup/backendai-bench") {
			_ = os.Remove(p)
		}
	})

	oursOnce := func(extraEnv ...string) time.Duration {
		cmd := benchRunCmd(agent, conf, "ERROR", bridge, withRunner)
		cmd.Env = append(append(os.Environ(), env...), extraEnv...)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil || string(out) != "hi\n" {
			b.Fatalf("ours: %v %q", err, out)
		}
		return d
	}
	runcOnce := func(i int) time.Duration {
		id := fmt.Sprintf("bench-%d", i)
		start := time.Now()
		rootfs := filepath.Join(bundle, "rootfs")
		if err := unix.Mount("overlay", rootfs, "overlay", 0, "lowerdir="+layer+",upperdir="+filepath.Join(bundle, "upper")+",workdir="+filepath.Join(bundle, "ovwork")); err != nil {
			b.Fatal(err)
		}
		out, err := exec.Command(runc, "--root", runcRoot, "run", "--bundle", bundle, id).CombinedOutput()
		if err != nil || string(out) != "hi\n" {
			b.Fatalf("runc run: %v %q", err, out)
		}
		if out, err := exec.Command(runc, "--root", runcRoot, "delete", "-f", id).CombinedOutput(); err != nil {
			b.Fatalf("runc delete: %v %s", err, out)
		}
		if err := unix.Unmount(rootfs, 0); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	oursOnce() // warm the page cache for all
	oursOnce(noHelper)
	runcOnce(-1)
	var ours, full, theirs []time.Duration
	i := 0
	for b.Loop() {
		ours = append(ours, oursOnce())
		theirs = append(theirs, runcOnce(i))
		full = append(full, oursOnce(noHelper))
		i++
	}
	o, r := medianOf(ours), medianOf(theirs)
	b.ReportMetric(o.Seconds()*1000, "ms-ours")
	b.ReportMetric(r.Seconds()*1000, "ms-runc")
	b.ReportMetric(o.Seconds()/r.Seconds(), "ours/runc")
	// The same run in the full binary (without backendai-agent-run).
	b.ReportMetric(medianOf(full).Seconds()*1000, "ms-ours-without-helper")
	// The floor under ours: libcontainer's Run alone (from the init's
	// start to the exec of the kernel's PID 1), as the create's step clock
	// logs it, in runs of their own (logging at debug level) after the
	// timed ones.
	var lc []time.Duration
	for range 10 {
		lc = append(lc, libcontainerRun(b, agent, conf, env, bridge, withRunner))
	}
	l := medianOf(lc)
	b.ReportMetric(l.Seconds()*1000, "ms-libcontainer-run")
	b.ReportMetric(l.Seconds()/r.Seconds(), "libcontainer-run/runc")
	b.ReportMetric(0, "ns/op")
}

// benchRunCmd is the benchmark's `agent run ... bai/busybox:1.0 -- sh -c
// 'echo hi'`.
func benchRunCmd(agent, conf, logLevel string, bridge, withRunner bool) *exec.Cmd {
	net := "none"
	if bridge {
		net = "bridge"
	}
	args := []string{"run", "-f", conf, "--log-level", logLevel, "--net", net}
	if !withRunner {
		args = append(args, "--no-runner")
	}
	return exec.Command(agent, append(args, "bai/busybox:1.0", "--", "sh", "-c", "echo hi")...)
}

var startStep = regexp.MustCompile(`kernel create steps .* start=(\S+) `)

// libcontainerRun runs `run` once at debug level and returns the duration
// of the create's "start" step: libcontainer's Container.Run.
func libcontainerRun(b *testing.B, agent, conf string, env []string, bridge, withRunner bool) time.Duration {
	cmd := benchRunCmd(agent, conf, "DEBUG", bridge, withRunner)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil || string(out) != "hi\n" {
		b.Fatalf("run: %v %q\n%s", err, out, stderr.String())
	}
	m := startStep.FindStringSubmatch(stderr.String())
	if m == nil {
		b.Fatalf("no create steps logged:\n%s", stderr.String())
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		b.Fatalf("start step %q: %v", m[1], err)
	}
	return d
}

// noHelper keeps `run` in the full backendai-agent binary.
const noHelper = "BACKENDAI_RUN_HELPER=off"

func medianOf(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// benchNetworking prepares the bridge variant: the agent's default bridge
// and table (removed afterwards unless they were there before, and the
// host's ip_forward restored), and for runc a network namespace on its own
// bridge made once, whose pinned path it returns.
func benchNetworking(b *testing.B, dir string) string {
	b.Helper()
	restoreAgentNetwork(b, bridgeName)
	br, err := netns.EnsureBridge(netns.BridgeConfig{Name: "bairuncb", Subnet: netip.MustParsePrefix("10.232.250.0/24")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Remove() })
	mgr, err := netns.NewManager(br, netns.Options{PinDir: filepath.Join(dir, "runc-netns"), StateDir: filepath.Join(dir, "runc-leases")})
	if err != nil {
		b.Fatal(err)
	}
	att, err := mgr.Attach(b.Context(), "runc-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mgr.Detach(context.Background(), "runc-bench") })
	return att.NSPath
}
