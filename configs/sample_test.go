package configs

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const samplePath = "agent/sample.toml"

func TestSampleLoads(t *testing.T) {
	cfg, warns, err := Load(samplePath, testOptions(nil))
	if err != nil {
		t.Fatalf("%s does not load:\n%v", samplePath, err)
	}
	if len(warns) > 0 {
		t.Errorf("%s has warnings: %v", samplePath, warns)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		out, _ := cfg.TOML(false)
		t.Errorf("%s does not hold the defaults; it reads as:\n%s", samplePath, out)
	}
}

// commentedKey matches the "## " prefix of an optional key or table in the
// sample.
var commentedKey = regexp.MustCompile(`(?m)^## `)

// TestSampleHasEveryKey fails when a key of the schema is missing from the
// sample, set or commented out with "## ".
func TestSampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	uncommented := commentedKey.ReplaceAll(data, nil)
	root, perr := parseTree(samplePath, uncommented)
	if perr != nil {
		t.Fatalf("%s with its optional keys uncommented does not parse: %s", samplePath, perr)
	}
	d := newDecoder(samplePath, testOptions(nil))
	d.decodeConfig(root, Default())
	for _, p := range d.problems {
		t.Errorf("optional key in the sample: %s", p)
	}
	var present []string
	for k := range d.origins {
		present = append(present, strings.ReplaceAll(regexp.MustCompile(`\[\d+\]`).ReplaceAllString(k, ""), `"`, ""))
	}
	for _, k := range keyPaths(reflect.TypeFor[Config](), "") {
		if !slices.Contains(present, k) {
			t.Errorf("%s lacks key %s", samplePath, k)
		}
	}
}
