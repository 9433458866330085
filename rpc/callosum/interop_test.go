package callosum

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// envPython makes a missing Python (python3-zmq, python3-msgpack) fail the
// interop test instead of passing it with a log line.
const envPython = "AGENT_TEST_PYTHON"

// python finds an interpreter that imports zmq and msgpack: Debian's first
// (a pyenv shim earlier in PATH may lack the Debian modules). ok is false
// when there is none; the test has then failed (envPython=1) or logged why.
func python(t *testing.T) (path string, ok bool) {
	t.Helper()
	var candidates []string
	if p, err := exec.LookPath("/usr/bin/python3"); err == nil {
		candidates = append(candidates, p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		// -I: no user site, no script directory on sys.path.
		cmd := exec.Command(p, "-I", "-c", "import zmq, zmq.auth, msgpack")
		cmd.Dir = t.TempDir()
		if err := cmd.Run(); err == nil {
			return p, true
		}
	}
	msg := "no python3 with the zmq and msgpack modules (apt-get install python3-zmq python3-msgpack)"
	if os.Getenv(envPython) == "1" {
		t.Fatalf("%s=1 but %s", envPython, msg)
	}
	t.Logf("Python interop not run: %s; set %s=1 to make this fatal", msg, envPython)
	return "", false
}

func runPython(t *testing.T, py string, args ...string) {
	t.Helper()
	script, err := filepath.Abs("testdata/interop.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"-I", script}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.WaitDelay = 5 * time.Second // never wait on a pipe a stray child holds
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("interop.py %v: %v\n%s", args, err, out)
	}
	t.Logf("interop.py %v: %s", args, out)
}

// TestPythonInterop drives the server with pyzmq and Python's msgpack, the
// way callosum's DEALER frames and decodes messages.
func TestPythonInterop(t *testing.T) {
	py, ok := python(t)
	if !ok {
		return
	}
	t.Run("plain", func(t *testing.T) {
		s := startServer(t, Options{Handler: newTestHandler()})
		runPython(t, py, "call", s.Addr())
	})
	t.Run("curve", func(t *testing.T) {
		dir := t.TempDir()
		runPython(t, py, "mkcerts", dir)
		agentPub, agentSec, err := LoadCertificate(filepath.Join(dir, "agent.key_secret"))
		if err != nil {
			t.Fatal(err)
		}
		mgrPub, _, err := LoadCertificate(filepath.Join(dir, "manager.key"))
		if err != nil {
			t.Fatal(err)
		}
		s := startServer(t, Options{
			Handler: newTestHandler(),
			Curve:   &CurveOptions{PublicKey: agentPub, SecretKey: agentSec, ManagerPublicKey: mgrPub},
		})
		runPython(t, py, "call", s.Addr(), dir)
	})
}
