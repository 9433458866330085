package main

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/baiagent/agent/configs"
	"github.com/baiagent/agent/internal/logging"
)

// newLogger builds the process logger from [logging], the --debug flag
// (DEBUG everywhere) and --log-level (overrides the root level).
func newLogger(c configs.Logging, debug bool, levelFlag string, console io.Writer) (*slog.Logger, io.Closer, error) {
	levelName := c.Level
	if levelFlag != "" {
		levelName = levelFlag
	}
	level, err := logging.ParseLevel(levelName)
	if err != nil {
		return nil, nil, err
	}
	rootNS, comps, ignored, err := logging.ComponentLevels(c.PkgNS)
	if err != nil {
		return nil, nil, err
	}
	// As upstream, a record must pass both the handler level (`level`) and
	// its logger's level from pkg-ns, so each component gets the higher of
	// the two; lines of no known component use the "" entry. --debug and
	// --log-level replace all of that with one level.
	switch {
	case debug:
		level, comps = slog.LevelDebug, nil
	case levelFlag != "":
		comps = nil
	default:
		for c, l := range comps {
			comps[c] = max(l, level)
		}
		if rootNS != nil {
			level = max(level, *rootNS)
		}
	}
	o := logging.Options{Level: level, Components: comps}
	if slices.Contains(c.Drivers, "console") {
		o.Console, o.ConsoleWriter, o.ConsoleFormat, o.Colored = true, console, logging.Format(c.Console.Format), c.Console.Colored
	}
	if slices.Contains(c.Drivers, "file") {
		o.File = &logging.FileOptions{
			Dir: c.File.Path, Filename: c.File.Filename, Format: logging.Format(c.File.Format),
			RotationSize: int64(c.File.RotationSize), BackupCount: c.File.BackupCount,
		}
	}
	log, closer, err := logging.New(o)
	if err != nil {
		return nil, nil, fmt.Errorf("set up logging: %w", err)
	}
	if len(ignored) > 0 {
		log.Debug("pkg-ns entries with no matching component", "namespaces", ignored)
	}
	return log, closer, nil
}
