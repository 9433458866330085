// Package test holds the cross-package checks of the module; its
// subpackages hold the test-tier gates (testenv) and the VM lane (vm).
package test

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

// allowed lists, for each layer (top-level folder of the module), the
// layers it may import. A layer may always import itself. Layers not
// listed import nothing of the module: they are leaves. This table and
// docs/ARCHITECTURE.md say the same thing; TestArchitectureDocListsLayers
// keeps them together.
var allowed = map[string][]string{
	"cmd":     {"configs", "internal", "rpc", "runtime", "stats", "cgroup", "netns", "gpu", "runner"},
	"rpc":     {"runtime", "stats", "cgroup", "netns", "gpu"},
	"runtime": {"cgroup", "netns", "gpu"},
	"stats":   {"cgroup", "netns", "gpu"},
	"test":    {"configs", "internal", "rpc", "runtime", "stats", "cgroup", "netns", "gpu", "runner"},
}

// layerOf is the top-level folder of a module package, or "" for a package
// outside the module. internal/<x> packages are each a leaf layer of their
// own ("internal/logging"), and test/testenv is a leaf of its own too.
func layerOf(module, pkg string) string {
	if pkg != module && !strings.HasPrefix(pkg, module+"/") {
		return ""
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	parts := strings.Split(rel, "/")
	if (parts[0] == "internal" || parts[0] == "test") && len(parts) > 1 && (parts[0] == "internal" || parts[1] == "testenv") {
		return parts[0] + "/" + parts[1]
	}
	return parts[0]
}

// mayImport says whether layer from may depend on layer to.
func mayImport(from, to string) bool {
	if from == to {
		return true
	}
	top, _, _ := strings.Cut(to, "/")
	fromTop, _, _ := strings.Cut(from, "/")
	if fromTop == "test" && from != "test/testenv" && to == "test/testenv" {
		return true
	}
	return slices.Contains(allowed[from], top) || slices.Contains(allowed[from], to)
}

// violations returns "A imports B (layer X may not depend on Y)" lines for
// every forbidden edge of deps: package -> its transitive dependencies.
func violations(module string, deps map[string][]string) []string {
	var out []string
	for pkg, ds := range deps {
		from := layerOf(module, pkg)
		for _, d := range ds {
			to := layerOf(module, d)
			if to == "" || mayImport(from, to) {
				continue
			}
			out = append(out, pkg+" depends on "+d+" (layer "+from+" may not depend on "+to+")")
		}
	}
	slices.Sort(out)
	return out
}

type listedPackage struct {
	ImportPath string
	Deps       []string
	Module     *struct{ Path string }
}

func TestLayering(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-json", "./...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	deps := map[string][]string{}
	module := ""
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module != nil {
			module = p.Module.Path
		}
		deps[p.ImportPath] = p.Deps
	}
	if module == "" || len(deps) < 8 {
		t.Fatalf("go list found %d packages of module %q; expected the whole module", len(deps), module)
	}
	for _, leaf := range []string{"configs", "cgroup", "netns", "gpu", "internal/logging", "internal/daemon", "test/testenv"} {
		if _, ok := deps[path.Join(module, leaf)]; !ok {
			t.Errorf("package %s missing from go list", leaf)
		}
	}
	for _, v := range violations(module, deps) {
		t.Error(v)
	}
}

func TestLayeringCatchesViolations(t *testing.T) {
	const m = "example.com/agent"
	deps := map[string][]string{
		m + "/gpu":              {"fmt", m + "/rpc"},             // leaf importing rpc
		m + "/runtime":          {m + "/cgroup", m + "/configs"}, // runtime reading configs
		m + "/rpc":              {m + "/runtime", m + "/cgroup"},
		m + "/cmd/agent":        {m + "/rpc", m + "/configs", m + "/internal/logging"},
		m + "/internal/daemon":  {m + "/internal/logging"}, // one internal leaf using another
		m + "/test/testenv":     {"testing"},
		m + "/test/vm":          {m + "/test/testenv", m + "/cgroup"},
		m + "/cgroup":           {m + "/cmd/agent"}, // anything importing cmd
		m + "/configs":          {"github.com/pelletier/go-toml/v2"},
		m + "/internal/logging": {"log/slog"},
	}
	got := violations(m, deps)
	want := []string{
		m + "/cgroup depends on " + m + "/cmd/agent (layer cgroup may not depend on cmd)",
		m + "/gpu depends on " + m + "/rpc (layer gpu may not depend on rpc)",
		m + "/internal/daemon depends on " + m + "/internal/logging (layer internal/daemon may not depend on internal/logging)",
		m + "/runtime depends on " + m + "/configs (layer runtime may not depend on configs)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestArchitectureDocListsLayers checks that docs/ARCHITECTURE.md states the
// same import rules as the allowed table, in its "layer: may import" block.
func TestArchitectureDocListsLayers(t *testing.T) {
	doc, err := os.ReadFile("../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- layers:begin -->", "<!-- layers:end -->"
	text := string(doc)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("docs/ARCHITECTURE.md has no %s ... %s block", begin, end)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(text[i+len(begin):j], "\n") {
		layer, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || strings.HasPrefix(layer, "```") {
			continue
		}
		if f := strings.Fields(rest); len(f) > 0 && f[0] != "nothing" {
			got[strings.TrimSpace(layer)] = f
		}
	}
	for layer, want := range allowed {
		if strings.Join(got[layer], " ") != strings.Join(want, " ") {
			t.Errorf("ARCHITECTURE.md says %s may import %v; the layering test says %v", layer, got[layer], want)
		}
	}
	for layer := range got {
		if _, ok := allowed[layer]; !ok {
			t.Errorf("ARCHITECTURE.md lists imports for %s, which the layering test treats as a leaf", layer)
		}
	}
}
