package kernelinit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/baiagent/agent/test/testenv"
)

// binPath is the static bai-init (init.c) that TestMain builds; these
// tests drive it from outside.
var binPath string

// Names of the status files in the status directory.
const (
	startedFile = "started.json"
	exitFile    = "exit.json"
)

// started is the content of started.json.
type started struct {
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
}

// exitStatus is the content of exit.json.
type exitStatus struct {
	ExitCode   int       `json:"exit_code"`
	Signal     string    `json:"signal"`
	CoreDumped bool      `json:"core_dumped"`
	FinishedAt time.Time `json:"finished_at"`
	Error      string    `json:"error"`
}

// childrenOf lists the processes whose parent is ppid, from /proc.
func childrenOf(ppid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte(strconv.Itoa(ppid))
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			if f := bytes.Fields(b[i+1:]); len(f) > 2 && bytes.Equal(f[1], want) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bai-init-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "bai-init")
	if err := testenv.BuildKernelInit(binPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// initProc is a running bai-init.
type initProc struct {
	cmd     *exec.Cmd
	started time.Time
	out     string // file holding its stdout and stderr
}

// startInit starts bai-init with the status directory dir, extra flags and
// the command argv. sysAttr, if not nil, is used to start it.
func startInit(t *testing.T, dir string, flags []string, sysAttr *syscall.SysProcAttr, argv ...string) *initProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a hung bai-init is killed
	t.Cleanup(cancel)
	args := append([]string{"--status-dir", dir}, flags...)
	args = append(append(args, "--"), argv...)
	cmd := exec.CommandContext(ctx, binPath, args...)
	out := filepath.Join(t.TempDir(), "output")
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysAttr
	p := &initProc{cmd: cmd, started: time.Now(), out: out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// wait waits for bai-init and returns its exit code, how long it ran and
// its output.
func (p *initProc) wait(t *testing.T) (code int, elapsed time.Duration, output string) {
	t.Helper()
	err := p.cmd.Wait()
	elapsed = time.Since(p.started)
	b, _ := os.ReadFile(p.out)
	if _, ok := errors.AsType[*exec.ExitError](err); err != nil && !ok {
		t.Fatalf("wait for bai-init: %v\n%s", err, b)
	}
	if code = p.cmd.ProcessState.ExitCode(); code < 0 {
		t.Fatalf("bai-init did not exit: %v\n%s", p.cmd.ProcessState, b)
	}
	return code, elapsed, string(b)
}

// runShell runs bai-init on `sh -c script sh args...` and waits for it.
func runShell(t *testing.T, dir string, flags []string, script string, args ...string) (int, time.Duration, string) {
	t.Helper()
	argv := append([]string{"sh", "-c", script, "sh"}, args...)
	return startInit(t, dir, flags, nil, argv...).wait(t)
}

// readStatus decodes dir/name into v, after checking that it has exactly
// the JSON fields keys.
func readStatus(t *testing.T, dir, name string, v any, keys ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatalf("%s: %v: %s", name, err, b)
	}
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s has fields %v, want %v: %s", name, got, keys, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v: %s", name, err, b)
	}
}

func readExit(t *testing.T, dir string) exitStatus {
	t.Helper()
	var st exitStatus
	readStatus(t, dir, exitFile, &st, "exit_code", "signal", "core_dumped", "finished_at", "error")
	if st.FinishedAt.IsZero() {
		t.Errorf("exit.json: no finished_at")
	}
	return st
}

func readStarted(t *testing.T, dir string) started {
	t.Helper()
	var st started
	readStatus(t, dir, startedFile, &st, "pid", "started_at")
	return st
}

// checkNoTemp fails when dir holds anything but the status files.
func checkNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != startedFile && e.Name() != exitFile {
			t.Errorf("status dir holds %s", e.Name())
		}
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// readPID waits for the file path to hold a pid and returns it.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, path, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// procState is pid's state letter ('Z' for a zombie), or 0 when pid is gone.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	if f := bytes.Fields(b[bytes.LastIndexByte(b, ')')+1:]); len(f) > 0 {
		return f[0][0]
	}
	return 0
}

// checkGone fails if pid still exists, running or as a zombie.
func checkGone(t *testing.T, pid int) {
	t.Helper()
	if s := procState(pid); s != 0 {
		t.Errorf("process %d left behind in state %c", pid, s)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// nsPIDs is the NSpid line of pid's status: its pid in each pid namespace
// it is in, outermost first.
func nsPIDs(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			var pids []int
			for _, f := range strings.Fields(rest) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("/proc/%d/status: %q", pid, line)
				}
				pids = append(pids, n)
			}
			return pids
		}
	}
	t.Fatalf("/proc/%d/status has no NSpid line", pid)
	return nil
}

func TestExitCode(t *testing.T) {
	for _, code := range []int{0, 1, 7, 255} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			dir := t.TempDir()
			got, _, out := runShell(t, dir, nil, "exit "+strconv.Itoa(code))
			if got != code {
				t.Errorf("bai-init exited %d, want %d\n%s", got, code, out)
			}
			st := readExit(t, dir)
			want := exitStatus{ExitCode: code, FinishedAt: st.FinishedAt}
			if st != want {
				t.Errorf("exit.json = %+v, want %+v", st, want)
			}
			if s := readStarted(t, dir); s.StartedAt.After(st.FinishedAt) {
				t.Errorf("started_at %v after finished_at %v", s.StartedAt, st.FinishedAt)
			}
			checkNoTemp(t, dir)
		})
	}
}

func TestSignalDeath(t *testing.T) {
	for _, tc := range []struct {
		sig  string
		code int
	}{
		{"SIGKILL", 137},
		{"SIGTERM", 143},
		{"SIGUSR1", 138},
	} {
		t.Run(tc.sig, func(t *testing.T) {
			dir := t.TempDir()
			got, _, out := runShell(t, dir, nil, "kill -"+strings.TrimPrefix(tc.sig, "SIG")+" $$")
			if got != tc.code {
				t.Errorf("bai-init exited %d, want %d\n%s", got, tc.code, out)
			}
			st := readExit(t, dir)
			want := exitStatus{ExitCode: tc.code, Signal: tc.sig, FinishedAt: st.FinishedAt}
			if st != want {
				t.Errorf("exit.json = %+v, want %+v", st, want)
			}
			checkNoTemp(t, dir)
		})
	}
}

func TestSignalForwarding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		flags  []string
		sig    syscall.Signal
		script string // creates "$1" once its trap is set
	}{
		// Without --signal-group the foreground sleep does not get the
		// signal, so it must be short for the trap to run.
		{"SIGTERM", nil, syscall.SIGTERM, `trap 'exit 42' TERM; : >"$1"; while :; do sleep 0.05; done`},
		{"SIGINT", nil, syscall.SIGINT, `trap 'exit 42' INT; : >"$1"; while :; do sleep 0.05; done`},
		{"SIGUSR1", nil, syscall.SIGUSR1, `trap 'exit 42' USR1; : >"$1"; while :; do sleep 0.05; done`},
		// With it the sleep dies too, and the trap runs at once. The
		// sleep says it is ready, so that it is there when the signal is.
		{"group", []string{"--signal-group"}, syscall.SIGTERM, `trap 'exit 42' TERM; sh -c ': >"$1"; exec sleep 60' sh "$1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ready := filepath.Join(t.TempDir(), "ready")
			p := startInit(t, dir, tc.flags, nil, "sh", "-c", tc.script, "sh", ready)
			waitFor(t, 10*time.Second, "the trap", func() bool { _, err := os.Stat(ready); return err == nil })
			if err := p.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			code, elapsed, out := p.wait(t)
			if code != 42 {
				t.Errorf("bai-init exited %d, want 42\n%s", code, out)
			}
			if st := readExit(t, dir); st.ExitCode != 42 || st.Signal != "" {
				t.Errorf("exit.json = %+v, want exit_code 42", st)
			}
			if elapsed > 10*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}

func TestStartedFile(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	if code, _, out := runShell(t, dir, nil, `echo $$ >"$1"`, pidFile); code != 0 {
		t.Fatalf("bai-init exited %d\n%s", code, out)
	}
	st := readStarted(t, dir)
	if want := readPID(t, pidFile); st.PID != want {
		t.Errorf("started.json pid = %d, want %d", st.PID, want)
	}
	if d := time.Since(st.StartedAt); st.StartedAt.Location() != time.UTC || d < 0 || d > time.Minute {
		t.Errorf("started_at = %v", st.StartedAt)
	}
	checkNoTemp(t, dir)
}

func TestStartFailure(t *testing.T) {
	tmp := t.TempDir()
	notExec := filepath.Join(tmp, "not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  string
		code int
	}{
		{"no such file", filepath.Join(tmp, "missing"), 127},
		{"not in PATH", "bai-init-test-no-such-command", 127},
		{"not executable", notExec, 126},
		{"directory", tmp, 126},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// A stale started.json from an earlier run must not survive.
			if err := os.WriteFile(filepath.Join(dir, startedFile), []byte(`{"pid":1}`), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, out := startInit(t, dir, nil, nil, tc.cmd, "arg").wait(t)
			if code != tc.code {
				t.Errorf("bai-init exited %d, want %d\n%s", code, tc.code, out)
			}
			if !strings.Contains(out, "start command") {
				t.Errorf("no error on stderr: %q", out)
			}
			st := readExit(t, dir)
			if st.ExitCode != tc.code || st.Error == "" || st.Signal != "" {
				t.Errorf("exit.json = %+v, want exit_code %d and an error", st, tc.code)
			}
			if _, err := os.Stat(filepath.Join(dir, startedFile)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("started.json after a failed start: %v", err)
			}
			checkNoTemp(t, dir)
		})
	}
}

func TestReapsOrphans(t *testing.T) {
	dir := t.TempDir()
	tmp := t.TempDir()
	orphanPID, done := filepath.Join(tmp, "orphan"), filepath.Join(tmp, "done")
	// The subshell exits at once: its child is reparented to bai-init,
	// which must reap it while the command still runs.
	script := `(sh -c 'echo $$ >"$1"' sh "$1" &); while [ ! -e "$2" ]; do sleep 0.02; done; exit 3`
	p := startInit(t, dir, nil, nil, "sh", "-c", script, "sh", orphanPID, done)
	pid := readPID(t, orphanPID)
	waitFor(t, 5*time.Second, fmt.Sprintf("orphan %d to be reaped", pid), func() bool { return procState(pid) == 0 })
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, out := p.wait(t); code != 3 {
		t.Errorf("bai-init exited %d, want 3\n%s", code, out)
	}
}

func TestTerminatesRemaining(t *testing.T) {
	for _, tc := range []struct {
		name   string
		grace  string
		script string // leaves a process behind, its pid in "$1"
		min    time.Duration
		max    time.Duration
	}{
		{"SIGTERM", "10s", `sleep 60 & echo $! >"$1"`, 0, 5 * time.Second},
		// The orphan's child is reparented to bai-init only when the
		// orphan dies: it must be signalled too.
		{"nested", "10s", `sh -c 'sleep 60 & echo $! >"$1"; wait' sh "$1" &`, 0, 5 * time.Second},
		{"SIGKILL after grace", "300ms", `sh -c 'trap "" TERM; echo $$ >"$1"; exec sleep 60' sh "$1" &`, 300 * time.Millisecond, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(t.TempDir(), "pid")
			// Exit only once the pid is written, so that nothing dies early.
			script := tc.script + "\n" + `while [ ! -s "$1" ]; do sleep 0.01; done; exit 5`
			code, elapsed, out := runShell(t, dir, []string{"--grace", tc.grace}, script, pidFile)
			if code != 5 {
				t.Errorf("bai-init exited %d, want 5\n%s", code, out)
			}
			if st := readExit(t, dir); st.ExitCode != 5 {
				t.Errorf("exit.json = %+v, want exit_code 5", st)
			}
			if elapsed < tc.min || elapsed > tc.max {
				t.Errorf("bai-init took %v, want %v to %v", elapsed, tc.min, tc.max)
			}
			checkGone(t, readPID(t, pidFile))
			checkNoTemp(t, dir)
		})
	}
}

func TestStatusWriteFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	code, _, out := runShell(t, dir, nil, "exit 7")
	if code != 7 {
		t.Errorf("bai-init exited %d, want 7\n%s", code, out)
	}
	if !strings.Contains(out, "write status") {
		t.Errorf("no error on stderr: %q", out)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"no status dir", []string{"--", "true"}, 2},
		{"no command", []string{"--status-dir", "/nonexistent", "--"}, 2},
		{"bad grace", []string{"--status-dir", "/nonexistent", "--grace", "soon", "--", "true"}, 2},
		{"unknown flag", []string{"--status-dir", "/nonexistent", "--bogus", "--", "true"}, 2},
		{"help", []string{"--help"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), binPath, tc.args...).CombinedOutput()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(string(out), "usage: bai-init") {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.code, out)
			}
		})
	}
}

// TestPrivilegedInitAsPID1 runs bai-init as PID 1 of a new pid namespace,
// where orphans are reparented to it and kill(-1) ends the rest.
func TestPrivilegedInitAsPID1(t *testing.T) {
	testenv.RequirePrivileged(t)
	dir := t.TempDir()
	tmp := t.TempDir()
	pidFile, reaped, done := filepath.Join(tmp, "pid"), filepath.Join(tmp, "reaped"), filepath.Join(tmp, "done")
	// One orphan exits soon (after saying so in "$2"), one would sleep on.
	script := `echo $$ >"$1"
(sh -c 'sleep 0.1; : >"$1"' sh "$2" &)
(sleep 60 &)
while [ ! -e "$3" ]; do sleep 0.02; done
exit 5`
	attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	p := startInit(t, dir, []string{"--grace", "10s"}, attr, "sh", "-c", script, "sh", pidFile, reaped, done)
	initPID := p.cmd.Process.Pid

	if got := nsPIDs(t, initPID); !slices.Equal(got, []int{initPID, 1}) {
		t.Fatalf("bai-init's pids (host, namespace) = %v, want [%d 1]", got, initPID)
	}
	nsPID := readPID(t, pidFile)
	waitFor(t, 10*time.Second, "the short orphan", func() bool { _, err := os.Stat(reaped); return err == nil })
	// Left as children of PID 1: the command and the long orphan, no zombie.
	var kids []string
	waitFor(t, 5*time.Second, "no zombie among PID 1's children", func() bool {
		kids = kids[:0]
		zombie := false
		for _, pid := range childrenOf(initPID) {
			s := procState(pid)
			zombie = zombie || s == 'Z'
			kids = append(kids, fmt.Sprintf("%d:%c", pid, s))
		}
		return !zombie && len(kids) == 2
	})
	t.Logf("children of PID 1 (host pid %d): %v", initPID, kids)
	if !slices.ContainsFunc(childrenOf(initPID), func(pid int) bool {
		return slices.Equal(nsPIDs(t, pid), []int{pid, nsPID})
	}) {
		t.Errorf("no child of PID 1 has pid %d in the namespace", nsPID)
	}

	stop := time.Now()
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, out := p.wait(t)
	if code != 5 {
		t.Errorf("bai-init exited %d, want 5\n%s", code, out)
	}
	// The long orphan went on SIGTERM, well before the 10 s grace.
	if d := time.Since(stop); d > 5*time.Second {
		t.Errorf("bai-init took %v to exit after the command", d)
	}
	if st := readExit(t, dir); st.ExitCode != 5 || st.Signal != "" {
		t.Errorf("exit.json = %+v, want exit_code 5", st)
	}
	if st := readStarted(t, dir); st.PID != nsPID {
		t.Errorf("started.json pid = %d, want %d (the pid inside the namespace)", st.PID, nsPID)
	}
	checkNoTemp(t, dir)
}

// TestNotifyFD: "ok" then EOF on the notify pipe once the command runs,
// the command does not inherit the descriptor, and a command that cannot
// start gives EOF alone.
func TestNotifyFD(t *testing.T) {
	for _, tc := range []struct {
		name string
		argv []string
		want string
	}{
		// The shell looks at its own descriptor 3: it must not be open.
		{"started", []string{"sh", "-c", "readlink /proc/$$/fd/3 2>/dev/null || echo closed"}, "ok\n"},
		{"not found", []string{filepath.Join(t.TempDir(), "missing")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			dir := t.TempDir()
			args := append([]string{"--status-dir", dir, "--notify-fd", "3", "--"}, tc.argv...)
			cmd := exec.Command(binPath, args...)
			var out strings.Builder
			cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = &out, &out, []*os.File{w}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			w.Close()
			if err := r.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("read notify pipe: %v", err)
			}
			_ = cmd.Wait()
			if string(got) != tc.want {
				t.Errorf("notify pipe said %q, want %q", got, tc.want)
			}
			if tc.want != "" && out.String() != "closed\n" {
				t.Errorf("the command inherited the notify descriptor: %q", out.String())
			}
		})
	}
}

// TestStatusJSONIsValid: a command name with quotes, markup, a control
// character and bytes that are not UTF-8 ends up in exit.json's error as
// valid JSON in valid UTF-8.
func TestStatusJSONIsValid(t *testing.T) {
	dir := t.TempDir()
	name := "no \"such\" <cmd>\t\xff\xfe é"
	code, _, out := startInit(t, dir, nil, nil, name).wait(t)
	if code != 127 {
		t.Errorf("bai-init exited %d, want 127\n%s", code, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, exitFile))
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) || !utf8.Valid(b) || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Fatalf("exit.json is not one valid JSON object in UTF-8 and a newline: %q", b)
	}
	st := readExit(t, dir)
	if !strings.Contains(st.Error, `no "such" <cmd>`+"\t\ufffd\ufffd é") {
		t.Errorf("error = %q", st.Error)
	}
}

// TestFlagForms: the flag syntaxes Go's flag package takes, which the
// agent and the tests use.
func TestFlagForms(t *testing.T) {
	for _, flags := range [][]string{
		{"--grace=1.5s", "--signal-group=true"},
		{"-grace", "1m30s", "-signal-group"},
		{"--grace", "0", "--notify-fd=-1", "--ldconfig=false"},
		{"--grace", "250ms500us"},
	} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			dir := t.TempDir()
			if code, _, out := runShell(t, dir, flags, "exit 4"); code != 4 {
				t.Errorf("bai-init exited %d, want 4\n%s", code, out)
			}
		})
	}
}
