package vm

import (
	"encoding/json"
	"fmt"
)

// The contract between the host harness and vminit (PID 1 in the guest).
// vminit imports these names, so both sides always agree.

// Paths inside the initramfs.
const (
	// GuestRunListPath is the JSON run list (a [RunList]) that vminit reads.
	GuestRunListPath = "/init.json"
	// GuestModulesOrderPath lists, one a line, the kernel modules that
	// vminit loads with finit_module before running anything.
	GuestModulesOrderPath = "/modules.order"
	// GuestModulesDir holds the module files named in GuestModulesOrderPath.
	GuestModulesDir = "/lib/modules"
	// GuestBusybox is the static busybox; /bin/sh and a few other applets
	// are symlinks to it.
	GuestBusybox = "/bin/busybox"
	// GuestTestsDir holds the test binaries that the lane copies in.
	GuestTestsDir = "/tests"
)

// GuestEnv is set to "1" for every command in the guest; it is
// testenv.EnvVMGuest, repeated here so that vminit needs no testing code.
const GuestEnv = "AGENT_TEST_VM_GUEST"

// Console markers printed by vminit, one a line.
const (
	// RunMarker starts the output of a command: "=== VM RUN <name>".
	RunMarker = "=== VM RUN"
	// ExitMarker ends it: "=== VM EXIT <name> <status> (<seconds>s)".
	ExitMarker = "=== VM EXIT"
	// PoweroffMarker is the last line before the debug-exit write:
	// "=== VM POWEROFF <status>".
	PoweroffMarker = "=== VM POWEROFF"
)

// Guest statuses, the value vminit writes to the debug-exit port.
const (
	// GuestStatusMaxCommand is the largest command status passed through
	// unchanged.
	GuestStatusMaxCommand = 110
	// GuestStatusClamped stands for a command status above
	// GuestStatusMaxCommand or a command killed by a signal.
	GuestStatusClamped = 111
	// GuestStatusSetup: vminit could not set the guest up (mounts, root
	// switch).
	GuestStatusSetup = 120
	// GuestStatusModules: a kernel module failed to load.
	GuestStatusModules = 121
	// GuestStatusRunList: the run list is missing, invalid or empty.
	GuestStatusRunList = 122
	// GuestStatusStart: a command could not be started.
	GuestStatusStart = 123
	// GuestStatusPanic: vminit panicked.
	GuestStatusPanic = 124
)

// ClampStatus maps a command's exit status (128+n for signal n) to the
// guest status that vminit reports for it.
func ClampStatus(status int) int {
	if status < 0 || status > GuestStatusMaxCommand {
		return GuestStatusClamped
	}
	return status
}

// Command is one entry of the run list.
type Command struct {
	// Name labels the command in the console markers.
	Name string `json:"name"`
	// Args is the argv; Args[0] is an absolute path in the guest.
	Args []string `json:"args"`
	// Env holds extra KEY=VAL entries on top of vminit's environment
	// (the kernel command line's KEY=VAL words, PATH, HOME, TMPDIR and
	// AGENT_TEST_VM_GUEST=1).
	Env []string `json:"env,omitempty"`
	// Dir is the working directory; vminit creates it. Empty means /tmp.
	Dir string `json:"dir,omitempty"`
}

// RunList is what vminit runs, in order. It runs every command even after
// a failure and reports the first non-zero status.
type RunList struct {
	Commands []Command `json:"commands"`
}

// ParseRunList decodes and checks a run list.
func ParseRunList(data []byte) (RunList, error) {
	var rl RunList
	if err := json.Unmarshal(data, &rl); err != nil {
		return RunList{}, fmt.Errorf("decode run list: %w", err)
	}
	if len(rl.Commands) == 0 {
		return RunList{}, fmt.Errorf("run list has no commands")
	}
	for i, c := range rl.Commands {
		if len(c.Args) == 0 || c.Args[0] == "" {
			return RunList{}, fmt.Errorf("run list command %d (%q) has no program", i, c.Name)
		}
	}
	return rl, nil
}
