package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const installGuide = "../../configs/testdata/install-guide.toml"

// TestConfigCheckInstallGuide: the install guide's example loads unchanged.
func TestConfigCheckInstallGuide(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"config", "check", "-f", installGuide}, &out, &errOut)
	if code != 0 || out.String() != "ok\n" {
		t.Fatalf("config check = %d, stdout %q, stderr:\n%s", code, out.String(), errOut.String())
	}
}

// TestConfigCheckReportsEveryProblem: a misspelled key, a string where an
// int belongs and a bad enum are all reported, each with its position or
// key path, and the exit status is non-zero.
func TestConfigCheckReportsEveryProblem(t *testing.T) {
	data, err := os.ReadFile(installGuide)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for old, repl := range map[string]string{
		"port-range = [30000, 31000]": "port-rnage = [30000, 31000]",
		"kernel-uid = 1100":           `kernel-uid = "bai"`,
		`stats-type = "docker"`:       `stats-type = "dockr"`,
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	bad := filepath.Join(t.TempDir(), "agent.toml")
	writeFile(t, bad, s)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"config", "check", "-f", bad}, &out, &errOut)
	if code == 0 {
		t.Fatalf("config check of a bad file exited 0:\n%s", errOut.String())
	}
	got := errOut.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(regexp.QuoteMeta(bad) + `:\d+:\d+: container\.port-rnage: .*unknown key`),
		regexp.MustCompile(regexp.QuoteMeta(bad) + `:\d+:\d+: container\.kernel-uid: `),
		regexp.MustCompile(regexp.QuoteMeta(bad) + `:\d+:\d+: container\.stats-type: .*dockr`),
	} {
		if !want.MatchString(got) {
			t.Errorf("output lacks a line matching %s:\n%s", want, got)
		}
	}
	if strings.Contains(out.String(), "ok") {
		t.Errorf("stdout says ok for a bad file: %q", out.String())
	}
}

func TestConfigShowRedacts(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.toml")
	writeFile(t, conf, "[etcd]\npassword = \"hunter2\"\n[agent]\nbackend = \"docker\"\n")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "show", "-f", conf}, &out, &errOut); code != 0 {
		t.Fatalf("config show = %d:\n%s", code, errOut.String())
	}
	if strings.Contains(out.String(), "hunter2") {
		t.Fatalf("password printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "[etcd]") || !strings.Contains(out.String(), "[agent]") {
		t.Fatalf("effective config incomplete:\n%s", out.String())
	}
}

// TestConfigToolsRunOnDefaults: with no file anywhere, the operator tools
// use the built-in defaults.
func TestConfigToolsRunOnDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("HOME", dir)
	t.Setenv("BACKEND_CONFIG_FILE", "")
	if _, err := os.Stat("/etc/backend.ai/agent.toml"); err == nil {
		t.Log("/etc/backend.ai/agent.toml exists on this machine; it is what the tools read")
		return
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"config", "check"}, &out, &errOut); code != 0 || out.String() != "ok\n" {
		t.Fatalf("config check on defaults = %d %q\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), builtinSource) {
		t.Errorf("no note that defaults are used: %q", errOut.String())
	}
}
