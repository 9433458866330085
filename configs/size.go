package configs

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// BinarySize is a size in bytes. It is written in a config file as an
// integer number of bytes or as a string such as "512", "64K", "10M", "1G"
// or "1.5G". Unit letters are case-insensitive binary multiples (k = 1024,
// m = 1024², ... up to e), optionally followed by "b", "ib", "byte(s)" or
// "ibyte(s)": "10M", "10MB" and "10MiB" are all 10×1024² bytes, as in
// upstream's BinarySize.
type BinarySize int64

// binaryUnits are the suffixes of BinarySize.String, largest first.
var binaryUnits = []struct {
	suffix string
	size   int64
}{
	{"E", 1 << 60},
	{"P", 1 << 50},
	{"T", 1 << 40},
	{"G", 1 << 30},
	{"M", 1 << 20},
	{"K", 1 << 10},
}

// sizeEndings are stripped from a size before its unit letter, longest
// first, as upstream does.
var sizeEndings = []string{"ibytes", "ibyte", "ib", "bytes", "byte", "b"}

// ParseBinarySize parses a size such as "1G", "10M", "64K", "1.5G", "10MB"
// or "512". Negative, fractional-byte and infinite sizes are errors.
func ParseBinarySize(s string) (BinarySize, error) {
	expr := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", ""))
	switch expr {
	case "":
		return 0, errors.New("empty size")
	case "inf", "infinite", "infinity":
		return 0, errors.New("infinite size is not allowed")
	}
	num, mult := expr, int64(1)
	for _, e := range sizeEndings {
		if stem, ok := strings.CutSuffix(num, e); ok && stem != "" {
			num = stem
			break
		}
	}
	last := num[len(num)-1]
	if last < '0' || last > '9' {
		m, ok := unitMultiplier(last)
		if !ok {
			return 0, fmt.Errorf("unknown size unit %q", string(last))
		}
		num, mult = strings.TrimSpace(num[:len(num)-1]), m
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || strings.Contains(num, "/") {
		return 0, fmt.Errorf("not a number: %q", num)
	}
	if r.Sign() < 0 {
		return 0, errors.New("size must not be negative")
	}
	if mult == 1 && !r.IsInt() {
		return 0, errors.New("fractional bytes are not allowed")
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // truncates, as upstream's int(Decimal)
	if !n.IsInt64() {
		return 0, errors.New("size is too large")
	}
	return BinarySize(n.Int64()), nil
}

// unitMultiplier returns the multiple of a lower-case unit letter.
func unitMultiplier(c byte) (int64, bool) {
	for _, u := range binaryUnits {
		if strings.ToLower(u.suffix)[0] == c {
			return u.size, true
		}
	}
	return 0, false
}

// String returns the size in the most compact exact form: "1G", "10M",
// "64K", or a plain number of bytes such as "1500". It parses back to the
// same value.
func (s BinarySize) String() string {
	if s != 0 {
		for _, u := range binaryUnits {
			if int64(s)%u.size == 0 {
				return strconv.FormatInt(int64(s)/u.size, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText implements encoding.TextMarshaler.
func (s BinarySize) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseBinarySize.
func (s *BinarySize) UnmarshalText(b []byte) error {
	v, err := ParseBinarySize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
