package alloc

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// milli is the number of cpu units in one core: cpu amounts are kept in
// thousandths, the manager's quantum (Decimal("0.000")).
const milli = 1000

// decimalRE is the decimal syntax accepted for slot amounts: what Python's
// str(Decimal) writes for finite values, without a sign (checked apart, to
// say "negative"). The exponent is kept short so that no amount can ask for
// a huge big.Rat.
// Compiled on first use, not at every process start.
var decimalRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$`)
})

// errNotDecimal is returned for amounts that are not finite decimals.
var errNotDecimal = errors.New("not a finite decimal number")

// parseDecimal parses a non-negative decimal amount exactly.
func parseDecimal(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	if !decimalRE().MatchString(s) {
		return nil, errNotDecimal
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, errNotDecimal
	}
	if neg && r.Sign() != 0 {
		return nil, errors.New("negative amount")
	}
	return r, nil
}

// parseMilli parses a cpu amount into thousandths of a core.
func parseMilli(s string) (int64, error) {
	r, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	r.Mul(r, big.NewRat(milli, 1))
	if !r.IsInt() {
		return 0, errors.New("more than 3 decimal places")
	}
	if !r.Num().IsInt64() {
		return 0, errors.New("amount too large")
	}
	return r.Num().Int64(), nil
}

// parseBytes parses a byte amount; "1073741824.0" is accepted, fractions
// of a byte are not.
func parseBytes(s string) (int64, error) {
	r, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	if !r.IsInt() {
		return 0, errors.New("fractional bytes")
	}
	if !r.Num().IsInt64() {
		return 0, errors.New("amount too large")
	}
	return r.Num().Int64(), nil
}

// formatMilli writes thousandths of a core as a normalised decimal: 2000 is
// "2", 1500 is "1.5", 1 is "0.001".
func formatMilli(m int64) string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	whole, frac := m/milli, m%milli
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	return sign + strings.TrimRight(fmt.Sprintf("%d.%03d", whole, frac), "0")
}

// formatBytes writes a byte count in decimal.
func formatBytes(b int64) string { return strconv.FormatInt(b, 10) }
