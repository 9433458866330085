package callosum

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors of the package, for errors.Is.
var (
	// ErrUnknownMethod is returned (possibly wrapped) by a Handler that has
	// no such method; the server answers ERROR instead of FAILURE.
	ErrUnknownMethod = errors.New("unknown RPC method")
	// ErrCancelled is returned by Client.Call when the server answers
	// CANCELLED without the caller having given up.
	ErrCancelled = errors.New("call cancelled by the server")
	// ErrClosed is returned by a closed Client, and by Serve on a server
	// that was closed or has served already.
	ErrClosed = errors.New("callosum: closed")
	// ErrHandshake is returned by Dial when the server does not answer the
	// connect-time PING (unreachable, or CURVE/ZAP refused the client).
	ErrHandshake = errors.New("callosum: no PONG from the server")

	errOversized = errors.New("message over the size limit")
)

// DefaultExceptionName is the exception class reported for a handler error
// that does not name one.
const DefaultExceptionName = "AgentError"

// unknownMethodException is the class upstream's dispatch raises for a
// missing function (a dict lookup).
const unknownMethodException = "KeyError"

// ExceptionNamer is implemented by handler errors that name the Python
// exception class the manager sees (e.g. "InsufficientResource"). The
// first one in the error's chain wins.
type ExceptionNamer interface {
	ExceptionName() string
}

// ExceptionReprer is implemented by handler errors that give their own
// Python repr; otherwise the repr is Name('<message>').
type ExceptionReprer interface {
	ExceptionRepr() string
}

// RemoteError is a FAILURE (the handler raised) or ERROR (the framework
// failed) reply, with upstream's metadata. It names itself, so a handler
// that returns one forwards the original exception class.
type RemoteError struct {
	Kind      MsgType // TypeFailure or TypeError
	Method    string
	Name      string // exception class, e.g. "InsufficientResource"
	Repr      string // Python repr of the exception
	Traceback string
}

// Error reports the method, the kind and the repr.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpc %s: %s: %s", e.Method, e.Kind, e.Repr)
}

// ExceptionName returns the remote exception class.
func (e *RemoteError) ExceptionName() string { return e.Name }

// ExceptionRepr returns the remote exception's repr.
func (e *RemoteError) ExceptionRepr() string { return e.Repr }

// namedError and reprError let errors.AsType find the interfaces above.
type (
	namedError interface {
		error
		ExceptionNamer
	}
	reprError interface {
		error
		ExceptionReprer
	}
)

// describe turns a handler error into the reply type and its metadata.
func describe(method string, err error) (MsgType, []byte) {
	kind, name := TypeFailure, DefaultExceptionName
	if errors.Is(err, ErrUnknownMethod) {
		kind, name = TypeError, unknownMethodException
	}
	if n, ok := errors.AsType[namedError](err); ok && n.ExceptionName() != "" {
		name = n.ExceptionName()
	}
	msg := err.Error()
	if kind == TypeError && name == unknownMethodException {
		msg = method
	}
	repr := name + "(" + pyRepr(msg) + ")"
	if r, ok := errors.AsType[reprError](err); ok && r.ExceptionRepr() != "" {
		repr = r.ExceptionRepr()
	}
	tb := "Traceback (most recent call last):\n  Go agent, RPC method " + pyRepr(method) +
		"\n" + name + ": " + err.Error() + "\n"
	return kind, encodeErrorMeta(name, repr, tb)
}

// pyRepr quotes s as Python's repr of a str does.
func pyRepr(s string) string {
	quote := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\\' || r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100 && !unicode.IsPrint(r) && r != ' ':
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r != ' ':
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}
