package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baiagent/agent/test/fixtures"
	"github.com/baiagent/agent/test/testenv"
)

// TestPrivilegedImageImportAndList is the CLI acceptance test: import the
// busybox fixture from a docker save archive, then `image list` shows it
// with its config digest, `image inspect` prints its record, and `image rm`
// removes it with its layer.
func TestPrivilegedImageImportAndList(t *testing.T) {
	testenv.RequirePrivileged(t)
	img, err := fixtures.Busybox(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfgDigest, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "busybox.tar")
	if err := fixtures.WriteDockerSave(img, archive, "bai/busybox:1.0"); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "agent.toml")
	writeFile(t, conf, fmt.Sprintf("[agent]\nbackend = \"docker\"\nvar-base-path = %q\n", filepath.Join(dir, "var")))

	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(context.Background(), append(args, "-f", conf), &out, &errOut); code != 0 {
			t.Fatalf("%v exited %d:\n%s%s", args, code, out.String(), errOut.String())
		}
		return out.String()
	}
	got := cli("image", "import", archive, "--tag", "local/busybox:imported")
	if !strings.HasPrefix(got, cfgDigest.String()+" ") {
		t.Fatalf("import printed %q, want the config digest %s first", got, cfgDigest)
	}
	list := cli("image", "list")
	if !strings.Contains(list, "index.docker.io/local/busybox:imported") || !strings.Contains(list, cfgDigest.String()) {
		t.Fatalf("image list:\n%s", list)
	}
	if insp := cli("image", "inspect", "local/busybox:imported"); !strings.Contains(insp, `"id": "`+cfgDigest.String()+`"`) {
		t.Fatalf("image inspect:\n%s", insp)
	}
	if rm := cli("image", "rm", cfgDigest.String()); !strings.Contains(rm, "1 unused layers deleted") {
		t.Fatalf("image rm: %s", rm)
	}
	if list := cli("image", "list"); strings.Contains(list, cfgDigest.String()) {
		t.Fatalf("image still listed after rm:\n%s", list)
	}
}
