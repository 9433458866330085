// Package registry runs a real container registry for tests: Debian's
// docker-registry (distribution v2) on 127.0.0.1, with its storage in the
// test's temporary directory and, if asked, htpasswd basic auth.
package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// Binary is the registry program, from Debian's docker-registry package.
const Binary = "docker-registry"

// Realm is the basic-auth realm of a registry started with Options.Auth.
const Realm = "test"

// How long Start waits for /v2/ to answer, and Stop for the process to end
// after SIGTERM.
const (
	startTimeout = 20 * time.Second
	stopTimeout  = 5 * time.Second
)

// Options configures Start.
type Options struct {
	// Auth protects the registry with htpasswd basic auth for User and
	// Password: /v2/ answers 401 without them.
	Auth bool
}

// Registry is a running docker-registry. Start returns it; t.Cleanup stops
// it.
type Registry struct {
	// User and Password are the credentials of a registry started with
	// Options.Auth; both are empty otherwise.
	User, Password string

	auth   bool
	host   string
	config string
	log    string
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
}

// Start runs docker-registry on a free port of 127.0.0.1, storing blobs in
// t.TempDir(), and waits until /v2/ answers (200, or 401 with Options.Auth).
// It fails t when docker-registry is not installed or does not come up; a
// cleanup stops it and, when t failed, logs the registry's output.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		t.Fatalf("registry: %s is not installed (make deps installs it: apt-get install docker-registry): %v", Binary, err)
	}
	dir := t.TempDir()
	r := &Registry{auth: o.Auth, config: filepath.Join(dir, "config.yml"), log: filepath.Join(dir, "registry.log")}
	htpasswd := ""
	if o.Auth {
		r.User, r.Password = "agent-test", randomHex(t, 12)
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("registry: hash password: %v", err)
		}
		htpasswd = filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatalf("registry: write htpasswd: %v", err)
		}
	}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("docker-registry log (%s):\n%s", r.host, r.logTail())
		}
	})
	// A free port can be taken between probing and binding it; try again
	// with another one then.
	for attempt := 1; ; attempt++ {
		r.host = freeAddr(t)
		cfg := config(r.host, filepath.Join(dir, "storage"), htpasswd, randomHex(t, 16))
		if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
			t.Fatalf("registry: write config: %v", err)
		}
		err := r.start(bin)
		if err == nil {
			return r
		}
		if attempt == 3 || !strings.Contains(r.logTail(), "address already in use") {
			t.Fatalf("registry: start %s: %v\n%s", Binary, err, r.logTail())
		}
	}
}

// config is the registry's configuration: HTTP on addr only, filesystem
// storage under root with deletes allowed, htpasswd auth when htpasswd
// names a file, and no background work or outside connections.
func config(addr, root, htpasswd, secret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
`, strconv.Quote(root), strconv.Quote(addr), strconv.Quote(secret))
	if htpasswd != "" {
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: %s\n    path: %s\n", strconv.Quote(Realm), strconv.Quote(htpasswd))
	}
	return b.String()
}

// start runs the process and waits for /v2/.
func (r *Registry) start(bin string) error {
	logFile, err := os.OpenFile(r.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", r.config)
	cmd.Env = []string{} // no REGISTRY_* overrides or proxies from the test's environment
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	r.cmd, r.done = cmd, done
	if err := r.waitReady(); err != nil {
		r.Stop()
		return err
	}
	return nil
}

func (r *Registry) waitReady() error {
	want := http.StatusOK
	if r.auth {
		want = http.StatusUnauthorized
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			return fmt.Errorf("exited before serving: %s", r.cmd.ProcessState)
		default:
		}
		resp, err := client.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s, want %d", resp.Status, want)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %w", startTimeout, last)
}

// Host returns the registry's address, "127.0.0.1:PORT".
func (r *Registry) Host() string { return r.host }

// Ref returns the reference of repoTag ("busybox:latest",
// "lablup/python:3.11", "repo@sha256:...") in this registry.
func (r *Registry) Ref(repoTag string) string { return r.host + "/" + repoTag }

// Authenticator returns the credentials for this registry: basic auth
// with User and Password, or anonymous without Options.Auth.
func (r *Registry) Authenticator() authn.Authenticator {
	if !r.auth {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.User, Password: r.Password}
}

// Push uploads img as repoTag and returns its manifest digest
// ("sha256:..."); it fails t on any error.
func (r *Registry) Push(t testing.TB, img v1.Image, repoTag string) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.Insecure)
	if err != nil {
		t.Fatalf("registry: parse %q: %v", repoTag, err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(r.Authenticator()), remote.WithContext(t.Context())); err != nil {
		t.Fatalf("registry: push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatalf("registry: digest of %s: %v", ref, err)
	}
	return d.String()
}

// Stop ends the registry (SIGTERM, then SIGKILL after a few seconds), so
// that tests can see a registry that is down; its storage stays for
// Restart. Stopping a stopped registry does nothing.
func (r *Registry) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(stopTimeout):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
}

// Restart stops the registry if it runs and starts it again on the same
// address with the same storage and credentials.
func (r *Registry) Restart(t testing.TB) {
	t.Helper()
	r.Stop()
	bin, err := exec.LookPath(Binary)
	if err == nil {
		err = r.start(bin)
	}
	if err != nil {
		t.Fatalf("registry: restart on %s: %v\n%s", r.host, err, r.logTail())
	}
}

// logTail returns the end of the registry's output.
func (r *Registry) logTail() string {
	b, err := os.ReadFile(r.log)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no output)"
		}
		return fmt.Sprintf("(read log: %v)", err)
	}
	const keep = 8 << 10
	if len(b) > keep {
		b = append([]byte("...\n"), b[len(b)-keep:]...)
	}
	return string(b)
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("registry: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("registry: random: %v", err)
	}
	return hex.EncodeToString(b)
}
