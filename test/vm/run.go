package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// QEMU is the emulator that Run starts by default.
const QEMU = "qemu-system-x86_64"

// DefaultTimeout bounds a VM run when RunOptions.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// BaseKernelArgs are the kernel command line words of every run.
// tsc_early_khz is needed under TCG: without it about one boot in eight
// hangs at "tsc: Marking TSC unstable due to could not calculate TSC khz".
// panic=-1 with QEMU's -no-reboot turns a guest panic into a QEMU exit.
func BaseKernelArgs() []string {
	return []string{"console=ttyS0", "quiet", "panic=-1", "cgroup_no_v1=all", "tsc_early_khz=2300000"}
}

// ErrNoDebugExit means the guest never reported a status through the
// debug-exit device: it crashed, panicked, powered off another way, QEMU
// failed, or the run timed out.
var ErrNoDebugExit = errors.New("no debug-exit from the guest")

// RunOptions configure one VM boot.
type RunOptions struct {
	// Kernel is the host path of the uncompressed vmlinux (see Kernel).
	Kernel string
	// Initrd is the host path of the initramfs (see Initramfs).
	Initrd string
	// QEMU is the emulator binary; "" means QEMU from PATH.
	QEMU string
	// MemoryMiB is the guest memory; 0 means 1024.
	MemoryMiB int
	// CPUs is the number of guest CPUs; 0 means 2.
	CPUs int
	// KernelArgs are appended to BaseKernelArgs(). KEY=VAL words that the
	// kernel does not know reach vminit, and through it every command, as
	// environment variables.
	KernelArgs []string
	// Timeout bounds the run; 0 means DefaultTimeout.
	Timeout time.Duration
	// Console, if set, receives the guest console as it comes (QEMU's
	// stdout, carriage returns removed). Writes come from one goroutine.
	Console io.Writer
}

// Result is the outcome of a VM boot.
type Result struct {
	// Exited reports that the guest wrote its status to the debug-exit
	// port (and printed the PoweroffMarker with the same value).
	Exited bool
	// Status is the guest status when Exited; see the package doc.
	Status int
	// TimedOut reports that Run killed QEMU at the deadline.
	TimedOut bool
	// QEMUExitCode is QEMU's own exit status (-1 if it was killed).
	QEMUExitCode int
	// Console is the guest console (QEMU's stdout, carriage returns
	// removed).
	Console string
	// Stderr is QEMU's stderr.
	Stderr string
	// Duration is the time from starting QEMU to its exit.
	Duration time.Duration
}

// QEMUArgs returns the QEMU command line (without the program) for opts.
func QEMUArgs(opts RunOptions) []string {
	mem, cpus := opts.MemoryMiB, opts.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}
	appendArgs := append(BaseKernelArgs(), opts.KernelArgs...)
	return []string{
		"-accel", "tcg,thread=multi",
		"-cpu", "max",
		"-machine", "microvm",
		"-m", strconv.Itoa(mem),
		"-smp", strconv.Itoa(cpus),
		"-nographic", "-no-reboot",
		"-kernel", opts.Kernel,
		"-initrd", opts.Initrd,
		"-append", strings.Join(appendArgs, " "),
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
	}
}

// Run boots the guest and waits for QEMU to exit or for the timeout.
//
// The error is nil when the guest reported a status (Result.Exited), which
// may be non-zero. It wraps ErrNoDebugExit when the guest did not report
// one (crash, timeout, QEMU failure); the Result then still carries the
// console and QEMU's stderr. Other errors mean QEMU could not be started.
func Run(ctx context.Context, opts RunOptions) (Result, error) {
	if opts.Kernel == "" || opts.Initrd == "" {
		return Result{}, errors.New("run vm: kernel and initrd are required")
	}
	qemu := opts.QEMU
	if qemu == "" {
		qemu = QEMU
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var console, stderr bytes.Buffer
	out := &crlfWriter{w: &console}
	if opts.Console != nil {
		out.w = io.MultiWriter(&console, opts.Console)
	}
	cmd := exec.CommandContext(runCtx, qemu, QEMUArgs(opts)...)
	cmd.Stdout = out
	cmd.Stderr = &stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start %s: %w", qemu, err)
	}
	waitErr := cmd.Wait()
	res := Result{
		Duration:     time.Since(start),
		QEMUExitCode: cmd.ProcessState.ExitCode(),
		Console:      console.String(),
		Stderr:       stderr.String(),
		TimedOut:     errors.Is(runCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil,
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return res, fmt.Errorf("wait for %s: %w", qemu, waitErr)
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("run vm: %w", ctx.Err())
	}
	if res.TimedOut {
		return res, fmt.Errorf("%w: timed out after %v", ErrNoDebugExit, timeout)
	}
	status, ok := DecodeQEMUExit(res.QEMUExitCode)
	if !ok {
		return res, fmt.Errorf("%w: qemu exited with status %d (guest crash, panic or plain power-off)", ErrNoDebugExit, res.QEMUExitCode)
	}
	marked, found := PoweroffStatus(res.Console)
	if !found {
		return res, fmt.Errorf("%w: qemu exited with status %d but the guest printed no %q line (qemu error?): %s",
			ErrNoDebugExit, res.QEMUExitCode, PoweroffMarker, tail([]byte(res.Stderr), 500))
	}
	if marked != status {
		return res, fmt.Errorf("%w: qemu exit status %d decodes to %d but the guest printed %q %d",
			ErrNoDebugExit, res.QEMUExitCode, status, PoweroffMarker, marked)
	}
	res.Exited, res.Status = true, status
	return res, nil
}

// DecodeQEMUExit decodes QEMU's exit status under isa-debug-exit: a guest
// write of v makes QEMU exit with v<<1|1, truncated to 8 bits. An even
// status (or -1, killed) carries no guest status.
func DecodeQEMUExit(code int) (status int, ok bool) {
	if code < 0 || code&1 == 0 {
		return 0, false
	}
	return (code & 0xff) >> 1, true
}

// poweroffRE matches the PoweroffMarker line.
func poweroffRE() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(PoweroffMarker) + ` (\d+)\s*$`)
}

// PoweroffStatus returns the status of the last PoweroffMarker line of a
// console transcript.
func PoweroffStatus(console string) (int, bool) {
	m := poweroffRE().FindAllStringSubmatch(console, -1)
	if len(m) == 0 {
		return 0, false
	}
	v, err := strconv.Atoi(m[len(m)-1][1])
	if err != nil {
		return 0, false
	}
	return v, true
}

// crlfWriter drops carriage returns (the guest tty turns \n into \r\n).
type crlfWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write implements io.Writer; it reports len(p) on success.
func (c *crlfWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\r"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}
