package codec

import (
	"errors"
	"fmt"
	"strings"
)

// Upstream's module paths of the pickled classes.
const (
	modTypes  = "ai.backend.common.types"
	modDocker = "ai.backend.common.docker"
)

// classKind is what the machine may do with a class.
type classKind int

const (
	kindDecimal      classKind = iota + 1 // REDUCE (str,)
	kindEnum                              // REDUCE (scalar,)
	kindGetattr                           // REDUCE (enum class, member name)
	kindImageRef                          // NEWOBJ () + BUILD
	kindResourceSlot                      // NEWOBJ () + BUILD
	kindSlotName                          // NEWOBJ (str,) + BUILD
	kindBinarySize                        // NEWOBJ (int,)
)

// pyClass is a class or function a GLOBAL named and the allowlist admits.
type pyClass struct {
	module, name string
	kind         classKind
}

// lookupClass admits the classes upstream pickles and nothing else: any
// class under ai.backend is taken for an enum, and may only be called
// with one scalar.
func lookupClass(module, name string) (*pyClass, error) {
	if module == "__builtin__" { // protocol 2 written by Python 3
		module = "builtins"
	}
	c := &pyClass{module: module, name: name}
	switch module + "." + name {
	case "decimal.Decimal":
		c.kind = kindDecimal
	case "builtins.getattr":
		c.kind = kindGetattr
	case modDocker + ".ImageRef":
		c.kind = kindImageRef
	case modTypes + ".ResourceSlot":
		c.kind = kindResourceSlot
	case modTypes + ".SlotName":
		c.kind = kindSlotName
	case modTypes + ".BinarySize":
		c.kind = kindBinarySize
	default:
		if (module != "ai.backend" && !strings.HasPrefix(module, "ai.backend.")) ||
			!dottedName(module) || !dottedName(name) {
			return nil, fmt.Errorf("%w %s.%s", ErrForbiddenClass, module, name)
		}
		c.kind = kindEnum
	}
	return c, nil
}

// dottedName reports whether s is identifiers joined by dots, none of them
// a dunder.
func dottedName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !identifier(part) || strings.HasPrefix(part, "__") {
			return false
		}
	}
	return true
}

// identifier reports whether s is an ASCII Python identifier.
func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !alpha && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func (u *unpickler) global() error {
	module, err := u.readLine()
	if err != nil {
		return err
	}
	name, err := u.readLine()
	if err != nil {
		return err
	}
	c, err := lookupClass(module, name)
	if err != nil {
		return err
	}
	return u.push(c)
}

func (u *unpickler) stackGlobal() error {
	name, err := u.pop()
	if err != nil {
		return err
	}
	module, err := u.pop()
	if err != nil {
		return err
	}
	ms, ok1 := module.(string)
	ns, ok2 := name.(string)
	if !ok1 || !ok2 {
		return errors.New("STACK_GLOBAL operands are not str")
	}
	c, err := lookupClass(ms, ns)
	if err != nil {
		return err
	}
	return u.push(c)
}

// popCall pops the args tuple and the class below it.
func (u *unpickler) popCall(op string) (*pyClass, pyTuple, error) {
	a, err := u.pop()
	if err != nil {
		return nil, nil, err
	}
	f, err := u.pop()
	if err != nil {
		return nil, nil, err
	}
	args, ok := a.(pyTuple)
	if !ok {
		return nil, nil, fmt.Errorf("%s arguments are a %s, not a tuple", op, TypeName(a))
	}
	c, ok := f.(*pyClass)
	if !ok {
		return nil, nil, fmt.Errorf("%s of a %s", op, TypeName(f))
	}
	return c, args, nil
}

func (u *unpickler) reduce() error {
	c, args, err := u.popCall("REDUCE")
	if err != nil {
		return err
	}
	switch c.kind {
	case kindDecimal:
		s, ok := oneArg(args).(string)
		if len(args) != 1 || !ok {
			return errors.New("decimal.Decimal wants one str")
		}
		d, err := ParseDecimal(s)
		if err != nil {
			return err
		}
		return u.push(d)
	case kindEnum:
		if len(args) != 1 || !scalar(args[0]) {
			return fmt.Errorf("enum %s.%s wants one scalar value", c.module, c.name)
		}
		return u.push(Enum{Module: c.module, Class: c.name, Value: args[0]})
	case kindGetattr:
		return u.getattr(args)
	}
	return fmt.Errorf("%s.%s cannot be called", c.module, c.name)
}

// getattr admits getattr(EnumClass, "MEMBER"): an enum member by name.
func (u *unpickler) getattr(args pyTuple) error {
	if len(args) != 2 {
		return errors.New("getattr wants two arguments")
	}
	c, ok := args[0].(*pyClass)
	if !ok || c.kind != kindEnum {
		return fmt.Errorf("%w builtins.getattr on a %s", ErrForbiddenClass, TypeName(args[0]))
	}
	member, ok := args[1].(string)
	if !ok || !identifier(member) || strings.HasPrefix(member, "_") {
		return fmt.Errorf("enum %s.%s: bad member name %q", c.module, c.name, args[1])
	}
	return u.push(Enum{Module: c.module, Class: c.name, Member: member})
}

func oneArg(args pyTuple) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

// scalar reports whether v can be an enum's value.
func scalar(v any) bool {
	switch v.(type) {
	case nil, bool, int64, float64, string, []byte:
		return true
	}
	return false
}

func (u *unpickler) newObj() error {
	c, args, err := u.popCall("NEWOBJ")
	if err != nil {
		return err
	}
	ok := false
	switch c.kind {
	case kindImageRef, kindResourceSlot:
		ok = len(args) == 0
	case kindSlotName:
		_, isStr := oneArg(args).(string)
		ok = len(args) == 1 && isStr
	case kindBinarySize:
		_, isInt := oneArg(args).(int64)
		ok = len(args) == 1 && isInt
	default:
		return fmt.Errorf("%s.%s cannot be instantiated", c.module, c.name)
	}
	if !ok {
		return fmt.Errorf("%s.%s: unexpected arguments", c.module, c.name)
	}
	return u.push(&pyObject{cls: c, args: args})
}

func (u *unpickler) build() error {
	state, err := u.pop()
	if err != nil {
		return err
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	o, ok := target.(*pyObject)
	if !ok {
		return fmt.Errorf("BUILD on a %s", TypeName(target))
	}
	if o.state != nil {
		return errors.New("BUILD twice")
	}
	o.state = state
	return nil
}
