package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{
		"DEBUG": slog.LevelDebug, "info": slog.LevelInfo, "Warning": slog.LevelWarn,
		"ERROR": slog.LevelError, "CRITICAL": LevelCritical, "TRACE": LevelTrace, "NOTSET": LevelTrace,
	} {
		got, err := ParseLevel(name)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := ParseLevel("LOUD"); err == nil {
		t.Error("ParseLevel accepted LOUD")
	}
}

func TestComponentLevelsFromInstallGuide(t *testing.T) {
	root, levels, ignored, err := ComponentLevels(map[string]string{
		"": "WARNING", "aiodocker": "INFO", "aiotools": "INFO", "aiohttp": "INFO", "ai.backend": "INFO",
		"ai.backend.agent.server": "DEBUG", "gpu": "ERROR",
	})
	if err != nil {
		t.Fatal(err)
	}
	if root == nil || *root != slog.LevelWarn {
		t.Fatalf("root = %v, want WARNING", root)
	}
	want := map[string]slog.Level{
		"rpc": slog.LevelDebug, "server": slog.LevelDebug, // most specific upstream module
		"runtime": slog.LevelInfo, "image": slog.LevelInfo, "http": slog.LevelInfo,
		"gpu":    slog.LevelError, // our own component name wins over everything
		"cgroup": slog.LevelInfo,
	}
	for c, l := range want {
		if levels[c] != l {
			t.Errorf("level of %s = %v, want %v", c, levels[c], l)
		}
	}
	if strings.Join(ignored, ",") != "aiotools" {
		t.Errorf("ignored = %v, want [aiotools]", ignored)
	}
	if _, _, _, err := ComponentLevels(map[string]string{"rpc": "CHATTY"}); err == nil {
		t.Error("bad level in pkg-ns accepted")
	}
}

func TestPerComponentLevels(t *testing.T) {
	var buf bytes.Buffer
	log, _, err := New(Options{
		Level: slog.LevelWarn, Components: map[string]slog.Level{"rpc": slog.LevelDebug},
		Console: true, ConsoleWriter: &buf, ConsoleFormat: FormatSimple,
	})
	if err != nil {
		t.Fatal(err)
	}
	log.With(ComponentKey, "rpc").Debug("rpc debug shown")
	log.With(ComponentKey, "runtime").Info("runtime info hidden")
	log.With(ComponentKey, "runtime").Warn("runtime warning shown")
	log.Debug("per-record component", ComponentKey, "rpc")
	log.Info("root info hidden")
	got := buf.String()
	for _, s := range []string{"DEBUG rpc: rpc debug shown", "WARNING runtime: runtime warning shown", "DEBUG rpc: per-record component"} {
		if !strings.Contains(got, s+"\n") {
			t.Errorf("missing %q in:\n%s", s, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("filtered records were written:\n%s", got)
	}
}

func TestFormats(t *testing.T) {
	var simple, verbose, js bytes.Buffer
	for w, f := range map[*bytes.Buffer]Format{&simple: FormatSimple, &verbose: FormatVerbose, &js: FormatJSON} {
		log, _, err := New(Options{Level: slog.LevelInfo, Console: true, ConsoleWriter: w, ConsoleFormat: f})
		if err != nil {
			t.Fatal(err)
		}
		log.With(ComponentKey, "server").Info("started", "addr", "127.0.0.1:6003", "note", "two words")
	}
	if got := simple.String(); got != "INFO server: started addr=127.0.0.1:6003 note=\"two words\"\n" {
		t.Errorf("simple = %q", got)
	}
	if got := verbose.String(); !strings.Contains(got, " INFO server [") || !strings.HasSuffix(got, "]: started addr=127.0.0.1:6003 note=\"two words\"\n") {
		t.Errorf("verbose = %q", got)
	}
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil {
		t.Fatalf("json line %q: %v", js.String(), err)
	}
	if rec["level"] != "INFO" || rec["component"] != "server" || rec["msg"] != "started" {
		t.Errorf("json = %v", rec)
	}
	if _, _, err := New(Options{Console: true, ConsoleWriter: &simple, ConsoleFormat: "fancy"}); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestColorOnlyOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	yes := true
	log, _, _ := New(Options{Console: true, ConsoleWriter: &buf, ConsoleFormat: FormatSimple, Colored: &yes})
	log.Info("x")
	if strings.Contains(buf.String(), "\x1b[") {
		t.Errorf("colored output to a non-terminal: %q", buf.String())
	}
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	log, closer, err := New(Options{Level: slog.LevelInfo, File: &FileOptions{
		Dir: filepath.Join(dir, "logs"), Filename: "agent.log", Format: FormatSimple, RotationSize: 10 << 10, BackupCount: 2,
	}})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 1000)
	for range 3000 { // about 3 MB through a 1 MiB rotation size
		log.Info(line)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// agent.log plus at most two backups.
	if len(names) != 3 {
		t.Fatalf("log dir holds %v, want agent.log and 2 backups", names)
	}
	fi, err := os.Stat(filepath.Join(dir, "logs", "agent.log"))
	if err != nil || fi.Size() > 1<<20 {
		t.Fatalf("agent.log: %v, size %d, want at most 1 MiB", err, fi.Size())
	}
}
