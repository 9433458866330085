package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// runPrestart runs one prestart action of upstream's service_actions and
// returns its result, which the action's "ref" names for later templates.
func runPrestart(ctx context.Context, a PrestartAction, vars map[string]any, env []string, log *slog.Logger) (any, error) {
	var args struct {
		Filename string   `json:"filename"`
		Body     []string `json:"body"`
		Mode     string   `json:"mode"`
		Append   bool     `json:"append"`
		Command  []string `json:"command"`
		Echo     bool     `json:"echo"`
		Path     string   `json:"path"`
		Message  string   `json:"message"`
		Debug    bool     `json:"debug"`
	}
	if len(a.Args) > 0 {
		if err := json.Unmarshal(a.Args, &args); err != nil {
			return nil, fmt.Errorf("prestart %s: bad args: %w", a.Action, err)
		}
	}
	expand := func(ss ...string) ([]string, error) {
		out := make([]string, len(ss))
		for i, s := range ss {
			v, err := interpolate(s, vars)
			if err != nil {
				return nil, fmt.Errorf("prestart %s: %w", a.Action, err)
			}
			out[i] = v
		}
		return out, nil
	}
	mode := os.FileMode(0o644)
	if args.Mode != "" {
		m, err := strconv.ParseUint(args.Mode, 8, 32)
		if err != nil {
			return nil, fmt.Errorf("prestart %s: bad mode %q: %w", a.Action, args.Mode, err)
		}
		mode = os.FileMode(m)
	}
	switch a.Action {
	case "write_file":
		parts, err := expand(append([]string{args.Filename}, args.Body...)...)
		if err != nil {
			return nil, err
		}
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if args.Append {
			flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		body := strings.Join(parts[1:], "\n")
		if len(parts) > 1 {
			body += "\n"
		}
		if err := writeFileMode(parts[0], flags, mode, body); err != nil {
			return nil, fmt.Errorf("prestart write_file: %w", err)
		}
		return nil, nil
	case "write_tempfile":
		body, err := expand(args.Body...)
		if err != nil {
			return nil, err
		}
		f, err := os.CreateTemp("", "*.py")
		if err != nil {
			return nil, fmt.Errorf("prestart write_tempfile: %w", err)
		}
		name := f.Name()
		_ = f.Close()
		// Upstream writes the lines without separators; so do we.
		if err := writeFileMode(name, os.O_WRONLY|os.O_TRUNC, mode, strings.Join(body, "")); err != nil {
			return nil, fmt.Errorf("prestart write_tempfile: %w", err)
		}
		return name, nil
	case "mkdir":
		p, err := expand(args.Path)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(p[0], 0o755); err != nil {
			return nil, fmt.Errorf("prestart mkdir: %w", err)
		}
		return nil, nil
	case "log":
		m, err := expand(args.Message)
		if err != nil {
			return nil, err
		}
		level := slog.LevelInfo
		if args.Debug {
			level = slog.LevelDebug
		}
		log.Log(ctx, level, "service prestart", "message", m[0])
		return nil, nil
	case "run_command":
		if len(args.Command) == 0 {
			return nil, fmt.Errorf("prestart run_command: empty command")
		}
		argv, err := expand(args.Command...)
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = env
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			log.Warn("service prestart command failed", "argv0", argv[0], "error", err)
		}
		if args.Echo {
			_, _ = os.Stderr.WriteString(out.String() + errb.String())
		}
		return map[string]string{"out": out.String(), "err": errb.String()}, nil
	default:
		return nil, fmt.Errorf("invalid prestart action %q", a.Action)
	}
}

func writeFileMode(name string, flags int, mode os.FileMode, body string) error {
	f, err := os.OpenFile(name, flags, mode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(name, mode)
}
