package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/baiagent/agent/rpc/callosum"
	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/rpc/events"
	"github.com/baiagent/agent/rpc/zmq"
)

// rpcCall makes one call as the manager does and decodes its result.
func rpcCall(t testing.TB, c *callosum.Client, method string, args ...any) any {
	t.Helper()
	v, err := rpcCallErr(t, c, method, args...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return v
}

func rpcCallErr(t testing.TB, c *callosum.Client, method string, args ...any) (any, error) {
	t.Helper()
	body, err := codec.Encode(map[string]any{"args": args, "kwargs": map[string]any{"agent_id": nil}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := c.Call(ctx, method, body)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return codec.Decode(out)
}

// execCell runs one execute call and returns its result dict.
func execCell(t testing.TB, c *callosum.Client, kernelID, runID, mode, code string, flush float64) map[string]any {
	t.Helper()
	res, ok := rpcCall(t, c, "execute", kernelID, kernelID, int64(2), runID, mode, code, map[string]any{}, flush).(map[string]any)
	if !ok {
		t.Fatalf("execute %s %q: not a dict", mode, code)
	}
	return res
}

// consoleText joins a result's stdout items.
func consoleText(res map[string]any) string {
	var b strings.Builder
	items, _ := res["console"].([]any)
	for _, it := range items {
		if pair, ok := it.([]any); ok && len(pair) == 2 && pair[0] == "stdout" {
			s, _ := pair[1].(string)
			b.WriteString(s)
		}
	}
	return b.String()
}

// checkRunnerKernel creates a busybox runner kernel as the manager does,
// with a bootstrap script, dotfiles and an SSH keypair, on an agent whose
// kernel-uid is 1000, and checks the runner's entrypoint duties, its
// service, its tolerance of malformed messages and, last, that a runner
// that dies ends the kernel with kernel_terminated(self-terminated).
func checkRunnerKernel(t *testing.T, addr string, stream *redis.Client) {
	c, err := callosum.Dial(t.Context(), addr, callosum.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	spec := createSpec{image: "bai/busybox:1.0", kernelID: newUUID4().String(), cpu: "1", mem: 256 << 20, net: "bridge"}
	payload := createPayload(spec, addr)
	cfg := payload[2].([]any)[0].(map[string]any)
	cfg["bootstrap_script"] = "echo booted-as-$(id -u) > /home/work/booted.txt\n"
	cfg["internal_data"] = map[string]any{
		"dotfiles":    []any{map[string]any{"path": ".profile", "data": "export FROM_DOTFILE=1\n", "perm": "640"}},
		"ssh_keypair": map[string]any{"public_key": "ssh-ed25519 AAAA e2e", "private_key": "PRIVATE"},
	}
	res := rpcCall(t, c, "create_kernels", payload...)
	id := spec.kernelID
	info, _ := res.([]any)[0].(map[string]any)

	// The work user: uid-match with kernel-uid 1000, named in the image's
	// accounts; the home is the user's, the dotfiles and the bootstrap
	// the user's too.
	out := consoleText(execCell(t, c, id, "u1", "query", "id -u; id -g; id -un; echo $HOME; stat -c %u /home/work; cat booted.txt; stat -c '%u %a' .profile .ssh/id_rsa; cat .ssh/authorized_keys", 0))
	want := "1000\n1000\nwork\n/home/work\n1000\nbooted-as-1000\n1000 640\n1000 600\nssh-ed25519 AAAA e2e"
	if out != want {
		t.Errorf("the work user's view:\n%s\nwant:\n%s", out, want)
	}
	if out := consoleText(execCell(t, c, id, "u2", "query", "touch /etc/passwd 2>/dev/null && echo root-powers || echo dropped", 0)); out != "dropped\n" {
		t.Errorf("privileges after the drop: %q", out)
	}

	// The image's http service answers on its published port after
	// start_service; an unknown name is a failed result, not an error.
	rpcCall(t, c, "upload_file", id, "index.html", []byte("served-by-runner\n"))
	hostPort := 0
	for _, p := range info["service_ports"].([]any) {
		sp := p.(map[string]any)
		if sp["name"] == "http" {
			hp, _ := sp["host_ports"].([]any)
			if n, ok := hp[0].(int64); ok {
				hostPort = int(n)
			}
		}
	}
	if hostPort == 0 {
		t.Fatalf("no http service port in %v", info["service_ports"])
	}
	sr, _ := rpcCall(t, c, "start_service", id, "http", map[string]any{}).(map[string]any)
	if sr["status"] != "started" {
		t.Errorf("start_service http: %v", sr)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(hostPort) + "/index.html")
	if err != nil {
		t.Errorf("the started service does not answer: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "served-by-runner\n" {
			t.Errorf("service answered %q", b)
		}
	}
	if sr, _ := rpcCall(t, c, "start_service", id, "nope", map[string]any{}).(map[string]any); sr["status"] != "failed" {
		t.Errorf("start_service of an unknown name: %v", sr)
	}
	// The intrinsic services are listed, and fail to start, saying why,
	// in an image without their binaries.
	for _, name := range []string{"sshd", "ttyd"} {
		listed := slices.ContainsFunc(info["service_ports"].([]any), func(p any) bool { return p.(map[string]any)["name"] == name })
		sr, _ := rpcCall(t, c, "start_service", id, name, map[string]any{}).(map[string]any)
		if e, _ := sr["error"].(string); !listed || sr["status"] != "failed" || !strings.Contains(e, "not available in this image") {
			t.Errorf("intrinsic %s: listed %v, start_service %v", name, listed, sr)
		}
	}

	// Messages with a wrong frame count or an unknown type, straight to
	// the runner's published replin: dropped, and the runner still serves.
	zc, err := zmq.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	push, err := zc.NewSocket(zmq.PUSH)
	if err != nil {
		t.Fatal(err)
	}
	if err := push.Connect(fmt.Sprintf("tcp://127.0.0.1:%d", info["repl_in_port"])); err != nil {
		t.Fatal(err)
	}
	for _, msg := range [][]any{{"code"}, {"code", "echo a", "extra"}, {"no-such-type", "x"}, {"", ""}} {
		if _, err := push.SendMessage(msg...); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	_ = push.Close()
	_ = zc.Term()
	if out := consoleText(execCell(t, c, id, "after-junk", "query", "echo still-serving", 0)); out != "still-serving\n" {
		t.Errorf("after malformed messages: %q", out)
	}

	// A cell that floods stdout (20 MB, in records under upstream's 10 MiB
	// cap) finishes with all of it, and the agent and runner go on.
	start := time.Now()
	flood := execCell(t, c, id, "flood", "query", "head -c 20000000 /dev/zero | tr '\\0' x; echo", 0)
	if n := len(consoleText(flood)); flood["status"] != "finished" || n != 20000001 {
		t.Errorf("flood: status %v, %d bytes of stdout", flood["status"], n)
	}
	fmt.Printf("a cell printing 20 MB: %v\n", time.Since(start).Round(time.Millisecond))
	if out := consoleText(execCell(t, c, id, "after-flood", "query", "echo ok", 0)); out != "ok\n" {
		t.Errorf("after the flood: %q", out)
	}

	// A runner that dies ends the kernel: kernel_terminated(self-terminated).
	pid := runnerPID(t, id)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	term := waitEvent(t, stream, "kernel_terminated", func(args []any) bool { return args[0] == id })
	if r, _ := events.KernelReasonOf(term[2]); r != events.ReasonSelfTerminated {
		t.Errorf("a killed runner: kernel_terminated reason %#v", term[2])
	}
	if _, err := rpcCallErr(t, c, "execute", id, id, int64(2), "gone", "query", "echo x", map[string]any{}, 0.0); err == nil {
		t.Error("execute on a kernel whose runner died succeeded")
	}
}

// runnerPID finds the kernel runner of a kernel among the host's
// processes: bai-krunner in that kernel's cgroup.
func runnerPID(t *testing.T, kernelID string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !strings.HasPrefix(string(cmdline), "/opt/kernel/bai-krunner\x00") {
			continue
		}
		cg, err := os.ReadFile(filepath.Join(p, "cgroup"))
		if err != nil || !strings.Contains(string(cg), kernelID) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(p))
		return pid
	}
	t.Fatalf("no bai-krunner process of kernel %s", kernelID)
	return 0
}

// checkPythonRunner checks input() and interrupt on a Python runner kernel.
func checkPythonRunner(t *testing.T, addr, id string) {
	c, err := callosum.Dial(t.Context(), addr, callosum.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// input() waits for the user's text, then the cell goes on.
	res := execCell(t, c, id, "in1", "query", "name = input('who? ')\nprint('hi', name)", 0)
	if res["status"] != "waiting-input" {
		t.Fatalf("input(): status %v, console %v", res["status"], res["console"])
	}
	res = execCell(t, c, id, "in1", "input", "bob", 0)
	if res["status"] != "finished" || !strings.Contains(consoleText(res), "hi bob") {
		t.Errorf("after the input: status %v, console %q", res["status"], consoleText(res))
	}

	// while True: pass is interrupted within a second; the state stays.
	res = execCell(t, c, id, "spin", "query", "y = 5\nwhile True: pass", 0.3)
	if res["status"] != "continued" {
		t.Fatalf("a busy loop: status %v", res["status"])
	}
	start := time.Now()
	rpcCall(t, c, "interrupt_kernel", id)
	for {
		res = execCell(t, c, id, "spin", "continue", "", 0.2)
		if res["status"] == "finished" {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("not interrupted after %v: %v", time.Since(start), res["status"])
		}
	}
	took := time.Since(start)
	if took > time.Second {
		t.Errorf("interrupt took %v, want under 1 s", took)
	}
	fmt.Printf("interrupt of while True: pass until finished: %v\n", took.Round(time.Millisecond))
	if out := consoleText(execCell(t, c, id, "next", "query", "print(y * 2)", 0)); out != "10\n" {
		t.Errorf("the cell after the interrupt printed %q", out)
	}
}

// timeRunnerStarts creates n busybox runner kernels one after another as
// the manager does and describes the create_kernels → kernel_started
// time as p50 and max: the call returns right after kernel_started is
// sent, which waits for the runner's readiness.
func timeRunnerStarts(t *testing.T, addr string, n int) string {
	c, err := callosum.Dial(t.Context(), addr, callosum.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var times []time.Duration
	for range n {
		spec := createSpec{image: "bai/busybox:1.0", kernelID: newUUID4().String(), cpu: "1", mem: 128 << 20, net: "bridge"}
		start := time.Now()
		rpcCall(t, c, "create_kernels", createPayload(spec, addr)...)
		times = append(times, time.Since(start))
		rpcCall(t, c, "destroy_kernel", spec.kernelID, spec.kernelID, "user-requested")
	}
	slices.Sort(times)
	return fmt.Sprintf("p50 %v, max %v over %d kernels", times[n/2].Round(100*time.Microsecond), times[n-1].Round(100*time.Microsecond), n)
}
