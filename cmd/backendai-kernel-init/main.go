// Command backendai-kernel-init is PID 1 of every kernel. The agent
// bind-mounts it read-only at /opt/kernel/bai-init and starts kernels as
//
//	bai-init --status-dir DIR [--notify-fd N] [--grace 2s] [--signal-group] [--ldconfig] -- CMD [ARG...]
//
// It starts CMD as its only direct child, forwards signals to it, reaps
// every process reparented to it, and records how CMD ended in DIR, a
// host-visible directory (/opt/kernel/status) that the agent reads even
// when it is not, or no longer, the container's parent.
//
// # Status files
//
// Both files are JSON objects followed by a newline, written to NAME.tmp
// in DIR and renamed over NAME: a reader sees a whole file or none. They
// are not fsynced: DIR lives in the agent's volatile state (/run), and a
// host crash that could lose them leaves no kernel running anyway. Stale
// files from an earlier run are removed before CMD starts.
//
//	started.json  {"pid": 12, "started_at": "2025-01-02T03:04:05.123456789Z"}
//	exit.json     {"exit_code": 137, "signal": "SIGKILL", "core_dumped": false,
//	               "finished_at": "2025-01-02T03:04:06.5Z", "error": ""}
//
// pid is CMD's pid in the kernel's pid namespace. Times are RFC 3339 with
// nanoseconds, in UTC. exit.json is written as soon as CMD has been reaped,
// before the remaining processes are stopped. started.json is written only
// when CMD started; when it could not start, exit.json alone is written,
// with a non-empty error.
//
// # Start notification
//
// With --notify-fd N, bai-init writes "ok\n" to descriptor N once CMD runs
// and started.json is written, then closes it; when CMD could not start it
// closes N without writing (after exit.json). The agent passes a pipe
// there and waits on it, not on the file. N is close-on-exec from the
// start, so CMD never inherits it; a descriptor that is not open is
// ignored.
//
// # Exit codes
//
// exit_code, and bai-init's own exit status, are:
//
//	n        CMD exited with status n
//	128+n    CMD was killed by signal n ("signal" names it: "SIGKILL"; a
//	         signal without a name is "SIG<n>"; "core_dumped" is set when
//	         the kernel wrote a core)
//	127      CMD was not found (no such file, or not in $PATH)
//	126      CMD was found but could not be started (not executable, a
//	         directory, or any other failure to start it)
//	2        bad command line: no status files are written
//
// # Process groups and signals
//
// CMD runs in a process group of its own; when bai-init's stdin is its
// controlling terminal and bai-init is in the foreground, CMD's group is
// made the terminal's foreground group, so that a TTY kernel gets ^C and
// job control as a shell would give them. SIGINT, SIGTERM, SIGHUP,
// SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT and SIGTSTP sent to
// bai-init go to CMD alone, as `docker stop` does with a container's
// PID 1: Backend.AI's entrypoint.sh execs su-exec, which execs the
// runner, so CMD is the runner, and it shuts its own children down. With
// --signal-group they go to CMD's whole process group instead.
//
// # After CMD exits
//
// Once exit.json is written, every remaining process gets SIGTERM; those
// still there after --grace get SIGKILL. As PID 1 that is kill(-1), which
// reaches every process of the namespace (those entered from outside
// included; the kernel kills whatever is left when PID 1 exits). Not as
// PID 1 (tests), bai-init makes itself a child subreaper and signals its
// own children, again and again, since orphans keep being reparented to
// it. It exits when it has no child left, or a second after SIGKILL at
// the latest.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Names of the status files in the status directory.
const (
	startedFile = "started.json"
	exitFile    = "exit.json"
)

// Exit codes of bai-init's own.
const (
	exitUsage         = 2
	exitNotExecutable = 126
	exitNotFound      = 127
)

// killWait is how long bai-init waits for processes to die after SIGKILL.
const killWait = time.Second

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

// options is the parsed command line.
type options struct {
	statusDir string
	notifyFD  int
	grace     time.Duration
	group     bool
	ldconfig  bool
	argv      []string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is bai-init; it returns the exit status.
func run(args []string, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return exitUsage // parseArgs has said why
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "bai-init: "+format+"\n", a...)
	}
	notify := openNotify(o.notifyFD)
	pid1 := os.Getpid() == 1
	if !pid1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			logf("become a child subreaper: %v", err)
		}
	}
	// Registered before the start, so that nothing sent in between is lost.
	// A SIGCHLD is a hint to reap everything: one pending is enough.
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, unix.SIGCHLD)
	fwd := make(chan os.Signal, 32)
	signal.Notify(fwd, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT,
		unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH, unix.SIGCONT, unix.SIGTSTP)
	// Caught (and dropped), not ignored: a write to a closed stderr then
	// fails instead of killing bai-init, and CMD still gets SIGPIPE's
	// default action, which an ignored signal would not give it.
	signal.Notify(make(chan os.Signal, 1), unix.SIGPIPE)

	for _, name := range []string{startedFile, exitFile} {
		if err := os.Remove(filepath.Join(o.statusDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logf("remove stale status: %v", err)
		}
	}
	if o.ldconfig {
		runLDConfig(logf)
	}
	cmd := exec.Command(o.argv[0], o.argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: inForeground(), Ctty: 0}
	if err := cmd.Start(); err != nil {
		st := exitStatus{ExitCode: startFailureCode(err), FinishedAt: now(), Error: err.Error()}
		logf("start command: %v", err)
		if err := writeJSON(o.statusDir, exitFile, st); err != nil {
			logf("write status: %v", err)
		}
		notify.done(false)
		return st.ExitCode
	}
	pid := cmd.Process.Pid
	if err := writeJSON(o.statusDir, startedFile, started{PID: pid, StartedAt: now()}); err != nil {
		logf("write status: %v", err)
	}
	notify.done(true)

	var ws unix.WaitStatus
	for done := false; !done; {
		select {
		case <-chld:
			ws, done, _ = reap(pid)
		case sig := <-fwd:
			// pid cannot be reused here: only this loop reaps it.
			target := pid
			if o.group {
				target = -pid
			}
			if err := unix.Kill(target, sig.(syscall.Signal)); err != nil && !errors.Is(err, unix.ESRCH) {
				logf("forward %v: %v", sig, err)
			}
		}
	}
	st := statusOf(ws)
	if err := writeJSON(o.statusDir, exitFile, st); err != nil {
		logf("write status: %v", err)
	}
	terminateRest(pid1, o.grace, chld, logf)
	return st.ExitCode
}

// ldconfigPaths are where images keep ldconfig (Debian/Ubuntu's real one
// first: /sbin/ldconfig may be a wrapper script there).
var ldconfigPaths = []string{"/sbin/ldconfig.real", "/sbin/ldconfig", "/usr/sbin/ldconfig"}

// runLDConfig rebuilds the image's ld cache, so that libraries the agent
// bound in (the GPU driver's libcuda.so.<version>) resolve by SONAME, and
// makes their SONAME links. An image without ldconfig is left as it is:
// the agent created the links already.
func runLDConfig(logf func(string, ...any)) {
	for _, p := range ldconfigPaths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if out, err := exec.Command(p).CombinedOutput(); err != nil {
			logf("ldconfig: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return
	}
}

// parseArgs parses bai-init's command line; it prints what is wrong with it.
func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	flags := flag.NewFlagSet("bai-init", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: bai-init --status-dir DIR [--notify-fd N] [--grace DURATION] [--signal-group] -- CMD [ARG...]")
		flags.PrintDefaults()
	}
	flags.StringVar(&o.statusDir, "status-dir", "", "directory for started.json and exit.json (required)")
	flags.IntVar(&o.notifyFD, "notify-fd", -1, "descriptor to write \"ok\" to once CMD runs, closed either way (-1: none)")
	flags.DurationVar(&o.grace, "grace", 2*time.Second, "time between SIGTERM and SIGKILL for the processes left after CMD exits")
	flags.BoolVar(&o.group, "signal-group", false, "forward signals to CMD's process group, not to CMD alone")
	flags.BoolVar(&o.ldconfig, "ldconfig", false, "run the image's ldconfig before CMD (libraries bound into the kernel, e.g. the GPU driver's)")
	err := flags.Parse(args)
	if err != nil {
		return o, err
	}
	o.argv = flags.Args()
	switch {
	case o.statusDir == "":
		err = errors.New("--status-dir is required")
	case len(o.argv) == 0:
		err = errors.New("no command given")
	case o.grace < 0:
		err = fmt.Errorf("negative --grace %v", o.grace)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bai-init: %v\n", err)
		flags.Usage()
	}
	return o, err
}

// notifier is the --notify-fd descriptor; nil when there is none.
type notifier struct{ fd int }

// openNotify takes descriptor fd (-1: none) and makes it close-on-exec;
// a descriptor that is not open counts as none.
func openNotify(fd int) *notifier {
	if fd < 0 {
		return nil
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return nil
	}
	return &notifier{fd: fd}
}

// done says "ok" when the command started, and closes the descriptor.
func (n *notifier) done(ok bool) {
	if n == nil {
		return
	}
	if ok {
		_, _ = unix.Write(n.fd, []byte("ok\n"))
	}
	_ = unix.Close(n.fd)
}

// inForeground reports whether stdin is bai-init's controlling terminal
// with bai-init's process group in the foreground.
func inForeground() bool {
	pgrp, err := unix.IoctlGetInt(0, unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}

// startFailureCode is the exit code for a command that could not start.
func startFailureCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return exitNotFound
	}
	return exitNotExecutable
}

// statusOf turns the wait status of CMD into exit.json.
func statusOf(ws unix.WaitStatus) exitStatus {
	st := exitStatus{ExitCode: ws.ExitStatus(), FinishedAt: now()}
	if ws.Signaled() {
		sig := ws.Signal()
		st.ExitCode = 128 + int(sig)
		st.Signal = unix.SignalName(sig)
		if st.Signal == "" {
			st.Signal = "SIG" + strconv.Itoa(int(sig))
		}
		st.CoreDumped = ws.CoreDump()
	}
	return st
}

// reap collects every exited child without blocking. It returns pid's
// wait status if pid was among them, and whether no child is left.
func reap(pid int) (ws unix.WaitStatus, found, none bool) {
	for {
		var s unix.WaitStatus
		p, err := unix.Wait4(-1, &s, unix.WNOHANG|unix.WALL, nil)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil: // ECHILD
			return ws, found, true
		case p <= 0:
			return ws, found, false
		case p == pid:
			ws, found = s, true
		}
	}
}

// terminateRest stops and reaps the processes left once CMD has exited:
// SIGTERM, then SIGKILL after grace. It returns when no child is left, or
// killWait after SIGKILL.
func terminateRest(pid1 bool, grace time.Duration, chld <-chan os.Signal, logf func(string, ...any)) {
	termed := map[int]bool{}
	send := func(sig unix.Signal) {
		if pid1 {
			_ = unix.Kill(-1, sig) // every process but this one; ESRCH when none
			return
		}
		// Orphans keep being reparented here: signal the new ones too.
		for _, p := range childrenOf(os.Getpid()) {
			if sig == unix.SIGTERM && termed[p] {
				continue
			}
			termed[p] = true
			_ = unix.Kill(p, sig) // a zombie or a process that just exited: fine
		}
	}
	send(unix.SIGTERM)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	killAt := time.Now().Add(grace)
	for {
		if _, _, none := reap(0); none {
			return
		}
		switch t := time.Now(); {
		case t.After(killAt.Add(killWait)):
			logf("processes left %v after SIGKILL; exiting anyway", killWait)
			return
		case !t.Before(killAt):
			send(unix.SIGKILL)
		case !pid1:
			send(unix.SIGTERM)
		}
		select {
		case <-chld:
		case <-tick.C:
		}
	}
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

// writeJSON writes v to dir/name atomically: a temporary file in dir,
// renamed over name.
func writeJSON(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	tmp := filepath.Join(dir, name+".tmp")
	err = os.WriteFile(tmp, append(b, '\n'), 0o644)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// now is the current time in UTC, as the status files carry it.
func now() time.Time { return time.Now().UTC() }
