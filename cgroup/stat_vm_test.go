package cgroup

import (
	"os"
	"testing"

	"github.com/baiagent/agent/test/testenv"
)

// TestVMStat checks a Reader on cgroup v2 in the VM lane's guest, with the
// checks that TestPrivilegedStat runs on a v1 host, on
// /sys/fs/cgroup/backendai-test-stat. The guest has no block device, so
// its I/O is not accounted and the test expects IOAccounted false.
func TestVMStat(t *testing.T) {
	if os.Getenv(statHelperEnv) != "" {
		runStatHelper() // exits
	}
	testenv.RequireVMGuest(t)
	mode, err := DetectMode("")
	if err != nil || mode != ModeV2 {
		t.Fatalf("guest cgroup mode %v (%v), want v2", mode, err)
	}
	checkStatReader(t, newStatTestCgroup(t, ModeV2, "/backendai-test-stat"), "TestVMStat")
}
