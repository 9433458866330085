package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrGone means the cgroup no longer exists: its kernel ended and the
// cgroup was removed, before Open or between two reads. It also matches
// fs.ErrNotExist.
var ErrGone error = goneError{}

// ErrMalformed means a cgroup file did not have the expected format. The
// wrapping error names the file and what was wrong.
var ErrMalformed = errors.New("malformed cgroup file")

// goneError is the type of ErrGone.
type goneError struct{}

func (goneError) Error() string { return "cgroup is gone" }

// Is makes ErrGone match fs.ErrNotExist.
func (goneError) Is(target error) bool { return target == fs.ErrNotExist }

// malformed returns the error for a bad line of the file name; text is
// the offending part, quoted up to 64 bytes.
func malformed(name string, line int, what string, text []byte) error {
	const maxQuote = 64
	if len(text) > maxQuote {
		return fmt.Errorf("%s line %d: %s: %q...: %w", name, line, what, text[:maxQuote], ErrMalformed)
	}
	return fmt.Errorf("%s line %d: %s: %q: %w", name, line, what, text, ErrMalformed)
}
