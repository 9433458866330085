package cgroup

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/baiagent/agent/test/testenv"
)

// TestPrivilegedStat checks a Reader on a cgroup of its own on this host,
// v1 (or hybrid) or v2, at /backendai-test-stat-<random>.
func TestPrivilegedStat(t *testing.T) {
	if os.Getenv(statHelperEnv) != "" {
		runStatHelper() // exits
	}
	testenv.RequirePrivileged(t)
	mode, err := DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host cgroup mode %v", mode)
	path := fmt.Sprintf("/backendai-test-stat-%08x", rand.Uint32())
	if mode == ModeV2 {
		// On a v2 host the test cgroup's parent is the root, whose
		// controllers enableV2Controllers turns on for its children.
		t.Logf("v2 host: testing %s", path)
	}
	checkStatReader(t, newStatTestCgroup(t, mode, path), "TestPrivilegedStat")
}
