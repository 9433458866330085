// Command vminit is PID 1 of the VM lane's guest (see package vm).
//
// Stage 1 moves the initramfs into a tmpfs root (pivot_root fails on the
// initramfs rootfs, and container runtimes need it): it copies / into a
// tmpfs, moves that onto /, chroots and re-executes itself with
// VMINIT_STAGE2=1. Stage 2 mounts proc, sysfs, devtmpfs, devpts, /dev/shm,
// a 256m tmpfs /tmp, /run and cgroup2 with nsdelegate at /sys/fs/cgroup,
// loads the modules listed in /modules.order, runs the run list and powers
// off through the isa-debug-exit port with the guest status.
//
// It refuses to run unless it is PID 1, so that starting it by mistake on a
// host changes nothing. It never waits forever on its own: every failure
// prints a line and exits the VM with one of vm's GuestStatus codes.
//
// Build it static: CGO_ENABLED=0 go build ./test/vm/vminit.
package main

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/baiagent/agent/test/vm"
)

// stage2Env marks the re-executed vminit that runs on the tmpfs root.
const stage2Env = "VMINIT_STAGE2"

// guestPath is the PATH of every command.
const guestPath = "/bin:/sbin:/usr/bin:/usr/sbin"

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vminit: not PID 1; it runs only as init of the VM lane's guest, refusing to touch this system")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // the console has no use for the guest clock
			}
			return a
		},
	})).With("component", "vminit")
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic", "value", fmt.Sprint(r), "stack", string(debug.Stack()))
			exitVM(log, vm.GuestStatusPanic)
		}
	}()
	if os.Getenv(stage2Env) != "1" {
		err := switchRoot()
		log.Error("switch to a tmpfs root", "err", err) // switchRoot returns only on failure
		exitVM(log, vm.GuestStatusSetup)
	}
	if err := mountAll(); err != nil {
		log.Error("mount", "err", err)
		exitVM(log, vm.GuestStatusSetup)
	}
	configure(log)
	if err := loadModules(log); err != nil {
		log.Error("load modules", "err", err)
		exitVM(log, vm.GuestStatusModules)
	}
	data, err := os.ReadFile(vm.GuestRunListPath)
	if err != nil {
		log.Error("read run list", "err", err)
		exitVM(log, vm.GuestStatusRunList)
	}
	rl, err := vm.ParseRunList(data)
	if err != nil {
		log.Error("read run list", "err", err)
		exitVM(log, vm.GuestStatusRunList)
	}
	exitVM(log, runAll(log, rl))
}

// switchRoot copies the initramfs into a tmpfs, makes it the root and
// re-executes /init there. It returns only on failure.
func switchRoot() error {
	const newRoot = "/newroot"
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", newRoot, err)
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", newRoot, err)
	}
	skip := map[string]bool{newRoot: true, "/proc": true, "/sys": true, "/dev": true}
	if err := moveTree("/", newRoot, skip); err != nil {
		return err
	}
	for _, d := range []string{"proc", "sys", "dev"} {
		if err := os.MkdirAll(filepath.Join(newRoot, d), 0o755); err != nil {
			return fmt.Errorf("create /%s: %w", d, err)
		}
	}
	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", newRoot, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s onto /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	env := append(os.Environ(), stage2Env+"=1")
	return fmt.Errorf("re-exec /init: %w", unix.Exec("/init", os.Args, env))
}

// moveTree copies the tree at src into dst (an empty directory) and
// deletes the copied files from src to free their memory. Paths in skip
// are left out with everything under them.
func moveTree(src, dst string, skip map[string]bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copy root: %w", err)
		}
		if skip[p] {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("copy root: %w", err)
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("copy root: %w", err)
		}
		switch {
		case d.IsDir():
			if rel == "." {
				return nil
			}
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return fmt.Errorf("copy root: %w", err)
			}
			return os.Chmod(target, info.Mode()&(fs.ModePerm|fs.ModeSticky|fs.ModeSetuid|fs.ModeSetgid))
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("copy root: %w", err)
			}
			if err := os.Symlink(link, target); err != nil {
				return fmt.Errorf("copy root: %w", err)
			}
		case info.Mode().IsRegular():
			if err := copyFile(p, target, info.Mode().Perm()); err != nil {
				return fmt.Errorf("copy root: %w", err)
			}
		default:
			return nil // device nodes and the like: the new /dev is a devtmpfs
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("copy root: free %s: %w", p, err)
		}
		return nil
	})
}

// copyFile copies the regular file src to the new file dst.
func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// mountAll mounts the guest's filesystems.
func mountAll() error {
	const (
		nosuid = unix.MS_NOSUID
		nodev  = unix.MS_NODEV
		noexec = unix.MS_NOEXEC
	)
	mounts := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"proc", "/proc", "proc", nosuid | nodev | noexec, ""},
		{"sysfs", "/sys", "sysfs", nosuid | nodev | noexec, ""},
		{"devtmpfs", "/dev", "devtmpfs", nosuid, "mode=0755"},
		{"devpts", "/dev/pts", "devpts", nosuid | noexec, "ptmxmode=0666,mode=0620"},
		{"tmpfs", "/dev/shm", "tmpfs", nosuid | nodev, "mode=1777"},
		{"tmpfs", "/tmp", "tmpfs", nosuid | nodev, "mode=1777,size=256m"},
		{"tmpfs", "/run", "tmpfs", nosuid | nodev, "mode=0755"},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", nosuid | nodev | noexec, "nsdelegate"},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", m.target, err)
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	links := map[string]string{"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"}
	for name, target := range links {
		if err := os.Symlink(target, name); err != nil && !os.IsExist(err) {
			return fmt.Errorf("link %s: %w", name, err)
		}
	}
	return nil
}

// configure does the optional setup: the hostname and the loopback
// interface. Failures are only logged.
func configure(log *slog.Logger) {
	if err := unix.Sethostname([]byte("vm")); err != nil {
		log.Warn("set hostname", "err", err)
	}
	if err := loopbackUp(); err != nil {
		log.Warn("bring lo up", "err", err)
	}
}

// loopbackUp sets the IFF_UP flag of lo.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// loadModules loads the modules named in the modules order file, if any.
func loadModules(log *slog.Logger) error {
	data, err := os.ReadFile(vm.GuestModulesOrderPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		p := strings.TrimSpace(line)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if err := loadModule(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		log.Info("module loaded", "path", p)
	}
	return nil
}

// loadModule loads one module file; an already loaded module is fine.
func loadModule(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		if strings.HasSuffix(p, ext) {
			flags |= unix.MODULE_INIT_COMPRESSED_FILE
		}
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil && err != unix.EEXIST {
		return fmt.Errorf("finit_module: %w", err)
	}
	return nil
}

// baseEnv is vminit's environment (the kernel's, with the command line's
// KEY=VAL words) without the stage marker, plus the guest defaults.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, stage2Env+"=") {
			env = append(env, kv)
		}
	}
	for _, kv := range []string{"PATH=" + guestPath, "HOME=/root", "TMPDIR=/tmp", vm.GuestEnv + "=1"} {
		env = setEnv(env, kv)
	}
	return env
}

// setEnv sets kv (KEY=VAL) in env, replacing an earlier value of KEY.
func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	out := env[:0:0]
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k != key {
			out = append(out, e)
		}
	}
	return append(out, kv)
}

// runAll runs the run list in order and returns the guest status: 0 when
// every command exited 0, else the first failure's.
func runAll(log *slog.Logger, rl vm.RunList) int {
	env := baseEnv()
	result := 0
	for _, c := range rl.Commands {
		status := runOne(log, c, env)
		if status != 0 && result == 0 {
			result = status
		}
	}
	return result
}

// runOne runs a command between the RUN and EXIT markers, then kills and
// reaps whatever it left behind. It returns the guest status for it.
func runOne(log *slog.Logger, c vm.Command, base []string) int {
	fmt.Printf("%s %s\n", vm.RunMarker, c.Name)
	start := time.Now()
	status, err := execWait(c, base)
	secs := time.Since(start).Seconds()
	guestStatus := vm.ClampStatus(status)
	if err != nil {
		log.Error("run command", "name", c.Name, "args", c.Args, "err", err)
		guestStatus = vm.GuestStatusStart
		status = guestStatus
	}
	reapLeftovers(log)
	fmt.Printf("\n%s %s %d (%.2fs)\n", vm.ExitMarker, c.Name, status, secs)
	return guestStatus
}

// execWait starts the command with the console as stdio and waits for it,
// reaping any other child (orphans re-parent to PID 1) meanwhile. It
// returns the exit status, 128+n for a death by signal n.
func execWait(c vm.Command, base []string) (int, error) {
	dir := c.Dir
	if dir == "" {
		dir = "/tmp"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("create working directory: %w", err)
	}
	env := base
	for _, kv := range c.Env {
		env = setEnv(env, kv)
	}
	prog := c.Args[0]
	if !strings.Contains(prog, "/") {
		for _, d := range filepath.SplitList(guestPath) {
			if _, err := os.Stat(filepath.Join(d, prog)); err == nil {
				prog = filepath.Join(d, prog)
				break
			}
		}
	}
	pid, err := syscall.ForkExec(prog, c.Args, &syscall.ProcAttr{Dir: dir, Env: env, Files: []uintptr{0, 1, 2}})
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", prog, err)
	}
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for %s: %w", prog, err)
		}
		if got != pid {
			continue // an orphan
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), nil
		case ws.Signaled():
			return 128 + int(ws.Signal()), nil
		}
	}
}

// reapLeftovers kills every process but PID 1 and reaps them, waiting at
// most five seconds.
func reapLeftovers(log *slog.Logger) {
	if err := unix.Kill(-1, unix.SIGKILL); err != nil && err != unix.ESRCH {
		log.Warn("kill leftover processes", "err", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
		case err != nil: // ECHILD: none left
			return
		case pid == 0:
			time.Sleep(10 * time.Millisecond)
		}
	}
	log.Warn("leftover processes did not exit within 5s")
}

// exitVM prints the PoweroffMarker, writes status to the isa-debug-exit
// port (QEMU exits with status<<1|1) and, should QEMU still run, powers
// off. As a last resort it exits, which panics the kernel; with panic=-1
// and -no-reboot that ends QEMU too, without a debug-exit status.
func exitVM(log *slog.Logger, status int) {
	fmt.Printf("\n%s %d\n", vm.PoweroffMarker, status)
	unix.Sync()
	// QEMU exits at the port write, so the serial line must be empty by
	// then or the console's last lines (the marker among them) are lost.
	drainConsole()
	if err := writeDebugExit(byte(status)); err != nil {
		log.Error("write the debug-exit port", "err", err)
	}
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off", "err", err)
	}
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	os.Exit(1)
}

// drainConsole waits until the console has sent everything written to it
// (tcdrain on stdout and stderr); errors are ignored, there is no console
// left to report them on.
func drainConsole() {
	for _, fd := range []int{1, 2} {
		_ = unix.IoctlSetInt(fd, unix.TCSBRK, 1)
	}
}

// writeDebugExit writes b to I/O port 0xf4 through /dev/port, mounting a
// devtmpfs of its own when /dev is not mounted yet.
func writeDebugExit(b byte) error {
	const port = 0xf4
	f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0)
	if err != nil {
		const dir = "/.vminit-dev"
		if mkErr := os.MkdirAll(dir, 0o755); mkErr != nil {
			return fmt.Errorf("open /dev/port: %w; create %s: %w", err, dir, mkErr)
		}
		if mErr := unix.Mount("devtmpfs", dir, "devtmpfs", 0, ""); mErr != nil {
			return fmt.Errorf("open /dev/port: %w; mount devtmpfs: %w", err, mErr)
		}
		if f, err = os.OpenFile(dir+"/port", os.O_WRONLY, 0); err != nil {
			return fmt.Errorf("open port device: %w", err)
		}
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{b}, port); err != nil {
		return fmt.Errorf("write port %#x: %w", port, err)
	}
	return nil
}
