package runner

import (
	_ "embed" // the Python driver ships inside the binary
	"fmt"
	"os"
	"path/filepath"
)

// driverSource is driver.py: the program of the per-kernel interpreter.
//
//go:embed driver.py
var driverSource string

// writeDriver writes driver.py into dir and returns its path. The file is
// world-readable: the interpreter may one day run as the kernel's user.
func writeDriver(dir string) (string, error) {
	path := filepath.Join(dir, "driver.py")
	if err := os.WriteFile(path, []byte(driverSource), 0o644); err != nil {
		return "", fmt.Errorf("runner: write python driver: %w", err)
	}
	return path, nil
}
