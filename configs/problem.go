package configs

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the config file the problem is in ("" for an environment
	// variable or a Config checked by Validate).
	File string
	// Line and Col locate the problem in File (1-based); 0 when unknown.
	Line, Col int
	// Env is the environment variable the bad value came from, such as
	// "BACKEND_AGENT_PORT"; "" for problems in the file.
	Env string
	// Key is the dotted key path, such as "container.stats-type", as it is
	// spelled in the file; "" for problems of the file as a whole.
	Key string
	// Msg says what is wrong.
	Msg string
}

// String formats the problem as "file:line:col: key: msg", "file: key: msg"
// when it has no position, or "$BACKEND_X: key: msg" when it comes from the
// environment.
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.Env != "":
		b.WriteString("$" + p.Env)
	case p.File != "" && p.Line > 0:
		b.WriteString(p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col))
	default:
		b.WriteString(p.File)
	}
	if p.Key != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Key)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Warning is a note about a configuration that does not stop the agent,
// such as a key upstream knows but this agent ignores. It prints like a
// Problem.
type Warning = Problem

// Problems is every problem found in a configuration. As an error it reads
// one problem per line.
type Problems []Problem

// Error implements error.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// As lets errors.As find the problems through a *Problems target too.
func (ps Problems) As(target any) bool {
	if t, ok := target.(**Problems); ok {
		*t = &ps
		return true
	}
	return false
}

// sortProblems orders problems by position in the file; problems without a
// position follow, then those of environment variables, each group in the
// order they were found.
func sortProblems(ps []Problem) {
	group := func(p Problem) int {
		switch {
		case p.Env != "":
			return 2
		case p.Line == 0:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(group(a), group(b)),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
		)
	})
}
