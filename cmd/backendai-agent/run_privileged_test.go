package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/testenv"
)

// runEnv is a config with every path in a temporary directory, the
// busybox fixture imported, and the kernel init built.
func runEnv(t testing.TB) (conf string, env []string) {
	t.Helper()
	if err := os.MkdirAll("/var/tmp", 0o1777); err != nil { // the VM guest has none
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "run-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// The VM lane's guest has no Go toolchain: it names its kernel init,
	// and kernels start there through the agent (test) binary itself.
	initBin := os.Getenv(envKernelInit)
	var cinit string
	if initBin == "" {
		initBin = filepath.Join(dir, "backendai-kernel-init")
		if err := testenv.BuildKernelInit(initBin); err != nil {
			t.Fatal(err)
		}
		cinit = filepath.Join(dir, "backendai-container-init")
		build := exec.Command("go", "build", "-tags", "seccomp", "-ldflags", "-s -w", "-o", cinit, "github.com/baiagent/agent/cmd/backendai-container-init")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build container init: %v\n%s", err, out)
		}
	}
	img, err := fixtures.Busybox(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "busybox.tar")
	if err := fixtures.WriteDockerSave(img, archive, "bai/busybox:1.0"); err != nil {
		t.Fatal(err)
	}
	conf = filepath.Join(dir, "agent.toml")
	writeFile(t, conf, fmt.Sprintf(`[agent]
backend = "docker"
var-base-path = %q
ipc-base-path = %q
[container]
scratch-root = %q
[logging]
drivers = ["console"]
`, filepath.Join(dir, "var"), filepath.Join(dir, "run", "ipc"), filepath.Join(dir, "scratches")))
	env = []string{envKernelInit + "=" + initBin}
	if cinit != "" {
		// Bridge and host kernels of `run` go through the kernel runner.
		env = append(env, envContainerInit+"="+cinit, "BACKENDAI_KRUNNER="+buildTool(t, "backendai-krunner", false))
	}
	cmd := agentCmd(t, "image", "import", archive, "-f", conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for _, base := range []string{"/sys/fs/cgroup"} {
			matches, _ := filepath.Glob(filepath.Join(base, "*", "backendai"))
			for _, m := range append(matches, filepath.Join(base, "backendai")) {
				_ = os.Remove(m) // only when empty: other kernels may live there
			}
		}
	})
	return conf, env
}

// TestPrivilegedRunCommand is the acceptance test of `run`: it prints the
// command's output and exits with its exit code.
func TestPrivilegedRunCommand(t *testing.T) {
	testenv.RequirePrivileged(t)
	conf, env := runEnv(t)
	cmd := agentCmd(t, "run", "-f", conf, "--cpu", "1", "--mem", "64M", "bai/busybox:1.0", "--", "sh", "-c", "echo hi; exit 3")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("run exited %v, want 3\nstdout: %q\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if stdout.String() != "hi\n" {
		t.Fatalf("stdout = %q, want \"hi\\n\"\nstderr: %s", stdout.String(), stderr.String())
	}
	// Nothing is left: no kernel state, scratch or log.
	for _, pattern := range []string{"run/runtime/kernels/*.json", "scratches/*", "var/logs/kernels/*"} {
		m, _ := filepath.Glob(filepath.Join(filepath.Dir(conf), pattern))
		if len(m) > 0 {
			t.Errorf("left behind: %v", m)
		}
	}
}

// TestPrivilegedRunHelper builds the agent as it is installed
// (backendai-agent and backendai-agent-run side by side): its `run` goes
// through backendai-agent-run, gives the command's output and exit code,
// and stays in the full binary with BACKENDAI_RUN_HELPER=off or without
// the helper.
func TestPrivilegedRunHelper(t *testing.T) {
	testenv.RequirePrivileged(t)
	conf, env := runEnv(t)
	agent := installedAgent(t)
	runOnce := func(extraEnv ...string) string {
		t.Helper()
		cmd := exec.Command(agent, "run", "-f", conf, "--log-level", "DEBUG", "bai/busybox:1.0", "--", "sh", "-c", "echo hi; exit 3")
		cmd.Env = append(append(os.Environ(), env...), extraEnv...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 3 || stdout.String() != "hi\n" {
			t.Fatalf("run: %v, stdout %q, want hi and exit 3\nstderr: %s", err, stdout.String(), stderr.String())
		}
		return stderr.String()
	}
	if log := runOnce(); !strings.Contains(log, "variant=slimrun") {
		t.Errorf("run did not go through backendai-agent-run:\n%s", log)
	}
	if log := runOnce("BACKENDAI_RUN_HELPER=off"); !strings.Contains(log, "variant=full") {
		t.Errorf("BACKENDAI_RUN_HELPER=off: run did not stay in backendai-agent:\n%s", log)
	}
	if err := os.Remove(agent + "-run"); err != nil {
		t.Fatal(err)
	}
	if log := runOnce(); !strings.Contains(log, "variant=full") {
		t.Errorf("without the helper: run did not stay in backendai-agent:\n%s", log)
	}
}

// TestPrivilegedRunRefusesWhileStateHeld: `run` refuses to share the
// runtime state with another agent process.
func TestPrivilegedRunRefusesWhileStateHeld(t *testing.T) {
	testenv.RequirePrivileged(t)
	conf, env := runEnv(t)
	lock, err := lockState(filepath.Join(filepath.Dir(conf), "run", "runtime"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.release()
	cmd := agentCmd(t, "run", "-f", conf, "bai/busybox:1.0", "--", "true")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another backendai-agent") {
		t.Fatalf("run with the state held: %v\n%s", err, out)
	}
}

// installedAgent builds the agent as `make build` does, backendai-agent
// and backendai-agent-run side by side, and returns the path of
// backendai-agent.
func installedAgent(t testing.TB) string {
	t.Helper()
	agent := filepath.Join(t.TempDir(), "backendai-agent")
	for _, v := range []struct{ tags, out string }{{"seccomp", agent}, {"seccomp,slimrun", agent + "-run"}} {
		build := exec.Command("go", "build", "-tags", v.tags, "-o", v.out, "github.com/baiagent/agent/cmd/backendai-agent")
		build.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", v.out, err, out)
		}
	}
	return agent
}
