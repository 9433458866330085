package codec

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden with testdata/gen_fixtures.py")

// pythonWithMsgpack returns a Python 3.11+ interpreter that imports
// msgpack (Debian's python3-msgpack), Debian's first: a pyenv shim earlier
// in PATH may lack the module. "" when there is none.
func pythonWithMsgpack(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, py := range candidates {
		// -I: no user site, no PYTHON* variables, no script directory.
		check := exec.CommandContext(t.Context(), py, "-I", "-c",
			"import sys, msgpack; sys.exit(sys.version_info < (3, 11))")
		check.Dir = t.TempDir()
		if check.Run() == nil {
			return py
		}
	}
	return ""
}

// TestGoldenFixturesUpToDate runs testdata/gen_fixtures.py into a temporary
// directory and requires the committed testdata/golden to be byte for byte
// what it writes. Without Python and msgpack it only logs, unless
// AGENT_TEST_PYTHON=1 demands them.
func TestGoldenFixturesUpToDate(t *testing.T) {
	py := pythonWithMsgpack(t)
	if py == "" {
		if os.Getenv("AGENT_TEST_PYTHON") == "1" {
			t.Fatal("AGENT_TEST_PYTHON=1 but no python3 (3.11+) that imports msgpack; install python3-msgpack")
		}
		t.Log("no python3 with msgpack: golden fixtures not regenerated (AGENT_TEST_PYTHON=1 requires it)")
		return
	}
	out := t.TempDir()
	if *update {
		if err := os.RemoveAll(goldenDir); err != nil {
			t.Fatal(err)
		}
		out = goldenDir
	}
	cmd := exec.CommandContext(t.Context(), py, "-I", filepath.Join("testdata", "gen_fixtures.py"), out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, msg)
	}
	fresh, committed := dirFiles(t, out), dirFiles(t, goldenDir)
	for name, data := range fresh {
		if old, ok := committed[name]; !ok {
			t.Errorf("%s: generated but not in %s (run go test ./rpc/codec/ -run %s -update)", name, goldenDir, t.Name())
		} else if !bytes.Equal(old, data) {
			t.Errorf("%s: differs from what gen_fixtures.py writes (run go test ./rpc/codec/ -run %s -update)", name, t.Name())
		}
	}
	for name := range committed {
		if _, ok := fresh[name]; !ok {
			t.Errorf("%s: in %s but no longer generated", name, goldenDir)
		}
	}
}

func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	if len(files) == 0 || !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return e.Name() == "index.json" }) {
		t.Fatalf("%s: no index.json", dir)
	}
	return files
}
