package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
)

// version is set at link time by the Makefile (-X main.version=...).
var version = "dev"

// versionString is the version plus the VCS revision Go recorded, if any.
func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if rev != "" {
		return fmt.Sprintf("%s (%s, %s)", version, rev, goruntime.Version())
	}
	return fmt.Sprintf("%s (%s)", version, goruntime.Version())
}
