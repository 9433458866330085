package stats

import (
	"math"
	"math/big"
	"strings"
)

// Decimal is an exact rational number, the Go stand-in for upstream's
// decimal.Decimal. The zero value is 0. A Decimal is immutable: every
// operation returns a new value, so copies may be shared freely.
type Decimal struct {
	r *big.Rat // nil means zero; never modified once set
}

// DecimalFromInt returns v as a Decimal.
func DecimalFromInt(v int64) Decimal {
	return Decimal{r: new(big.Rat).SetInt64(v)}
}

// DecimalFromUint returns v as a Decimal.
func DecimalFromUint(v uint64) Decimal {
	return Decimal{r: new(big.Rat).SetUint64(v)}
}

// DecimalFromFloat returns the exact binary value of v as a Decimal, as
// Python's Decimal(float) does. NaN and the infinities become 0: a metric
// value must stay a number the manager can parse.
func DecimalFromFloat(v float64) Decimal {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Decimal{}
	}
	return Decimal{r: new(big.Rat).SetFloat64(v)}
}

// decimalFrac returns num/den; den must not be zero.
func decimalFrac(num, den int64) Decimal {
	return Decimal{r: big.NewRat(num, den)}
}

// rat returns d's value; the caller must not modify it.
func (d Decimal) rat() *big.Rat {
	if d.r == nil {
		return new(big.Rat)
	}
	return d.r
}

// Sign returns -1, 0 or +1 for d < 0, d == 0 and d > 0.
func (d Decimal) Sign() int {
	if d.r == nil {
		return 0
	}
	return d.r.Sign()
}

// Cmp compares d and e: -1 if d < e, 0 if equal, +1 if d > e.
func (d Decimal) Cmp(e Decimal) int {
	return d.rat().Cmp(e.rat())
}

// Float64 returns the float64 nearest to d, for consumers such as a
// Prometheus gauge that need a float.
func (d Decimal) Float64() float64 {
	f, _ := d.rat().Float64()
	return f
}

// String formats d as upstream writes every metric number: quantized to
// three decimal places, then with trailing fractional zeros removed and
// never with an exponent ("1234", "1.5", "0.001", "-0").
func (d Decimal) String() string {
	return d.text(3)
}

// add returns d + e.
func (d Decimal) add(e Decimal) Decimal {
	return Decimal{r: new(big.Rat).Add(d.rat(), e.rat())}
}

// sub returns d - e.
func (d Decimal) sub(e Decimal) Decimal {
	return Decimal{r: new(big.Rat).Sub(d.rat(), e.rat())}
}

// mul returns d × e.
func (d Decimal) mul(e Decimal) Decimal {
	return Decimal{r: new(big.Rat).Mul(d.rat(), e.rat())}
}

// quo returns d / e; e must not be zero.
func (d Decimal) quo(e Decimal) Decimal {
	return Decimal{r: new(big.Rat).Quo(d.rat(), e.rat())}
}

// quantize rounds d to places decimal places, half to even, as Python's
// Decimal.quantize does under the default context.
func (d Decimal) quantize(places int) Decimal {
	scale := pow10(places)
	q := roundHalfEven(d.rat(), scale)
	return Decimal{r: new(big.Rat).SetFrac(q, scale)}
}

// text rounds d to places decimal places (half to even) and removes the
// trailing fractional zeros and a bare decimal point: upstream's
// quantize followed by its remove_exponent. A negative value that rounds
// to zero keeps its sign ("-0"), as a quantized Python Decimal does.
func (d Decimal) text(places int) string {
	r := d.rat()
	q := roundHalfEven(r, pow10(places))
	digits := q.Abs(q).String()
	if len(digits) <= places {
		digits = strings.Repeat("0", places-len(digits)+1) + digits
	}
	intPart := digits[:len(digits)-places]
	frac := strings.TrimRight(digits[len(digits)-places:], "0")
	sign := ""
	if r.Sign() < 0 {
		sign = "-"
	}
	if frac == "" {
		return sign + intPart
	}
	return sign + intPart + "." + frac
}

// pow10 returns 10**n as a big.Int.
func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// roundHalfEven returns r × scale rounded to the nearest integer, ties to
// even.
func roundHalfEven(r *big.Rat, scale *big.Int) *big.Int {
	num := new(big.Int).Mul(r.Num(), scale)
	den := r.Denom()
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	// QuoRem truncates toward zero, so m has num's sign; round away from
	// zero when |m| is more than half of den, or exactly half and q odd.
	twice := new(big.Int).Lsh(new(big.Int).Abs(m), 1)
	switch c := twice.Cmp(den); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}
