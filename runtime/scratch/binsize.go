package scratch

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// scales are the binary-size suffixes, each 1024 times the one before, as
// upstream's BinarySize writes them (lowercase).
const scales = "kmgtpe"

// FormatBinarySize writes a byte count as upstream's BinarySize does with
// the "s" format, the form of bytes in resource.txt's _SHARES lines: below
// 1024 the plain number ("512"), else the largest binary scale that keeps
// the number at least 1, with up to two decimals, rounded half to even, and
// no trailing zeros: 4<<30 is "4g", 1536 is "1.5k", 1025 is "1k".
func FormatBinarySize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10)
	}
	i := -1
	for v := n; v >= 1024; v /= 1024 {
		i++
	}
	return formatScaled(n, i)
}

// formatScaled writes n (not negative) in the unit scales[i], as
// upstream's BinarySize does with an explicit scale ("m" for
// SCRATCH_SIZE): 0 is "0m", 64<<20 is "64m", 1000 is "0m".
func formatScaled(n int64, i int) string {
	mult := new(big.Int).Lsh(big.NewInt(1), 10*uint(i+1))
	q, r := new(big.Int).QuoRem(big.NewInt(n), mult, new(big.Int))
	suffix := string(scales[i])
	if r.Sign() == 0 {
		return q.String() + suffix
	}
	// hundredths, rounded half to even (Python's Decimal.quantize default)
	h := new(big.Int).Mul(big.NewInt(n), big.NewInt(100))
	h, r = h.QuoRem(h, mult, r)
	switch c := new(big.Int).Lsh(r, 1).Cmp(mult); {
	case c > 0, c == 0 && h.Bit(0) == 1:
		h.Add(h, big.NewInt(1))
	}
	whole, frac := new(big.Int).QuoRem(h, big.NewInt(100), new(big.Int))
	switch f := frac.Int64(); {
	case f == 0:
		return whole.String() + suffix
	case f%10 == 0:
		return fmt.Sprintf("%s.%d%s", whole, f/10, suffix)
	default:
		return fmt.Sprintf("%s.%02d%s", whole, f, suffix)
	}
}

// sizeNumberRE is the number part of a binary size.
// Compiled on first use, not at every process start.
var sizeNumberRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+(\.\d*)?|\.\d+)$`) })

// sizeEndings are the unit words a binary size may end with, after its
// scale letter, tried in this order as upstream does.
var sizeEndings = []string{"ibytes", "ibyte", "ib", "bytes", "byte", "b"}

// ParseBinarySize reads a byte count written as upstream's BinarySize
// accepts it: a plain integer ("1073741824"), or a decimal with a binary
// scale letter k, m, g, t, p or e and an optional unit ("4g", "1.5m",
// "64 MiB", "2KB"), truncated to whole bytes. Negative, infinite and
// out-of-range sizes are errors.
func ParseBinarySize(s string) (int64, error) {
	expr := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	if n, err := strconv.ParseInt(expr, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("parse binary size %q: negative", s)
		}
		return n, nil
	}
	expr = strings.ToLower(expr)
	num, scale := "", byte(0)
	for _, end := range sizeEndings {
		if stem, ok := strings.CutSuffix(expr, end); ok && stem != "" {
			num, scale = stem[:len(stem)-1], stem[len(stem)-1]
			break
		}
	}
	if scale == 0 {
		if expr == "" || (expr[len(expr)-1] >= '0' && expr[len(expr)-1] <= '9') {
			return 0, fmt.Errorf("parse binary size %q: not a whole number of bytes", s)
		}
		num, scale = expr[:len(expr)-1], expr[len(expr)-1]
	}
	shift := uint(0)
	if scale != ' ' {
		i := strings.IndexByte(scales, scale)
		if i < 0 {
			return 0, fmt.Errorf("parse binary size %q: unknown scale %q", s, scale)
		}
		shift = 10 * uint(i+1)
	}
	num = strings.TrimSpace(num)
	if !sizeNumberRE().MatchString(num) {
		return 0, fmt.Errorf("parse binary size %q: not a non-negative decimal", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("parse binary size %q: not a non-negative decimal", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), shift)))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if !n.IsInt64() {
		return 0, fmt.Errorf("parse binary size %q: out of range", s)
	}
	return n.Int64(), nil
}
