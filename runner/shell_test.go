package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAppQuery(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimeApp})
	r := c.run("echo hi; echo err >&2; exit 3")
	if r.exitCode != 3 || r.stdout.String() != "hi\n" || r.stderr.String() != "err\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.exitCode, r.stdout.String(), r.stderr.String())
	}
	// Each cell is a fresh shell in the work directory.
	r = c.run("X=1; pwd; echo ${X:-unset}")
	if r.exitCode != 0 || !strings.HasSuffix(r.stdout.String(), "\n1\n") {
		t.Fatalf("stdout %q", r.stdout.String())
	}
	r = c.run("echo ${X:-unset}")
	if r.stdout.String() != "unset\n" {
		t.Fatalf("state leaked between shells: %q", r.stdout.String())
	}
	// A background process holding the pipes does not hold the cell up.
	t0 := time.Now()
	r = c.run("sleep 5 & echo bg")
	if r.stdout.String() != "bg\n" || time.Since(t0) > 3*time.Second {
		t.Fatalf("background: stdout %q after %v", r.stdout.String(), time.Since(t0))
	}
}

func TestAppInterruptAndInput(t *testing.T) {
	_, c := startServer(t, Config{RuntimeType: RuntimeApp})
	c.send("code", "echo started; while :; do :; done")
	c.waitStdout("started\n")
	t0 := time.Now()
	c.send("interrupt", "")
	r := c.collect("finished")
	if d := time.Since(t0); d > time.Second {
		t.Errorf("interrupt took %v", d)
	}
	if r.exitCode != 128+2 {
		t.Errorf("exit %d, want 130 (SIGINT)", r.exitCode)
	}
	c.send("code", "echo ready; read line; echo got $line")
	c.waitStdout("ready\n")
	c.send("input", "abc")
	if r := c.collect("finished"); r.stdout.String() != "got abc\n" || r.exitCode != 0 {
		t.Fatalf("input: exit %d, stdout %q", r.exitCode, r.stdout.String())
	}
}

func TestBatch(t *testing.T) {
	work := t.TempDir()
	_, c := startServer(t, Config{RuntimeType: RuntimeApp, WorkDir: work})

	c.send("clean", "")
	if r := c.collect("clean-finished"); r.exitCode != 0 {
		t.Errorf("skipped clean: exit %d", r.exitCode)
	}
	c.send("exec", "sh -c 'exit 3'")
	if r := c.collect("finished"); r.exitCode != 3 {
		t.Errorf("exec: exit %d", r.exitCode)
	}
	c.send("exec", "echo $_BACKEND_BATCH_MODE")
	if r := c.collect("finished"); r.stdout.String() != "1\n" {
		t.Errorf("exec env: stdout %q", r.stdout.String())
	}

	// A failed build skips the exec that follows, once.
	c.send("build", "echo building; exit 2")
	if r := c.collect("build-finished"); r.exitCode != 2 || r.stdout.String() != "building\n" {
		t.Errorf("build: exit %d, stdout %q", r.exitCode, r.stdout.String())
	}
	c.send("exec", "echo should-not-run")
	if r := c.collect("finished"); r.exitCode != 127 || r.stdout.Len() != 0 {
		t.Errorf("exec after failed build: exit %d, stdout %q", r.exitCode, r.stdout.String())
	}
	c.send("exec", "echo runs")
	if r := c.collect("finished"); r.exitCode != 0 || r.stdout.String() != "runs\n" {
		t.Errorf("second exec: exit %d, stdout %q", r.exitCode, r.stdout.String())
	}

	// "*" runs make when there is a Makefile, and skips otherwise.
	c.send("build", "*")
	if r := c.collect("build-finished"); r.exitCode != 0 || r.stdout.Len() != 0 {
		t.Errorf("build * without Makefile: exit %d, stdout %q", r.exitCode, r.stdout.String())
	}
	if err := os.WriteFile(filepath.Join(work, "Makefile"), []byte("all:\n\t@echo made\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.send("build", "*")
	r := c.collect("build-finished")
	// Under `make test` the outer make's MAKEFLAGS reach this make, which
	// then prints its "Entering directory" lines too.
	if _, err := os.Stat("/usr/bin/make"); err == nil && (r.exitCode != 0 || !strings.Contains(r.stdout.String(), "made\n")) {
		t.Errorf("build * with Makefile: exit %d, stdout %q, stderr %q", r.exitCode, r.stdout.String(), r.stderr.String())
	}
}
