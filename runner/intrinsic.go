package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
)

// The intrinsic services every kernel may offer (upstream's sshd and
// ttyd, on container ports 2200 and 7681), started from the image's own
// binaries: no service definition is needed, and an image without them
// gets a failed start that says so.
const (
	IntrinsicSSHD = "sshd"
	IntrinsicTTYD = "ttyd"
)

// errNotInImage is the failed start of an intrinsic service whose
// binaries the image lacks.
var errNotInImage = errors.New("not available in this image")

// intrinsicDef returns the definition of an intrinsic service from what
// the image has (looked up in PATH, then in the sbin directories), or
// errUnknownService for any other name.
//
//   - ttyd: `ttyd -W -p PORT SHELL` (bash, else sh; -W makes the
//     terminal writable on ttyd 1.7 and later).
//   - sshd: Dropbear when the image has it (`dropbear -F -E -s -p PORT -r
//     KEY`), else OpenSSH's sshd (`sshd -D -e -p PORT -h KEY` with
//     public-key logins only); both run as the work user, with a host key
//     made once under /tmp/bai-sshd by dropbearkey or ssh-keygen. Logins
//     use ~/.ssh/authorized_keys (the agent's dotfiles write the user's
//     keypair there).
func intrinsicDef(name string) (*ServiceDef, error) {
	find := func(bin string) string {
		if p, err := exec.LookPath(bin); err == nil {
			return p
		}
		// After PATH the sbin directories: a user's PATH often lacks
		// them, and sshd lives there.
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
			if p, err := exec.LookPath(filepath.Join(dir, bin)); err == nil {
				return p
			}
		}
		return ""
	}
	shell := find("bash")
	if shell == "" {
		shell = find("sh")
	}
	const keyDir = "/tmp/bai-sshd"
	makeKey := func(cmd string) PrestartAction {
		args, _ := json.Marshal(map[string]any{"command": []string{"/bin/sh", "-c", "mkdir -p " + keyDir + " && chmod 700 " + keyDir + " && { test -s " + keyDir + "/host_key || " + cmd + "; }"}})
		return PrestartAction{Action: "run_command", Args: args}
	}
	var argv []string
	var pre []PrestartAction
	switch name {
	case IntrinsicTTYD:
		ttyd := find("ttyd")
		if ttyd == "" || shell == "" {
			return nil, fmt.Errorf("%s: %w (no ttyd binary)", name, errNotInImage)
		}
		argv = []string{ttyd, "-W", "-p", "{port}", shell}
	case IntrinsicSSHD:
		if db, key := find("dropbear"), find("dropbearkey"); db != "" && key != "" {
			pre = []PrestartAction{makeKey(key + " -t ed25519 -f " + keyDir + "/host_key >/dev/null 2>&1")}
			argv = []string{db, "-F", "-E", "-s", "-p", "{port}", "-r", keyDir + "/host_key"}
			break
		}
		sshd, keygen := find("sshd"), find("ssh-keygen")
		if sshd == "" || keygen == "" {
			return nil, fmt.Errorf("%s: %w (neither dropbear nor OpenSSH's sshd)", name, errNotInImage)
		}
		pre = []PrestartAction{makeKey(keygen + " -q -t ed25519 -N '' -f " + keyDir + "/host_key")}
		argv = []string{sshd, "-D", "-e", "-p", "{port}", "-h", keyDir + "/host_key",
			"-o", "PasswordAuthentication=no", "-o", "PidFile=none", "-o", "UsePAM=no"}
	default:
		return nil, errUnknownService
	}
	cmd, err := json.Marshal(argv)
	if err != nil {
		return nil, err
	}
	return &ServiceDef{Command: cmd, PrestartActions: pre, Shell: "sh"}, nil
}
