package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// defaultPath is PATH when the image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BuildChildEnv returns the environment of cells, batch steps and services,
// as upstream's BaseRunner builds it: base, then LANG/HOME/TERM, then the
// KEY=VALUE lines of environFile (missing is fine, "" skips it), with the
// user's ~/.local/bin and the CUDA directories put first in PATH.
func BuildChildEnv(base []string, home, environFile string) ([]string, error) {
	env := newEnvMap(base)
	env.set("LANG", "C.UTF-8")
	env.set("HOME", home)
	env.set("TERM", "xterm")
	if _, ok := env.get("PATH"); !ok {
		env.set("PATH", defaultPath)
	}
	if _, ok := env.get("SHELL"); !ok {
		env.set("SHELL", "/bin/sh")
	}
	var errOut error
	if environFile != "" {
		b, err := os.ReadFile(environFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errOut = fmt.Errorf("runner: read %s: %w", environFile, err)
		default:
			sc := bufio.NewScanner(bytes.NewReader(b))
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				if k, v, ok := strings.Cut(sc.Text(), "="); ok && k != "" {
					env.set(k, v)
				}
			}
			if err := sc.Err(); err != nil {
				errOut = fmt.Errorf("runner: read %s: %w", environFile, err)
			}
		}
	}
	path, _ := env.get("PATH")
	for _, dir := range []string{"/usr/local/cuda/bin", "/usr/local/nvidia/bin", "/home/linuxbrew/.linuxbrew/bin"} {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			path = promotePath(path, dir)
		}
	}
	env.set("PATH", promotePath(path, home+"/.local/bin"))
	return env.list(), errOut
}

// promotePath puts dir first in a PATH value, removing other copies.
func promotePath(path, dir string) string {
	out := []string{dir}
	for _, p := range strings.Split(path, ":") {
		if p != dir && p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ":")
}

// envMap is an environment that keeps the order of first appearance.
type envMap struct {
	keys []string
	vals map[string]string
}

func newEnvMap(base []string) *envMap {
	m := &envMap{vals: make(map[string]string, len(base))}
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m.set(k, v)
		}
	}
	return m
}

func (m *envMap) get(k string) (string, bool) {
	v, ok := m.vals[k]
	return v, ok
}

func (m *envMap) set(k, v string) {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
}

func (m *envMap) list() []string {
	out := make([]string, 0, len(m.keys))
	for _, k := range m.keys {
		out = append(out, k+"="+m.vals[k])
	}
	return out
}

// withEnv returns env with the given KEY=VALUE pairs set over it.
func withEnv(env []string, kv ...string) []string {
	m := newEnvMap(env)
	for _, p := range kv {
		if k, v, ok := strings.Cut(p, "="); ok {
			m.set(k, v)
		}
	}
	return m.list()
}
