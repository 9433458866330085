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
