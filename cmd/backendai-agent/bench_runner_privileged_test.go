package main

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/test/testenv"
)

// BenchmarkPrivilegedRunnerKernel times what the manager waits for with
// the kernel runner, through a whole agent server (`server` as a child,
// its local etcd, no Redis): "started" is create_kernels of a busybox
// kernel until it returns, which is after kernel_started, itself after
// the runner answered its readiness probe (bridge network, REPL ports
// published on 127.0.0.1), each kernel destroyed before the next;
// "execute" is execute of print(1) in one Python kernel on one manager
// connection, after a first cell. Each reports p50 and p99. The create
// cycle's ratio against `runc run` is BenchmarkPrivilegedRunVsRunc/bridge,
// whose `run` goes through the runner.
func BenchmarkPrivilegedRunnerKernel(b *testing.B) {
	testenv.RequirePrivileged(b)
	restoreAgentNetwork(b, bridgeName)
	base, env := runEnv(b)
	dir := filepath.Dir(base)
	env = append(env, "BACKENDAI_ETCD_BINARY="+localEtcdBinary(b))
	rpcPort, httpPort := freePort(b), freePort(b)
	etcdAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b)))
	conf := writeServerConfig(b, dir, etcdAddr, rpcPort, httpPort, [2]int{28000, 29999})
	importPython(b, conf, env)
	srv := startAgentServer(b, conf, env)
	defer srv.stop(b)
	addr := fmt.Sprintf("tcp://127.0.0.1:%d", rpcPort)
	c, err := callosum.Dial(b.Context(), addr, callosum.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()

	report := func(b *testing.B, times []time.Duration) {
		slices.Sort(times)
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-p50")
		b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "ms-p99")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("started", func(b *testing.B) {
		var times []time.Duration
		for range b.N {
			spec := createSpec{image: "bai/busybox:1.0", kernelID: newUUID4().String(), cpu: "1", mem: 128 << 20, net: "bridge"}
			start := time.Now()
			rpcCall(b, c, "create_kernels", createPayload(spec, addr)...)
			times = append(times, time.Since(start))
			rpcCall(b, c, "destroy_kernel", spec.kernelID, spec.kernelID, "user-requested")
		}
		report(b, times)
	})
	b.Run("execute", func(b *testing.B) {
		spec := createSpec{image: "bai/python:3", kernelID: newUUID4().String(), cpu: "1", mem: 512 << 20, net: "bridge"}
		rpcCall(b, c, "create_kernels", createPayload(spec, addr)...)
		defer rpcCall(b, c, "destroy_kernel", spec.kernelID, spec.kernelID, "user-requested")
		id := spec.kernelID
		if out := consoleText(execCell(b, c, id, "first", "query", "print(1)", 0)); out != "1\n" {
			b.Fatalf("first cell printed %q", out)
		}
		var times []time.Duration
		for i := range b.N {
			start := time.Now()
			execCell(b, c, id, fmt.Sprintf("rt%d", i), "query", "print(1)", 0)
			times = append(times, time.Since(start))
		}
		report(b, times)
	})
}
