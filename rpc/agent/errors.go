package agent

import (
	"context"
	"errors"
	"io/fs"

	"github.com/baiagent/agent/rpc/codec"
	"github.com/baiagent/agent/runtime"
	"github.com/baiagent/agent/runtime/alloc"
	"github.com/baiagent/agent/runtime/image"
)

// callError is a failed call as the manager sees it: the Python exception
// class name and the message (callosum.ExceptionNamer).
type callError struct {
	name string
	err  error
}

func (e *callError) Error() string         { return e.err.Error() }
func (e *callError) Unwrap() error         { return e.err }
func (e *callError) ExceptionName() string { return e.name }

// errInsufficient is an allocation that does not fit the node.
var errInsufficient = alloc.ErrInsufficient

// errUnavailable is a capability this agent was started without.
var errUnavailable = runtime.ErrUnavailable

// errPermission is a file operation that would leave the kernel's work dir.
var errPermission = errors.New("path escapes the kernel's work directory")

// typeError names a bad argument as Python would.
func typeError(err error) error { return &callError{name: "TypeError", err: err} }

// asCallError names err after the upstream exception the manager expects.
func asCallError(err error) *callError {
	var ce *callError
	if errors.As(err, &ce) {
		return ce
	}
	name := "AgentError"
	switch {
	case errors.Is(err, codec.ErrArgument):
		name = "TypeError"
	case errors.Is(err, alloc.ErrInsufficient):
		name = "InsufficientResource"
	case errors.Is(err, alloc.ErrUnknownSlot):
		name = "UnsupportedResource"
	case errors.Is(err, alloc.ErrInvalid), errors.Is(err, runtime.ErrInvalidArgument):
		name = "InvalidArgument"
	case errors.Is(err, image.ErrNotFound), errors.Is(err, image.ErrNotAvailable):
		name = "ImageNotAvailable"
	case errors.Is(err, runtime.ErrNotFound):
		name = "KernelNotFound"
	case errors.Is(err, runtime.ErrAlreadyExists):
		name = "KernelAlreadyExists"
	case errors.Is(err, errPermission), errors.Is(err, fs.ErrPermission):
		name = "PermissionError"
	case errors.Is(err, fs.ErrNotExist):
		name = "FileNotFoundError"
	case errors.Is(err, context.Canceled):
		name = "CancelledError"
	case errors.Is(err, context.DeadlineExceeded):
		name = "TimeoutError"
	}
	return &callError{name: name, err: err}
}
