package gpu

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// ErrUnavailable is wrapped by every error that means "no NVML here": the
// library could not be loaded or initialised, or it has been closed. The
// agent treats it as "GPU support off", not as a failure.
var ErrUnavailable = errors.New("NVML unavailable")

// DefaultLibrary is the soname NVML is loaded by when no path is given; the
// dynamic loader then searches its cache and LD_LIBRARY_PATH.
const DefaultLibrary = "libnvidia-ml.so.1"

// Library is the part of go-nvml's nvml.Interface that this package calls.
// nvml.New() and go-nvml's mocks (mock/dgxa100, mock/dgxh100) satisfy it.
// Device-level calls go through nvml.Device, which the mocks implement too.
type Library interface {
	Init() nvml.Return
	Shutdown() nvml.Return
	DeviceGetCount() (int, nvml.Return)
	DeviceGetHandleByIndex(int) (nvml.Device, nvml.Return)
	DeviceGetHandleByUUID(string) (nvml.Device, nvml.Return)
	SystemGetDriverVersion() (string, nvml.Return)
	SystemGetCudaDriverVersion() (int, nvml.Return)
}

// NewLibrary returns the real NVML, loaded (at Init) from path. An empty
// path means DefaultLibrary through the loader's search; a path with a slash
// loads that file, which is how a configured search path or an ld cache
// lookup (hosts with the driver under /usr/local/nvidia/lib64) is honoured.
// Nothing is loaded until Open calls Init.
func NewLibrary(path string) Library {
	if path == "" {
		return nvml.New()
	}
	return nvml.New(nvml.WithLibraryPath(path))
}

// NVML is an initialised NVML session. The agent opens one at startup and
// keeps it for the life of the process: initialising opens every device and
// costs seconds without persistence mode, and open handles keep the devices
// warm.
//
// Calling any NVML function after a failed Init kills the process (the
// symbols are unresolved), so every method checks the state first and
// returns an error wrapping ErrUnavailable without touching the library when
// Init failed or Close ran.
type NVML struct {
	lib Library
	log *slog.Logger

	// mu guards ok and handles. Calls into the library hold it for reading
	// so that Close (which takes it for writing) cannot unload the library
	// under a running Discover or Sample.
	mu sync.RWMutex
	ok bool

	// hmu guards handles and lostLogged, which Sample (under mu's read
	// lock, possibly from several goroutines) updates.
	hmu sync.Mutex
	// handles caches device handles by UUID for Sample: NVML's lookup by
	// UUID walks every device, and handles stay valid while NVML is open.
	handles map[string]nvml.Device
	// lostLogged remembers lost GPUs already logged, so that a dead GPU
	// is reported once and not on every stats cycle.
	lostLogged map[string]bool
}

// Open initialises lib once. When Init fails it returns an error wrapping
// ErrUnavailable (and the nvml.Return, for errors.Is) together with a
// non-nil *NVML on which every method is a harmless error, so a caller may
// keep it either way. log may be nil.
func Open(lib Library, log *slog.Logger) (*NVML, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &NVML{lib: lib, log: log, handles: map[string]nvml.Device{}, lostLogged: map[string]bool{}}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		// Formatting ret calls no NVML function that needs Init: go-nvml
		// uses its own table when the library did not load, and
		// nvmlErrorString (valid before Init) when it did.
		err := fmt.Errorf("%s: GPU support off: %w (%w)", initFailure(ret), ErrUnavailable, ret)
		log.Info("NVML not available", "ret", int32(ret), "err", err)
		return n, err
	}
	n.ok = true
	return n, nil
}

// initFailure says in words why Init failed, for the operator.
func initFailure(ret nvml.Return) string {
	switch ret {
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return "NVML library (libnvidia-ml) not found"
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return "NVIDIA kernel driver not loaded"
	case nvml.ERROR_NO_PERMISSION:
		return "no permission to open the NVIDIA devices"
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return "NVML library and kernel driver versions differ (reboot or reload the driver)"
	default:
		return "NVML init failed"
	}
}

// Available reports whether Init succeeded and Close has not run.
func (n *NVML) Available() bool {
	if n == nil {
		return false
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.ok
}

// Close shuts NVML down once; later calls, and Close after a failed Open,
// do nothing.
func (n *NVML) Close() error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.ok {
		return nil
	}
	n.ok = false
	n.hmu.Lock()
	clear(n.handles)
	n.hmu.Unlock()
	if ret := n.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("NVML shutdown: %w", ret)
	}
	return nil
}

// acquire takes the read lock when NVML is usable. On success the caller
// must call n.mu.RUnlock.
func (n *NVML) acquire() error {
	if n == nil {
		return fmt.Errorf("no NVML session: %w", ErrUnavailable)
	}
	n.mu.RLock()
	if !n.ok {
		n.mu.RUnlock()
		return fmt.Errorf("NVML not initialised or closed: %w", ErrUnavailable)
	}
	return nil
}

// Probe loads the real NVML from the default search path, counts the GPUs
// and shuts it down again. It is the probe for testenv.RequireGPU.
func Probe() (ok bool, reason string) {
	n, err := Open(NewLibrary(""), nil)
	if err != nil {
		return false, err.Error()
	}
	defer n.Close()
	if err := n.acquire(); err != nil {
		return false, err.Error()
	}
	defer n.mu.RUnlock()
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return false, fmt.Sprintf("NVML device count: %v", ret)
	}
	if count == 0 {
		return false, "NVML loaded but reports no GPU"
	}
	return true, ""
}

// unsupported reports whether ret means "this device or driver cannot tell":
// such fields become zero values rather than errors. FUNCTION_NOT_FOUND is
// an older libnvidia-ml without the symbol.
func unsupported(ret nvml.Return) bool {
	return ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_FUNCTION_NOT_FOUND
}

// lost reports whether ret means the GPU is gone until a reset or reboot
// (fallen off the bus, needs a reset, or no longer enumerated).
func lost(ret nvml.Return) bool {
	switch ret {
	case nvml.ERROR_GPU_IS_LOST, nvml.ERROR_RESET_REQUIRED, nvml.ERROR_GPU_NOT_FOUND:
		return true
	}
	return false
}
