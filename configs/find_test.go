package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	cwd := filepath.Join(root, "cwd")
	home := filepath.Join(root, "home")
	etc := filepath.Join(root, "etc")
	cwdFile := filepath.Join(cwd, "agent.toml")
	homeFile := filepath.Join(home, ".config", "backend.ai", "agent.toml")
	etcFile := filepath.Join(etc, "agent.toml")
	envFile := filepath.Join(root, "env.toml")
	explicitFile := filepath.Join(root, "explicit.toml")
	defaultOrder := []string{cwdFile, homeFile, etcFile}

	tests := []struct {
		name     string
		files    []string // created before Find
		dirs     []string // created as directories, not files
		explicit string
		env      string
		want     string // "" means ErrNotFound
		searched []string
	}{
		{name: "nothing", searched: defaultOrder},
		{name: "etc", files: []string{etcFile}, want: etcFile, searched: defaultOrder},
		{name: "home before etc", files: []string{homeFile, etcFile}, want: homeFile, searched: defaultOrder},
		{name: "cwd first", files: []string{cwdFile, homeFile, etcFile}, want: cwdFile, searched: defaultOrder},
		{name: "directory is skipped", dirs: []string{cwdFile}, files: []string{etcFile}, want: etcFile, searched: defaultOrder},
		{name: "env wins", files: []string{envFile, cwdFile}, env: envFile, want: envFile, searched: []string{envFile}},
		{name: "env only", files: []string{cwdFile}, env: envFile, searched: []string{envFile}},
		{name: "relative env", files: []string{filepath.Join(cwd, "rel.toml")}, env: "rel.toml", want: filepath.Join(cwd, "rel.toml"), searched: []string{filepath.Join(cwd, "rel.toml")}},
		{name: "explicit wins", files: []string{explicitFile, envFile, cwdFile}, explicit: explicitFile, env: envFile, want: explicitFile, searched: []string{explicitFile}},
		{name: "explicit must exist", files: []string{cwdFile}, explicit: explicitFile, searched: []string{explicitFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.RemoveAll(root); err != nil {
				t.Fatal(err)
			}
			for _, d := range append([]string{cwd, home, etc}, tt.dirs...) {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o := FindOptions{
				Getenv:     func(k string) string { return map[string]string{"BACKEND_CONFIG_FILE": tt.env}[k] },
				Cwd:        cwd,
				Home:       home,
				SysConfDir: etc,
			}
			got, searched, err := Find(tt.explicit, o)
			if !reflect.DeepEqual(searched, tt.searched) {
				t.Errorf("searched %v, want %v", searched, tt.searched)
			}
			if tt.want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Find = %q, %v; want ErrNotFound", got, err)
				}
				for _, s := range tt.searched {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %s", err, s)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Find = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.toml"), testOptions(nil))
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read config ") {
		t.Fatalf("Load = %v, want a wrapped ErrNotExist", err)
	}
}
