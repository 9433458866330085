package events

import "errors"

// Errors of the package, for errors.Is.
var (
	// ErrInvalidOptions is returned by New for options it cannot use.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrInvalidEvent is returned by Publish for an event without a name
	// or a delivery, or whose body does not encode.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrClosed is returned by the methods of a closed Producer.
	ErrClosed = errors.New("events: producer closed")
)
