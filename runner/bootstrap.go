package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
)

// RunBootstrap runs a bootstrap script when it exists, with its output on
// w, and returns its exit code. A missing script is skipped (0, nil).
//
// The image's /opt/container/bootstrap.sh is run directly, and only when
// executable (entrypoint.sh's rule); the user's /home/work/bootstrap.sh
// through /bin/sh, since users rarely chmod it (upstream's rule): say
// which with viaShell. A failing script does not stop the kernel, as
// upstream goes on after logging it.
func RunBootstrap(ctx context.Context, path string, viaShell bool, dir string, env []string, w io.Writer) (int, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return -1, fmt.Errorf("runner: bootstrap %s: %w", path, err)
	}
	if !st.Mode().IsRegular() || (!viaShell && st.Mode().Perm()&0o111 == 0) {
		return 0, nil
	}
	argv := []string{path}
	if viaShell {
		argv = []string{"/bin/sh", path}
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Run()
	code := exitCode(cmd.ProcessState, err)
	if cmd.ProcessState == nil {
		return -1, fmt.Errorf("runner: bootstrap %s: %w", path, err)
	}
	return code, nil
}
