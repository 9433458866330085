package configs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is returned, wrapped with the list of searched paths, when no
// config file exists.
var ErrNotFound = errors.New("config file not found")

// FindOptions tune Find; the zero value uses the process environment.
type FindOptions struct {
	// Getenv reads $BACKEND_CONFIG_FILE; nil means os.Getenv.
	Getenv func(string) string
	// Cwd is the directory searched for ./agent.toml; "" means os.Getwd.
	Cwd string
	// Home is the home directory searched for .config/backend.ai/agent.toml;
	// "" means os.UserHomeDir, and that directory is skipped if unknown.
	Home string
	// SysConfDir replaces /etc/backend.ai (for tests).
	SysConfDir string
}

// Find returns the config file to load and every path it looked at, in the
// order of upstream's find_config_file:
//
//  1. explicit (the -f flag), if non-empty; it must exist;
//  2. otherwise $BACKEND_CONFIG_FILE, if set; it must exist, and nothing
//     else is searched (as upstream);
//  3. otherwise ./agent.toml, ~/.config/backend.ai/agent.toml and
//     /etc/backend.ai/agent.toml, the first that is a regular file.
//
// Upstream's development-only lookup of an ancestor directory holding
// BUILD_ROOT is not done. Relative paths are taken from the working
// directory. When nothing is found the error wraps ErrNotFound and names the
// searched paths.
func Find(explicit string, o FindOptions) (path string, searched []string, err error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Cwd == "" {
		if o.Cwd, err = os.Getwd(); err != nil {
			return "", nil, fmt.Errorf("get working directory: %w", err)
		}
	}
	if o.Home == "" {
		o.Home, _ = os.UserHomeDir() // unknown home: skip that candidate
	}
	if o.SysConfDir == "" {
		o.SysConfDir = "/etc/backend.ai"
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(o.Cwd, p)
	}
	var candidates []string
	switch env := o.Getenv("BACKEND_CONFIG_FILE"); {
	case explicit != "":
		candidates = []string{abs(explicit)}
	case env != "":
		candidates = []string{abs(env)}
	default:
		candidates = append(candidates, filepath.Join(o.Cwd, "agent.toml"))
		if o.Home != "" {
			candidates = append(candidates, filepath.Join(o.Home, ".config", "backend.ai", "agent.toml"))
		}
		candidates = append(candidates, filepath.Join(o.SysConfDir, "agent.toml"))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return c, candidates, nil
		}
	}
	return "", candidates, fmt.Errorf("%w; searched: %s", ErrNotFound, strings.Join(candidates, ", "))
}
