package logging

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/term"
	"gopkg.in/natefinch/lumberjack.v2"
)

// Options says how to build a logger. cmd fills it from [logging].
type Options struct {
	// Level applies to records of components without a level of their own.
	Level slog.Level
	// Components holds per-component levels (see ComponentLevels).
	Components map[string]slog.Level

	// Console enables the console driver, writing to ConsoleWriter
	// (os.Stderr when nil).
	Console       bool
	ConsoleWriter io.Writer
	ConsoleFormat Format
	// Colored forces color on or off; nil colors only when the console
	// writer is a terminal.
	Colored *bool

	// File enables the file driver.
	File *FileOptions
}

// FileOptions configures the rotating log file.
type FileOptions struct {
	Dir, Filename string
	Format        Format
	// RotationSize is the size in bytes at which the file is rotated.
	// Rotation works in whole MiB: smaller values round up to 1 MiB.
	RotationSize int64
	// BackupCount is how many rotated files are kept.
	BackupCount int
}

// New builds the logger and returns a closer for its files.
func New(o Options) (*slog.Logger, io.Closer, error) {
	var drivers fanout
	var closers multiCloser
	if o.Console {
		w := o.ConsoleWriter
		if w == nil {
			w = os.Stderr
		}
		color := isTerminal(w)
		if o.Colored != nil {
			color = *o.Colored && color
		}
		h, err := formatHandler(w, o.ConsoleFormat, color)
		if err != nil {
			return nil, nil, fmt.Errorf("console log: %w", err)
		}
		drivers = append(drivers, h)
	}
	if o.File != nil {
		if err := os.MkdirAll(o.File.Dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("create log directory: %w", err)
		}
		mib := int((o.File.RotationSize + (1<<20 - 1)) >> 20)
		if mib < 1 {
			mib = 1
		}
		lj := &lumberjack.Logger{
			Filename:   filepath.Join(o.File.Dir, o.File.Filename),
			MaxSize:    mib,
			MaxBackups: o.File.BackupCount,
		}
		h, err := formatHandler(lj, o.File.Format, false)
		if err != nil {
			return nil, nil, fmt.Errorf("file log: %w", err)
		}
		drivers = append(drivers, h)
		closers = append(closers, lj)
	}
	var inner slog.Handler = drivers
	if len(drivers) == 0 {
		inner = slog.DiscardHandler
	}
	minLevel := o.Level
	for _, l := range o.Components {
		minLevel = min(minLevel, l)
	}
	f := &levelFilter{next: inner, root: o.Level, components: o.Components, min: minLevel}
	return slog.New(f), closers, nil
}

func formatHandler(w io.Writer, format Format, color bool) (slog.Handler, error) {
	switch format {
	case FormatJSON:
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: LevelTrace, ReplaceAttr: jsonLevelNames}), nil
	case FormatSimple, FormatVerbose:
		return newTextHandler(w, format, color), nil
	case "":
		return newTextHandler(w, FormatVerbose, color), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want simple, verbose or json)", format)
}

// jsonLevelNames prints upstream's level names in JSON lines too.
func jsonLevelNames(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.LevelKey {
		if l, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(levelName(l))
		}
	}
	return a
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
