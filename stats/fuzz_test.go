package stats

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seed adds the named testdata files to f's corpus.
func seed(f *testing.F, files ...string) {
	f.Helper()
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

func FuzzParseProcStat(f *testing.F) {
	seed(f, "server/stat", "debian-vm/stat")
	f.Add("cpu0 1 2 3\n")
	f.Fuzz(func(t *testing.T, in string) {
		cpus, err := parseProcStat(strings.NewReader(in))
		if err == nil && len(cpus) == 0 {
			t.Error("no error and no cpus")
		}
		for _, c := range cpus {
			if c.busyMs().Sign() < 0 {
				t.Errorf("negative busy time %s", c.busyMs())
			}
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	seed(f, "server/meminfo", "debian-vm/meminfo")
	f.Add("MemTotal: 1 kB\nMemFree: 2 kB\n")
	f.Fuzz(func(t *testing.T, in string) {
		m, err := parseMeminfo(strings.NewReader(in))
		if err == nil && m.used > m.total {
			t.Errorf("used %d above total %d", m.used, m.total)
		}
	})
}

func FuzzParseNetDev(f *testing.F) {
	seed(f, "server/net/dev", "debian-vm/net/dev")
	f.Add("eth0:1 0 0 0 0 0 0 0 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := parseNetDev(strings.NewReader(in))
		if err == nil && (n.rx.Sign() < 0 || n.tx.Sign() < 0) {
			t.Errorf("negative totals %s %s", n.rx, n.tx)
		}
	})
}

func FuzzParseMountinfo(f *testing.F) {
	seed(f, "server/self/mountinfo", "debian-vm/self/mountinfo")
	f.Add("1 2 3:4 / /a\\040b rw - ext4  rw\n")
	f.Fuzz(func(t *testing.T, in string) {
		mounts, err := parseMountinfo(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(mounts) > strings.Count(in, "\n")+1 {
			t.Errorf("%d mounts from %d lines", len(mounts), strings.Count(in, "\n")+1)
		}
		// Selection never panics on what the parser accepts.
		diskCandidates(mounts, map[string]bool{"ext4": true}, []string{"/", "/a"})
	})
}

func FuzzParseFilesystems(f *testing.F) {
	seed(f, "server/filesystems", "debian-vm/filesystems")
	f.Fuzz(func(t *testing.T, in string) {
		types, err := parseFilesystems(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for k := range types {
			if k == "" || strings.ContainsAny(k, " \t\n") {
				t.Errorf("odd type %q", k)
			}
		}
	})
}

func FuzzUnescapeOctal(f *testing.F) {
	f.Add(`/a\040b\134c\011`)
	f.Fuzz(func(t *testing.T, in string) {
		if out := unescapeOctal(in); len(out) > len(in) {
			t.Errorf("unescaped %q grew to %q", in, out)
		}
	})
}
