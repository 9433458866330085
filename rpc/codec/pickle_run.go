package codec

import (
	"bytes"
	"errors"
	"fmt"
)

// Pickle opcodes this package reads or writes (Lib/pickle.py names).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opReduce         = 'R'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	highestProtocol  = 5
	maxGlobalNameLen = 256
)

// run executes opcodes until STOP and returns the value on top.
func (u *unpickler) run() (any, error) {
	for {
		ops, err := u.take(1)
		if err != nil {
			return nil, err
		}
		op := ops[0]
		if op == opStop {
			return u.pop()
		}
		if err := u.step(op); err != nil {
			return nil, fmt.Errorf("opcode 0x%02x: %w", op, err)
		}
	}
}

func (u *unpickler) step(op byte) error {
	switch op {
	case opProto:
		v, err := u.uintN(1)
		if err == nil && v > highestProtocol {
			err = fmt.Errorf("protocol %d not supported", v)
		}
		return err
	case opFrame:
		n, err := u.uintN(8)
		if err == nil && n > uint64(len(u.data)-u.pos) {
			err = errTruncated
		}
		return err
	case opMark:
		u.marks = append(u.marks, len(u.stack))
		if len(u.marks) > maxPickleStack {
			return errors.New("too many marks")
		}
		return nil
	case opPop:
		_, err := u.pop()
		return err
	case opPopMark:
		_, err := u.popMark()
		return err
	case opDup:
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)
	case opNone:
		return u.push(nil)
	case opNewTrue, opNewFalse:
		return u.push(op == opNewTrue)
	case opBinInt, opBinInt1, opBinInt2:
		return u.binInt(op)
	case opLong1, opLong4:
		n, err := u.uintN(operandWidth(op))
		if err != nil {
			return err
		}
		if op == opLong4 && n > 0x7fffffff {
			return errors.New("negative LONG4 length")
		}
		return u.long(n)
	case opBinFloat:
		return u.float()
	case opShortBinUni, opBinUnicode, opBinUnicode8:
		n, err := u.uintN(operandWidth(op))
		if err != nil {
			return err
		}
		return u.unicode(n)
	case opShortBinBytes, opBinBytes, opBinBytes8:
		n, err := u.uintN(operandWidth(op))
		if err != nil {
			return err
		}
		return u.bytes(n)
	case opMemoize:
		return u.memoPut(uint32(len(u.memo)))
	case opBinPut, opLongBinPut:
		i, err := u.uintN(operandWidth(op))
		if err != nil {
			return err
		}
		return u.memoPut(uint32(i))
	case opBinGet, opLongBinGet:
		i, err := u.uintN(operandWidth(op))
		if err != nil {
			return err
		}
		return u.memoGet(uint32(i))
	}
	return u.stepContainer(op)
}

// operandWidth is the byte width of the length or memo index after op.
func operandWidth(op byte) int {
	switch op {
	case opLong1, opShortBinUni, opShortBinBytes, opBinPut, opBinGet:
		return 1
	case opBinUnicode8, opBinBytes8:
		return 8
	}
	return 4
}

func (u *unpickler) binInt(op byte) error {
	switch op {
	case opBinInt1:
		v, err := u.uintN(1)
		if err != nil {
			return err
		}
		return u.push(int64(v))
	case opBinInt2:
		v, err := u.uintN(2)
		if err != nil {
			return err
		}
		return u.push(int64(v))
	default:
		v, err := u.uintN(4)
		if err != nil {
			return err
		}
		return u.push(int64(int32(uint32(v))))
	}
}

// stepContainer runs the opcodes that build tuples, lists, dicts and
// objects.
func (u *unpickler) stepContainer(op byte) error {
	switch op {
	case opEmptyTuple:
		return u.push(pyTuple{})
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		if len(u.stack) < n || (len(u.marks) > 0 && len(u.stack)-n < u.marks[len(u.marks)-1]) {
			return errors.New("stack underflow")
		}
		t := append(pyTuple{}, u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		return u.push(t)
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(pyTuple(items))
	case opEmptyList:
		return u.push(&pyList{})
	case opList:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&pyList{items: items})
	case opAppend, opAppends:
		return u.appendItems(op == opAppends)
	case opEmptyDict:
		return u.push(&pyDict{})
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := &pyDict{}
		if err := d.setItems(items); err != nil {
			return err
		}
		return u.push(d)
	case opSetItem, opSetItems:
		return u.setItems(op == opSetItems)
	case opGlobal:
		return u.global()
	case opStackGlobal:
		return u.stackGlobal()
	case opReduce:
		return u.reduce()
	case opNewObj:
		return u.newObj()
	case opBuild:
		return u.build()
	}
	return fmt.Errorf("unsupported opcode %q", rune(op))
}

func (u *unpickler) appendItems(many bool) error {
	var items []any
	if many {
		var err error
		if items, err = u.popMark(); err != nil {
			return err
		}
	} else {
		v, err := u.pop()
		if err != nil {
			return err
		}
		items = []any{v}
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	l, ok := target.(*pyList)
	if !ok {
		return fmt.Errorf("APPEND to a %s", TypeName(target))
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setItems(many bool) error {
	var items []any
	if many {
		var err error
		if items, err = u.popMark(); err != nil {
			return err
		}
	} else {
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		items = []any{k, v}
	}
	target, err := u.top()
	if err != nil {
		return err
	}
	d, ok := target.(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM on a %s", TypeName(target))
	}
	return d.setItems(items)
}

// setItems stores key, value pairs; keys must be hashable scalars.
func (d *pyDict) setItems(kv []any) error {
	if len(kv)%2 != 0 {
		return errors.New("odd number of items for a dict")
	}
	for i := 0; i < len(kv); i += 2 {
		key, ok := pickleKey(kv[i])
		if !ok {
			return fmt.Errorf("unsupported dict key of type %s", TypeName(kv[i]))
		}
		if d.index == nil {
			d.index = map[any]int{}
		}
		if at, dup := d.index[key]; dup {
			d.vals[at] = kv[i+1]
			continue
		}
		d.index[key] = len(d.keys)
		d.keys = append(d.keys, kv[i])
		d.vals = append(d.vals, kv[i+1])
	}
	return nil
}

// pickleKey is the index key of a dict key inside the machine.
func pickleKey(k any) (any, bool) {
	switch x := k.(type) {
	case []byte:
		return binKey(x), true
	case *pyClass, *pyObject:
		return x, true
	}
	return normKey(k), hashable(k)
}

// get returns the value stored under the str key.
func (d *pyDict) get(key string) (any, bool) {
	at, ok := d.index[key]
	if !ok {
		return nil, false
	}
	return d.vals[at], true
}

// readLine reads a GLOBAL operand up to its newline.
func (u *unpickler) readLine() (string, error) {
	rest := u.data[u.pos:]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 || i > maxGlobalNameLen {
		return "", errors.New("GLOBAL operand without newline")
	}
	u.pos += i + 1
	return string(rest[:i]), nil
}
