package reexec

import (
	"fmt"
	"os"

	"github.com/opencontainers/runc/libcontainer/exeseal"
)

// Name is in the name of the memfd that the trampoline execs.
const Name = "backendai-container-init"

// Seal copies the backendai-container-init binary at path into a sealed
// memfd (as libcontainer seals its own re-exec against CVE-2019-5736), for
// runtime.Options.ContainerInit.
func Seal(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal container init: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal container init: %w", err)
	}
	sealed, err := exeseal.CloneBinary(f, fi.Size(), Name, os.TempDir())
	if err != nil {
		return nil, fmt.Errorf("seal container init %s: %w", path, err)
	}
	return sealed, nil
}
