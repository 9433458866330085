package stats

import (
	"errors"
	"fmt"
)

// ErrMalformed means a /proc file did not have the expected format. The
// wrapping error names the file, the line and what was wrong.
var ErrMalformed = errors.New("malformed proc file")

// malformed returns the error for line (1-based) of a parsed file; text
// is the offending part, quoted up to 64 bytes.
func malformed(line int, what, text string) error {
	const maxQuote = 64
	if len(text) > maxQuote {
		return fmt.Errorf("line %d: %s: %q...: %w", line, what, text[:maxQuote], ErrMalformed)
	}
	return fmt.Errorf("line %d: %s: %q: %w", line, what, text, ErrMalformed)
}
