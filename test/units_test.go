package test

import (
	"os"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
)

// unitOptions parses a unit file into section.name -> values.
func unitOptions(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := map[string][]string{}
	for _, o := range opts {
		k := o.Section + "." + o.Name
		out[k] = append(out[k], o.Value)
	}
	return out
}

// TestSystemdUnits checks the properties that the agent's promises rest on:
// notify start-up, kernels surviving a stop (KillMode=process), a delegated
// cgroup subtree, and the install guide's stop timeouts and limits.
func TestSystemdUnits(t *testing.T) {
	for _, tc := range []struct {
		file    string
		command string
		want    map[string]string
	}{
		{"../configs/systemd/backendai-agent.service", "server", map[string]string{
			"Service.Type": "notify", "Service.KillMode": "process", "Service.Delegate": "yes",
			"Service.KillSignal": "SIGINT", "Service.TimeoutStopSec": "5", "Service.Restart": "on-failure",
			"Service.RestartSec": "10", "Service.LimitNOFILE": "5242880", "Service.LimitNPROC": "131072",
			"Install.WantedBy": "multi-user.target",
		}},
		{"../configs/systemd/backendai-watcher.service", "watcher", map[string]string{
			"Service.Type": "notify", "Service.KillMode": "process", "Service.Delegate": "yes",
			"Service.KillSignal": "SIGTERM", "Service.TimeoutStopSec": "3", "Service.Restart": "on-failure",
			"Service.RestartSec": "5", "Install.WantedBy": "multi-user.target",
		}},
	} {
		t.Run(tc.command, func(t *testing.T) {
			got := unitOptions(t, tc.file)
			for k, v := range tc.want {
				if len(got[k]) != 1 || got[k][0] != v {
					t.Errorf("%s = %v, want %s", k, got[k], v)
				}
			}
			exec := strings.Fields(strings.Join(got["Service.ExecStart"], " "))
			if len(exec) < 2 || !strings.HasSuffix(exec[0], "/backendai-agent") || exec[1] != tc.command {
				t.Errorf("ExecStart = %v, want backendai-agent %s ...", exec, tc.command)
			}
		})
	}
}
