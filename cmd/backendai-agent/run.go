package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/rpc/zmq"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/scratch"
)

const runUsage = `usage: backendai-agent run [--cpu N] [--mem SIZE] [--scratch hostdir|memory|hostfile] [--scratch-size SIZE]
                           [--gpus N] [--net none|bridge|host] [--publish CPORT]... [--no-runner] [--stats] IMAGE [-- CMD ARGS...]
`

// intList is a repeatable integer flag.
type intList []int

func (l *intList) String() string { return fmt.Sprint(*l) }
func (l *intList) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*l = append(*l, n)
	return nil
}

// runKernel is `backendai-agent run`: create a kernel, stream its output,
// destroy it, and exit with its command's exit code.
func runKernel(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stderr)
	cpu := fs.String("cpu", "1", "CPU cores (slot cpu)")
	mem := fs.String("mem", "256M", "memory (slot mem), e.g. 512M, 2G")
	scratchType := fs.String("scratch", "", "scratch type: hostdir, memory or hostfile (default: container.scratch-type)")
	scratchSize := fs.String("scratch-size", "", "scratch size for memory and hostfile (default: container.scratch-size)")
	gpus := fs.Int("gpus", 0, "whole GPUs (slot cuda.device); on a GPU node a kernel without any sees none")
	netMode := fs.String("net", "none", "network: none (loopback only), bridge (own namespace on the agent's bridge) or host")
	var publish intList
	fs.Var(&publish, "publish", "container port to publish on container.bind-host (bridge; repeatable)")
	noRunner := fs.Bool("no-runner", false, "run the command as the kernel's main process even with networking (by default a bridge or host kernel runs the kernel runner, and the command goes through it as a batch job does)")
	withStats := fs.Bool("stats", false, "print the kernel's metrics (upstream's MetricValue form) and raw totals as one JSON line on stderr when it exits")
	statsInterval := fs.Duration("stats-interval", 500*time.Millisecond, "how often --stats samples the kernel")
	var cmdArgs []string
	for i, a := range args {
		if a == "--" {
			args, cmdArgs = args[:i], args[i+1:]
			break
		}
	}
	pos, err := parseInterspersed(fs, args, false)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprint(stderr, runUsage)
		return exitUsage
	}
	memBytes, err := configs.ParseBinarySize(*mem)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: --mem: %v\n", err)
		return exitUsage
	}
	var size int64
	if *scratchSize != "" {
		s, err := configs.ParseBinarySize(*scratchSize)
		if err != nil {
			fmt.Fprintf(stderr, "backendai-agent run: --scratch-size: %v\n", err)
			return exitUsage
		}
		size = int64(s)
	}
	lc, err := loadConfig(fs.configFile, false)
	if err != nil {
		printProblems(stderr, err)
		return exitFailure
	}
	log, closer, err := newLogger(lc.cfg.Logging, fs.debug, cmpOr(fs.logLevel, "WARNING"), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent: %v\n", err)
		return exitFailure
	}
	defer closer.Close()
	log.Debug("run", "variant", buildVariant)
	lock, err := lockState(runtimeStateDir(lc.cfg))
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
		return exitFailure
	}
	defer lock.release()
	mode := runtime.NetworkMode(*netMode)
	// GPU support is opened even for --gpus 0: on a GPU node the kernel
	// must then be kept from the GPUs an image may ask for.
	gs, err := openGPUs(log, nil)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
		return exitFailure
	}
	defer gs.Close()
	if *gpus > 0 && gs == nil {
		fmt.Fprintf(stderr, "backendai-agent run: --gpus %d: %v\n", *gpus, errNoGPUs)
		return exitFailure
	}
	m, _, err := newRuntime(ctx, lc.cfg, log, mode == runtime.NetBridge || mode == runtime.NetHost, gs)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
		return exitFailure
	}
	id := "run-" + randomID()
	req := runtime.CreateRequest{
		ID: id, Image: pos[0], Args: cmdArgs,
		Slots:       runSlots(*cpu, int64(memBytes), *gpus),
		ScratchType: scratch.Type(*scratchType), ScratchSize: size,
		Network: mode, Publish: publishes(publish),
	}
	// The runner serves over the network, and has a command to run.
	viaRunner := !*noRunner && len(cmdArgs) > 0 && m.HasRunner() && (mode == runtime.NetBridge || mode == runtime.NetHost)
	if viaRunner {
		// libzmq is mapped while the kernel is made; "app": a batch job
		// needs no interpreter started.
		go func() { _ = zmq.Load() }()
		req.Runner = &runtime.Runner{RuntimeType: "app"}
		// LOCAL_USER_ID as the agent's uid-match would give it.
		uid, gid := kernelIDs(lc.cfg)
		req.Env = append(req.Env, fmt.Sprintf("LOCAL_USER_ID=%d", uid), fmt.Sprintf("LOCAL_GROUP_ID=%d", gid))
	}
	st, err := m.Create(ctx, req)
	if err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
		return exitFailure
	}
	for _, b := range st.Net.Bindings {
		if viaRunner && (b.ContainerPort == runtime.ReplInPort || b.ContainerPort == runtime.ReplOutPort) {
			continue // the runner's own, on 127.0.0.1
		}
		fmt.Fprintf(stderr, "published %d -> %s:%d\n", b.ContainerPort, b.HostIP, b.HostPort)
	}
	var ks *kernelStatsRun
	if *withStats {
		if ks, err = startKernelStats(m, gs, id, max(*statsInterval, 10*time.Millisecond)); err != nil {
			fmt.Fprintf(stderr, "backendai-agent run: stats: %v\n", err)
		}
	}
	var code int
	if viaRunner {
		code = runThroughRunner(ctx, m, id, cmdArgs, stdout, stderr, log)
		// The command is done and the runner keeps no state of the
		// user's: no need to wait for its orderly shutdown.
		_ = m.Signal(id, unix.SIGKILL)
	} else {
		code = streamUntilExit(ctx, m, id, stdout)
	}
	if ks != nil {
		ks.finish(stderr)
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := m.Destroy(dctx, id, 2*time.Second); err != nil {
		fmt.Fprintf(stderr, "backendai-agent run: %v\n", err)
		return exitFailure
	}
	m.Close()
	return code
}

// streamUntilExit copies the kernel's log to w until the kernel exits
// (ctx's end, e.g. ^C, stops the kernel first) and returns its exit code.
func streamUntilExit(ctx context.Context, m *runtime.Manager, id string, w io.Writer) int {
	r, err := m.Logs(id)
	if err != nil {
		return exitFailure
	}
	defer r.Close()
	exited := make(chan runtime.Exit, 1)
	go func() {
		ex, err := m.Wait(context.WithoutCancel(ctx), id)
		if err != nil {
			ex = runtime.Exit{Code: exitFailure}
		}
		exited <- ex
	}()
	buf := make([]byte, 64<<10)
	drain := func() {
		for {
			n, err := r.Read(buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
			}
			if err != nil || n == 0 {
				return
			}
		}
	}
	stopping := false
	for {
		drain()
		select {
		case ex := <-exited:
			drain()
			if ex.OOMKilled {
				fmt.Fprintln(os.Stderr, "backendai-agent run: the kernel was OOM-killed")
			}
			return ex.Code
		case <-ctx.Done():
			if !stopping {
				stopping = true
				_, _ = m.Destroy(context.WithoutCancel(ctx), id, 2*time.Second)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func publishes(ports []int) []runtime.Publish {
	var out []runtime.Publish
	for _, p := range ports {
		out = append(out, runtime.Publish{ContainerPort: p})
	}
	return out
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runSlots are the slots of a `run` kernel.
func runSlots(cpu string, mem int64, gpus int) map[string]string {
	slots := map[string]string{"cpu": cpu, "mem": strconv.FormatInt(mem, 10)}
	if gpus > 0 {
		slots["cuda.device"] = strconv.Itoa(gpus)
	}
	return slots
}
