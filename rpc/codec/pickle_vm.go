package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"
)

// Limits of the pickle machine. Every push costs at least one input byte,
// so memory stays proportional to the input.
const (
	maxPickleSize  = 1 << 20
	maxPickleStack = 1 << 18
	maxPickleMemo  = 1 << 18
)

// Values that live only inside the machine.
type (
	pyTuple []any
	pyList  struct{ items []any }
	pyDict  struct {
		keys, vals []any
		index      map[any]int
	}
	// pyObject is an instance made by NEWOBJ, waiting for BUILD.
	pyObject struct {
		cls   *pyClass
		args  pyTuple
		state any
	}
)

// Unpickle runs a pickle (protocol 2 to 5) and returns the one value it
// builds: Decimal, Enum, ImageRef, ResourceSlot, SlotName or BinarySize.
// It knows no other class and calls nothing: a GLOBAL or STACK_GLOBAL
// naming anything else fails with ErrForbiddenClass, an opcode it does not
// know fails too. Bytes after STOP are ignored, as Python does.
func Unpickle(data []byte) (any, error) {
	if len(data) > maxPickleSize {
		return nil, fmt.Errorf("unpickle: %d bytes, limit %d", len(data), maxPickleSize)
	}
	u := unpickler{data: data, memo: map[uint32]any{}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("unpickle at offset %d: %w", u.pos, err)
	}
	v, err = finish(v, 0)
	if err != nil {
		return nil, fmt.Errorf("unpickle: %w", err)
	}
	switch v.(type) {
	case Decimal, Enum, ImageRef, ResourceSlot, SlotName, BinarySize:
		return v, nil
	}
	return nil, fmt.Errorf("unpickle: result is a %s, not an allowed class", TypeName(v))
}

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
}

func (u *unpickler) take(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) uintN(n int) (uint64, error) {
	b, err := u.take(uint64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return errors.New("stack too deep")
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	v, err := u.pop()
	if err == nil {
		u.stack = append(u.stack, v)
	}
	return v, err
}

// popMark removes and returns the items above the latest MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK")
	}
	at := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any{}, u.stack[at:]...)
	u.stack = u.stack[:at]
	return items, nil
}

func (u *unpickler) memoPut(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[i]; !ok && len(u.memo) >= maxPickleMemo {
		return errors.New("memo too large")
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo %d not set", i)
	}
	return u.push(v)
}

func (u *unpickler) unicode(n uint64) error {
	b, err := u.take(n)
	if err != nil {
		return err
	}
	if !validPyUTF8(b) {
		return errors.New("str is not valid UTF-8")
	}
	return u.push(string(b))
}

func (u *unpickler) bytes(n uint64) error {
	b, err := u.take(n)
	if err != nil {
		return err
	}
	return u.push(append([]byte{}, b...))
}

// long reads a little-endian two's complement int of n bytes; it must fit
// int64.
func (u *unpickler) long(n uint64) error {
	b, err := u.take(n)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return u.push(int64(0))
	}
	if len(b) <= 8 {
		v := uint64(0)
		if b[len(b)-1]&0x80 != 0 {
			v = math.MaxUint64
		}
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return u.push(int64(v))
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if !x.IsInt64() {
		return errors.New("int does not fit int64")
	}
	return u.push(x.Int64())
}

// validPyUTF8 accepts UTF-8 as Python's surrogatepass decoder does: valid
// UTF-8, plus encoded lone surrogates.
func validPyUTF8(b []byte) bool {
	for len(b) > 0 {
		if b[0] == 0xed && len(b) >= 3 && b[1] >= 0xa0 && b[1] <= 0xbf && b[2]&0xc0 == 0x80 {
			b = b[3:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		b = b[size:]
	}
	return true
}

func (u *unpickler) float() error {
	b, err := u.take(8)
	if err != nil {
		return err
	}
	return u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
}
