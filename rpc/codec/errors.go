package codec

import "errors"

// ErrForbiddenClass is returned for a pickle that names a class or function
// outside the allowed set; the error text names it as module.name.
var ErrForbiddenClass = errors.New("forbidden class")

// ErrArgument is matched (errors.Is) by every *ArgError from the Call
// accessors: a missing argument, one given twice, or one of the wrong type.
var ErrArgument = errors.New("bad argument")
