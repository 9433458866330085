package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors of the package, for errors.Is.
var (
	// ErrUnavailable is wrapped by the error of a call that etcd did not
	// answer within the call timeout, or that it refused as unavailable.
	ErrUnavailable = errors.New("etcd unavailable")
	// ErrNotRegistered is returned by Agent.SetRunning before Register.
	ErrNotRegistered = errors.New("agent not registered")
)

// callError wraps err, the failure of operation op on key; it wraps
// ErrUnavailable too when etcd did not answer in time or said it is
// unavailable. parent is the caller's context: when it ended, the failure
// is the caller's, not etcd's.
func callError(parent context.Context, op, key string, timeout time.Duration, err error) error {
	if parent.Err() != nil {
		return fmt.Errorf("etcd %s %q: %w", op, key, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("etcd %s %q: %w (no reply within %s): %w", op, key, ErrUnavailable, timeout, err)
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return fmt.Errorf("etcd %s %q: %w: %w", op, key, ErrUnavailable, err)
	}
	return fmt.Errorf("etcd %s %q: %w", op, key, err)
}
