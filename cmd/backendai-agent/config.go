package main

import (
	"errors"
	"fmt"
	"io"

	"strings"

	"github.com/baiagent/agent/configs"
)

// builtinSource names the built-in defaults in messages.
const builtinSource = "(built-in defaults)"

// loadedConfig is a validated configuration and where it came from.
type loadedConfig struct {
	cfg      *configs.Config
	path     string // "" for the built-in defaults
	warnings []configs.Warning
}

// loadConfig finds and loads agent.toml. With required, a missing file is an
// error listing the searched paths (the service needs an explicit config);
// without, the operator tools fall back to the built-in defaults.
func loadConfig(explicit string, required bool) (*loadedConfig, error) {
	path, searched, err := configs.Find(explicit, configs.FindOptions{})
	switch {
	case err == nil:
		cfg, warns, err := configs.Load(path, configs.Options{})
		if err != nil {
			return nil, err
		}
		return &loadedConfig{cfg: cfg, path: path, warnings: warns}, nil
	case errors.Is(err, configs.ErrNotFound) && explicit == "" && !required:
		cfg, warns, err := configs.Parse(builtinSource, nil, configs.Options{})
		if err != nil {
			return nil, err
		}
		return &loadedConfig{cfg: cfg, warnings: warns}, nil
	case errors.Is(err, configs.ErrNotFound) && explicit == "":
		return nil, fmt.Errorf("no agent.toml found; searched:\n  %s\n(give one with -f FILE)", strings.Join(searched, "\n  "))
	}
	return nil, err
}

// printProblems writes a load error: every problem on its own line.
func printProblems(w io.Writer, err error) {
	var probs configs.Problems
	if errors.As(err, &probs) {
		for _, p := range probs {
			fmt.Fprintln(w, p.String())
		}
		fmt.Fprintf(w, "%d problem(s) found\n", len(probs))
		return
	}
	fmt.Fprintln(w, err)
}

func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "show") {
		fmt.Fprint(stderr, "usage: backendai-agent config check|show [-f FILE]\n")
		return exitUsage
	}
	sub := args[0]
	fs := newFlagSet("config "+sub, stderr)
	if err := fs.parse(args[1:]); err != nil {
		return exitUsage
	}
	lc, err := loadConfig(fs.configFile, false)
	if err != nil {
		printProblems(stderr, err)
		return exitFailure
	}
	for _, w := range lc.warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.String())
	}
	if lc.path == "" {
		fmt.Fprintf(stderr, "note: no agent.toml found, using %s\n", builtinSource)
	}
	switch sub {
	case "check":
		fmt.Fprintln(stdout, "ok")
	case "show":
		out, err := lc.cfg.TOML(true)
		if err != nil {
			fmt.Fprintf(stderr, "render config: %v\n", err)
			return exitFailure
		}
		if lc.path != "" {
			fmt.Fprintf(stdout, "# effective configuration from %s\n", lc.path)
		} else {
			fmt.Fprintf(stdout, "# effective configuration: %s\n", builtinSource)
		}
		_, _ = stdout.Write(out)
	}
	return exitOK
}
