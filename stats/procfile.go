package stats

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// readLines reads all of r and returns its lines without their line
// endings. /proc files are small, and reading them whole keeps a long
// line (the "intr" line of /proc/stat on a large machine) from tripping a
// scanner's limit.
func readLines(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var lines []string
	for line := range strings.Lines(string(b)) {
		lines = append(lines, strings.TrimSuffix(line, "\n"))
	}
	return lines, nil
}

// parseFile opens the file at path and parses it with parse; errors name
// the file.
func parseFile[T any](path string, parse func(io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
