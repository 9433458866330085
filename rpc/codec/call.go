package codec

import "fmt"

// Call is the body of a Callosum FUNCTION request: the method's positional
// and keyword arguments.
type Call struct {
	Args   []any
	Kwargs map[string]any
}

// DecodeCall decodes a call body, {"args": [...], "kwargs": {...}} with
// str keyword names. Other keys are ignored, as upstream's server does.
func DecodeCall(body []byte) (Call, error) {
	v, err := Decode(body)
	if err != nil {
		return Call{}, fmt.Errorf("decode call: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Call{}, fmt.Errorf("decode call: body is a %s, want a dict with str keys", TypeName(v))
	}
	rawArgs, ok := m["args"]
	if !ok {
		return Call{}, fmt.Errorf("decode call: no \"args\"")
	}
	args, ok := rawArgs.([]any)
	if !ok {
		return Call{}, fmt.Errorf("decode call: \"args\" is a %s, want a list", TypeName(rawArgs))
	}
	rawKwargs, ok := m["kwargs"]
	if !ok {
		return Call{}, fmt.Errorf("decode call: no \"kwargs\"")
	}
	kwargs, ok := rawKwargs.(map[string]any)
	if !ok {
		return Call{}, fmt.Errorf("decode call: \"kwargs\" is a %s, want a dict with str keys", TypeName(rawKwargs))
	}
	return Call{Args: args, Kwargs: kwargs}, nil
}

// ArgError is a problem with one argument of a Call; errors.Is(err,
// ErrArgument) matches it.
type ArgError struct {
	Index  int    // position, from 0 (the message counts from 1)
	Name   string // keyword
	Reason string // e.g. "missing", "want str, got int"
}

// Error reads like "argument 2 (kernel_id): want str, got int".
func (e *ArgError) Error() string {
	return fmt.Sprintf("argument %d (%s): %s", e.Index+1, e.Name, e.Reason)
}

// Unwrap returns ErrArgument.
func (e *ArgError) Unwrap() error { return ErrArgument }

// Lookup returns argument i, given by position or by the keyword name;
// ok is false when it is absent. Both at once is an error, as in Python.
func (c Call) Lookup(i int, name string) (v any, ok bool, err error) {
	kv, byName := c.Kwargs[name]
	if i >= 0 && i < len(c.Args) {
		if byName {
			return nil, false, &ArgError{Index: i, Name: name, Reason: "given by position and by keyword"}
		}
		return c.Args[i], true, nil
	}
	return kv, byName, nil
}

// Has reports whether argument i is given and not None.
func (c Call) Has(i int, name string) bool {
	v, ok, err := c.Lookup(i, name)
	return ok && err == nil && v != nil
}

// Value returns argument i, which must be given (it may be None).
func (c Call) Value(i int, name string) (any, error) {
	v, ok, err := c.Lookup(i, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &ArgError{Index: i, Name: name, Reason: "missing"}
	}
	return v, nil
}

// want looks up argument i and converts it with conv, which reports
// whether the value has the wanted type.
func want[T any](c Call, i int, name, typ string, conv func(any) (T, bool)) (T, error) {
	var zero T
	v, err := c.Value(i, name)
	if err != nil {
		return zero, err
	}
	out, ok := conv(v)
	if !ok {
		return zero, &ArgError{Index: i, Name: name, Reason: fmt.Sprintf("want %s, got %s", typ, TypeName(v))}
	}
	return out, nil
}

// String returns a str argument; a StrEnum member counts, since it is a
// str in Python.
func (c Call) String(i int, name string) (string, error) {
	return want(c, i, name, "str", func(v any) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case Enum:
			s, ok := x.Value.(string)
			return s, ok
		}
		return "", false
	})
}

// Int returns an int argument (BinarySize and IntEnum members included,
// bool excluded) that fits int64.
func (c Call) Int(i int, name string) (int64, error) {
	return want(c, i, name, "int", func(v any) (int64, bool) {
		switch x := v.(type) {
		case int64:
			return x, true
		case BinarySize:
			return int64(x), true
		case Enum:
			n, ok := x.Value.(int64)
			return n, ok
		}
		return 0, false
	})
}

// Float returns a float argument; an int is taken as Python would.
func (c Call) Float(i int, name string) (float64, error) {
	return want(c, i, name, "float", func(v any) (float64, bool) {
		switch x := v.(type) {
		case float64:
			return x, true
		case int64:
			return float64(x), true
		case uint64:
			return float64(x), true
		}
		return 0, false
	})
}

// Bool returns a bool argument.
func (c Call) Bool(i int, name string) (bool, error) {
	return want(c, i, name, "bool", func(v any) (bool, bool) {
		b, ok := v.(bool)
		return b, ok
	})
}

// Bytes returns a bytes argument.
func (c Call) Bytes(i int, name string) ([]byte, error) {
	return want(c, i, name, "bytes", func(v any) ([]byte, bool) {
		b, ok := v.([]byte)
		return b, ok
	})
}

// List returns a list (msgpack array) argument.
func (c Call) List(i int, name string) ([]any, error) {
	return want(c, i, name, "list", func(v any) ([]any, bool) {
		l, ok := v.([]any)
		return l, ok
	})
}

// Map returns a dict argument whose keys are all str.
func (c Call) Map(i int, name string) (map[string]any, error) {
	return want(c, i, name, "dict with str keys", func(v any) (map[string]any, bool) {
		m, ok := v.(map[string]any)
		return m, ok
	})
}

// UUID returns a UUID argument, given as a UUID or as its str form.
func (c Call) UUID(i int, name string) (UUID, error) {
	return want(c, i, name, "UUID", func(v any) (UUID, bool) {
		switch x := v.(type) {
		case UUID:
			return x, true
		case string:
			u, err := ParseUUID(x)
			return u, err == nil
		}
		return UUID{}, false
	})
}
