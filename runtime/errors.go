package runtime

import "errors"

// Error classes of the runtime, for errors.Is. The rpc layer maps them to
// the manager's error kinds in one place.
var (
	ErrNotFound           = errors.New("kernel not found")
	ErrAlreadyExists      = errors.New("kernel already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnavailable        = errors.New("unavailable")
)
