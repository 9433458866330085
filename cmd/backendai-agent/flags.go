package main

import (
	"flag"
	"io"
)

// commonFlags are the flags every command takes.
type commonFlags struct {
	*flag.FlagSet
	configFile string
	debug      bool
	logLevel   string
}

func newFlagSet(name string, stderr io.Writer) *commonFlags {
	c := &commonFlags{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.SetOutput(stderr)
	c.StringVar(&c.configFile, "f", "", "path to agent.toml")
	c.StringVar(&c.configFile, "config", "", "path to agent.toml (same as -f)")
	c.BoolVar(&c.debug, "debug", false, "log at DEBUG level and enable debug behaviour")
	c.StringVar(&c.logLevel, "log-level", "", "override [logging] level (TRACE, DEBUG, INFO, WARNING, ERROR, CRITICAL)")
	return c
}

func (c *commonFlags) parse(args []string) error { return c.Parse(args) }

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns the positional ones; "--" ends the
// flags. With raw, every argument after the first positional one
// is positional, so that JSON such as -1 is not taken for a flag.
func parseInterspersed(fs *commonFlags, args []string, raw bool) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--" (and drops it) or at a positional argument.
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		if raw {
			rest = rest[1:]
			if len(rest) > 0 && rest[0] == "--" {
				rest = rest[1:]
			}
			return append(pos, rest...), nil
		}
		args = rest[1:]
	}
}
