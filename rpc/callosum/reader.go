package callosum

import (
	"bytes"
	"fmt"
	"io"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// reader decodes the few msgpack shapes of Callosum's frames from one
// frame, strictly by type. It never trusts a declared length beyond the
// bytes left (msgpack's DecodeBytes allocates a declared length before
// reading) and skips values without recursion, so a hostile frame costs
// no more than its own size.
type reader struct {
	r *bytes.Reader
	d *msgpack.Decoder // reads straight from r: a bytes.Reader needs no buffer
}

func newReader(b []byte) *reader {
	r := bytes.NewReader(b)
	return &reader{r: r, d: msgpack.NewDecoder(r)}
}

// rest is the number of bytes not read yet.
func (r *reader) rest() int { return r.r.Len() }

func (r *reader) mapLen() (int, error) {
	c, err := r.d.PeekCode()
	if err != nil {
		return 0, err
	}
	if !msgpcode.IsFixedMap(c) && c != msgpcode.Map16 && c != msgpcode.Map32 {
		return 0, fmt.Errorf("code %#x is not a map", c)
	}
	n, err := r.d.DecodeMapLen()
	if err == nil && 2*n > r.rest() {
		err = fmt.Errorf("map of %d entries in %d bytes", n, r.rest())
	}
	return n, err
}

func (r *reader) arrayLen() (int, error) {
	c, err := r.d.PeekCode()
	if err != nil {
		return 0, err
	}
	if !msgpcode.IsFixedArray(c) && c != msgpcode.Array16 && c != msgpcode.Array32 {
		return 0, fmt.Errorf("code %#x is not an array", c)
	}
	n, err := r.d.DecodeArrayLen()
	if err == nil && n > r.rest() {
		err = fmt.Errorf("array of %d items in %d bytes", n, r.rest())
	}
	return n, err
}

// payload reads the bytes of a str or bin whose code was checked.
func (r *reader) payload() ([]byte, error) {
	n, err := r.d.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if n > r.rest() {
		return nil, fmt.Errorf("%d bytes declared, %d left", n, r.rest())
	}
	b := make([]byte, n)
	if err := r.d.ReadFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

func (r *reader) str() (string, error) {
	c, err := r.d.PeekCode()
	if err != nil {
		return "", err
	}
	if !msgpcode.IsString(c) {
		return "", fmt.Errorf("code %#x is not a str", c)
	}
	b, err := r.payload()
	return string(b), err
}

// bin accepts bin, str (as its bytes) and nil (as nil).
func (r *reader) bin() ([]byte, error) {
	c, err := r.d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case c == msgpcode.Nil:
		return nil, r.d.DecodeNil()
	case msgpcode.IsBin(c), msgpcode.IsString(c):
		return r.payload()
	}
	return nil, fmt.Errorf("code %#x is not bin, str or nil", c)
}

// orderKey accepts bin or str and remembers which.
func (r *reader) orderKey() (orderKey, error) {
	c, err := r.d.PeekCode()
	if err != nil {
		return orderKey{}, err
	}
	if !msgpcode.IsString(c) && !msgpcode.IsBin(c) {
		return orderKey{}, fmt.Errorf("code %#x is not bin or str", c)
	}
	b, err := r.payload()
	return orderKey{v: string(b), isStr: msgpcode.IsString(c)}, err
}

// uint accepts any msgpack integer in [0, limit].
func (r *reader) uint(limit uint64) (uint64, error) {
	c, err := r.d.PeekCode()
	if err != nil {
		return 0, err
	}
	switch {
	case c <= msgpcode.PosFixedNumHigh, c >= msgpcode.Uint8 && c <= msgpcode.Uint64:
		v, err := r.d.DecodeUint64()
		if err == nil && v > limit {
			err = fmt.Errorf("%d out of range", v)
		}
		return v, err
	case c >= msgpcode.NegFixedNumLow, c >= msgpcode.Int8 && c <= msgpcode.Int64:
		v, err := r.d.DecodeInt64()
		if err != nil {
			return 0, err
		}
		if v < 0 || uint64(v) > limit {
			return 0, fmt.Errorf("%d out of range", v)
		}
		return uint64(v), nil
	}
	return 0, fmt.Errorf("code %#x is not an integer", c)
}

func (r *reader) bool() (bool, error) {
	c, err := r.d.PeekCode()
	if err != nil {
		return false, err
	}
	if c != msgpcode.True && c != msgpcode.False {
		return false, fmt.Errorf("code %#x is not a bool", c)
	}
	return r.d.DecodeBool()
}

// skip passes over one value of any kind, counting the values still owed
// instead of recursing.
func (r *reader) skip() error {
	for owed := 1; owed > 0; owed-- {
		if owed > r.rest() {
			return fmt.Errorf("%d values owed, %d bytes left", owed, r.rest())
		}
		c, err := r.d.PeekCode()
		if err != nil {
			return err
		}
		switch {
		case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
			n, err := r.mapLen()
			if err != nil {
				return err
			}
			owed += 2 * n
		case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
			n, err := r.arrayLen()
			if err != nil {
				return err
			}
			owed += n
		case msgpcode.IsString(c), msgpcode.IsBin(c):
			if _, err := r.payload(); err != nil {
				return err
			}
		case msgpcode.IsExt(c):
			id, n, err := r.d.DecodeExtHeader()
			if err != nil {
				return err
			}
			if n > r.rest() {
				return fmt.Errorf("ext %d of %d bytes, %d left", id, n, r.rest())
			}
			if _, err := r.r.Seek(int64(n), io.SeekCurrent); err != nil {
				return err
			}
		default: // nil, bool, numbers: Skip reads no length
			if err := r.d.Skip(); err != nil {
				return err
			}
		}
	}
	return nil
}
