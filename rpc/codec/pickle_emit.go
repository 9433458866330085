package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// frameTarget is CPython's _FRAME_SIZE_TARGET: a pickle whose body reaches
// it is split into frames, which the emitter does not do.
const frameTarget = 64 * 1024

// batchSize is CPython's _BATCHSIZE for SETITEMS.
const batchSize = 1000

// Pickle writes v as CPython's pickle.dumps(v, protocol=5) does for
// upstream's classes: Decimal, Enum, ImageRef (or *ImageRef),
// ResourceSlot, SlotName and BinarySize. CPython memoizes by object
// identity; the emitter shares what CPython shares for these classes: a
// class, its module name, a SlotName's text, and the empty and
// one-character Latin-1 strings (CPython singletons) among ImageRef fields
// and enum values; never a Decimal's text, which CPython makes anew.
func Pickle(v any) ([]byte, error) {
	p := pickler{shared: map[string]int{}, modules: map[string]int{}, classes: map[[2]string]int{}}
	var err error
	switch x := v.(type) {
	case Decimal:
		err = p.decimal(x)
	case Enum:
		err = p.enum(x)
	case ImageRef:
		err = p.imageRef(x)
	case *ImageRef:
		if x == nil {
			return nil, errors.New("pickle: nil *ImageRef")
		}
		err = p.imageRef(*x)
	case ResourceSlot:
		err = p.resourceSlot(x)
	case SlotName:
		err = p.slotName(x)
	case BinarySize:
		err = p.binarySize(x)
	default:
		return nil, fmt.Errorf("pickle: cannot pickle a %T", v)
	}
	if err != nil {
		return nil, fmt.Errorf("pickle %T: %w", v, err)
	}
	return p.finish()
}

// pickler accumulates the body of the one frame.
type pickler struct {
	body    []byte
	memo    int               // next memo index
	shared  map[string]int    // memo index of strings written shareable
	modules map[string]int    // memo index of module names
	classes map[[2]string]int // memo index of classes
}

func (p *pickler) op(b ...byte) { p.body = append(p.body, b...) }

// memoize stores the top of the stack (MEMOIZE) and returns its index.
func (p *pickler) memoize() int {
	p.op(opMemoize)
	p.memo++
	return p.memo - 1
}

func (p *pickler) get(i int) {
	if i < 256 {
		p.op(opBinGet, byte(i))
		return
	}
	p.body = binary.LittleEndian.AppendUint32(append(p.body, opLongBinGet), uint32(i))
}

// str writes s, memoized; a shareable s seen before is fetched instead.
func (p *pickler) str(s string, shareable bool) error {
	return p.strIn(s, shareable, p.shared)
}

// strIn is str with the table of shared strings to use.
func (p *pickler) strIn(s string, shareable bool, table map[string]int) error {
	if !validPyUTF8([]byte(s)) {
		return fmt.Errorf("string %q is not valid UTF-8", s)
	}
	if i, ok := table[s]; ok && shareable {
		p.get(i)
		return nil
	}
	switch n := len(s); {
	case n < 256:
		p.op(opShortBinUni, byte(n))
	case n <= math.MaxUint32:
		p.body = binary.LittleEndian.AppendUint32(append(p.body, opBinUnicode), uint32(n))
	default:
		p.body = binary.LittleEndian.AppendUint64(append(p.body, opBinUnicode8), uint64(n))
	}
	p.body = append(p.body, s...)
	i := p.memoize()
	if shareable {
		table[s] = i
	}
	return nil
}

// interned reports whether CPython hands out one shared object for s: the
// empty string and the one-character Latin-1 strings.
func interned(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return s == "" || (n == len(s) && r < 256)
}

// global writes a class as STACK_GLOBAL, or fetches it when written
// before; a module name is one object for all its classes.
func (p *pickler) global(module, name string) error {
	key := [2]string{module, name}
	if i, ok := p.classes[key]; ok {
		p.get(i)
		return nil
	}
	if err := p.strIn(module, true, p.modules); err != nil {
		return err
	}
	if err := p.str(name, false); err != nil {
		return err
	}
	p.op(opStackGlobal)
	p.classes[key] = p.memoize()
	return nil
}

// int writes v as CPython's save_long does for protocol 2 and later.
func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v <= math.MaxUint8:
		p.op(opBinInt1, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		p.body = binary.LittleEndian.AppendUint16(append(p.body, opBinInt2), uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.body = binary.LittleEndian.AppendUint32(append(p.body, opBinInt), uint32(v))
	default:
		var le [8]byte
		binary.LittleEndian.PutUint64(le[:], uint64(v))
		n := 8 // shortest two's complement form
		for n > 1 && ((le[n-1] == 0 && le[n-2] < 0x80) || (le[n-1] == 0xff && le[n-2] >= 0x80)) {
			n--
		}
		p.op(opLong1, byte(n))
		p.op(le[:n]...)
	}
}

// scalar writes an enum value.
func (p *pickler) scalar(v any) error {
	switch x := v.(type) {
	case nil:
		p.op(opNone)
	case bool:
		p.op(boolOp(x))
	case int64:
		p.int(x)
	case int:
		p.int(int64(x))
	case float64:
		p.body = binary.BigEndian.AppendUint64(append(p.body, opBinFloat), math.Float64bits(x))
	case string:
		return p.str(x, interned(x))
	case []byte:
		if len(x) < 256 {
			p.op(opShortBinBytes, byte(len(x)))
		} else {
			p.body = binary.LittleEndian.AppendUint32(append(p.body, opBinBytes), uint32(len(x)))
		}
		p.op(x...)
		p.memoize()
	default:
		return fmt.Errorf("enum value of type %T", v)
	}
	return nil
}

// boolOp is NEWTRUE or NEWFALSE.
func boolOp(b bool) byte {
	if b {
		return opNewTrue
	}
	return opNewFalse
}

// finish wraps the body: PROTO 5, one FRAME, STOP.
func (p *pickler) finish() ([]byte, error) {
	p.op(opStop)
	if len(p.body) >= frameTarget {
		return nil, fmt.Errorf("pickle: %d bytes need more than one frame", len(p.body))
	}
	out := make([]byte, 0, 11+len(p.body))
	out = append(out, opProto, highestProtocol, opFrame)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(p.body)))
	return append(out, p.body...), nil
}
