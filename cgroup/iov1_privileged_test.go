package cgroup

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baiagent/agent/test/testenv"
)

// TestPrivilegedEnableV1IOAccounting: on v1 every disk gets a write rule
// of 1 TiB/s on the given cgroup (made if missing); on v2 nothing is done.
func TestPrivilegedEnableV1IOAccounting(t *testing.T) {
	testenv.RequirePrivileged(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	path := "/backendai-test-iov1-" + hex.EncodeToString(b)
	mode, err := DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := EnableV1IOAccounting("", path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(Root, "blkio", path)
	t.Cleanup(func() { _ = os.Remove(dir) })
	if mode == ModeV2 {
		if len(devs) != 0 {
			t.Errorf("v2: devices %v set", devs)
		}
		return
	}
	if len(devs) == 0 {
		t.Fatal("v1: no disk got a rule")
	}
	rules, err := os.ReadFile(filepath.Join(dir, "blkio.throttle.write_bps_device"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if !strings.Contains(string(rules), d+" "+neverBitesBps) {
			t.Errorf("rule for %s missing: %q", d, rules)
		}
	}
	if _, err := EnableV1IOAccounting("", "relative"); err == nil {
		t.Error("a relative path was accepted")
	}
}
