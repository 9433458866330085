package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestContainerInitTrampoline: in libcontainer's re-exec ("<exe> init"
// with an init pipe in the environment), the agent binary execs the memfd
// named backendai-container-init that it finds among its descriptors,
// before its own runtime starts. Here the memfd holds /usr/bin/true:
// exit 0 proves the exec (the agent's own init path fails without a real
// init pipe); a memfd of another name, or no init pipe, is not exec'd.
func TestContainerInitTrampoline(t *testing.T) {
	memfd := func(name string) *os.File {
		fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), name)
		src, err := os.Open("/usr/bin/true")
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if _, err := io.Copy(f, src); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	run := func(f *os.File, initPipe bool) int {
		cmd := exec.Command(os.Args[0], "init")
		cmd.ExtraFiles = []*os.File{f}
		cmd.Env = []string{"GOMAXPROCS="}
		if initPipe {
			cmd.Env = append(cmd.Env, "_LIBCONTAINER_INITPIPE=99", "_LIBCONTAINER_SYNCPIPE=98")
		}
		err := cmd.Run()
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	if code := run(memfd("runc_cloned:backendai-container-init"), true); code != 0 {
		t.Errorf("the trampoline did not exec the container init memfd: exit %d", code)
	}
	if code := run(memfd("runc_cloned:something-else"), true); code == 0 {
		t.Error("a memfd of another name was exec'd")
	}
	if code := run(memfd("runc_cloned:backendai-container-init"), false); code == 0 {
		t.Error("exec'd without libcontainer's init pipe")
	}
}
