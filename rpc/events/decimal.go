package events

import (
	"math/big"
	"strings"

	"github.com/baiagent/agent/rpc/codec"
)

// stringifyDecimal writes d as upstream main's _stringify_number writes a
// Decimal quantity: rounded to 0.01 (ties to even), trailing zeros and a
// bare point removed, never an exponent; "Infinity" and "-Infinity" as
// such. Text that is not a finite number is returned unchanged.
func stringifyDecimal(d codec.Decimal) string {
	s := string(d)
	switch strings.ToLower(strings.TrimPrefix(s, "+")) {
	case "inf", "infinity":
		return "Infinity"
	case "-inf", "-infinity":
		return "-Infinity"
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return s
	}
	// Round r*100 to an integer, ties to even.
	r.Mul(r, big.NewRat(100, 1))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	twice := new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2))
	if c := twice.Cmp(r.Denom()); c > 0 || (c == 0 && q.Bit(0) == 1) {
		if r.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	neg := q.Sign() < 0
	digits := new(big.Int).Abs(q).String()
	for len(digits) < 3 {
		digits = "0" + digits
	}
	whole, frac := digits[:len(digits)-2], strings.TrimRight(digits[len(digits)-2:], "0")
	out := whole
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
