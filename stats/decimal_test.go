package stats

import (
	"math"
	"math/big"
	"testing"
)

// dec parses s ("1.5", "1/3", "-2") as an exact Decimal.
func dec(t testing.TB, s string) Decimal {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad decimal %q", s)
	}
	return Decimal{r: r}
}

// The expected strings were produced by upstream's formatting
// (_to_serializable_value: quantize, then remove_exponent) under CPython's
// decimal module.
func TestDecimalString(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"0", "0"},
		{"1234", "1234"},
		{"1234.000", "1234"},
		{"1.5", "1.5"},
		{"0.1", "0.1"},
		{"0.0005", "0"},     // tie, to even
		{"0.0015", "0.002"}, // tie, to even
		{"0.0025", "0.002"}, // tie, to even
		{"0.00251", "0.003"},
		{"-0.0004", "-0"}, // a quantized negative zero keeps its sign
		{"-1.2345", "-1.234"},
		{"-1.2355", "-1.236"},
		{"-5", "-5"},
		{"1/3", "0.333"},
		{"2/3", "0.667"},
		{"18446744073709551615", "18446744073709551615"},
		{"1000000000000000000000000000000", "1000000000000000000000000000000"},
		{"1000000000000000000000000.5", "1000000000000000000000000.5"},
	} {
		if got := dec(t, tc.in).String(); got != tc.want {
			t.Errorf("Decimal(%s).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecimalZeroValue(t *testing.T) {
	var d Decimal
	if d.String() != "0" || d.Sign() != 0 || d.Cmp(DecimalFromInt(0)) != 0 || d.Float64() != 0 {
		t.Errorf("zero Decimal: %q sign %d", d.String(), d.Sign())
	}
	if got := d.add(DecimalFromInt(2)).String(); got != "2" {
		t.Errorf("0 + 2 = %s", got)
	}
}

func TestDecimalConstructors(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Decimal
		want string
	}{
		{"int", DecimalFromInt(-42), "-42"},
		{"uint max", DecimalFromUint(math.MaxUint64), "18446744073709551615"},
		{"float 1.23", DecimalFromFloat(1.23), "1.23"},
		{"float 0.1", DecimalFromFloat(0.1), "0.1"},
		{"float NaN", DecimalFromFloat(math.NaN()), "0"},
		{"float +Inf", DecimalFromFloat(math.Inf(1)), "0"},
		{"frac", decimalFrac(7, 4), "1.75"},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDecimalPercentText(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"50", "50"},
		{"100.00", "100"},
		{"100/3", "33.33"},
		{"12.5", "12.5"},
		{"0.005", "0"},
		{"0.015", "0.02"},
		{"-100/3", "-33.33"},
	} {
		if got := dec(t, tc.in).text(2); got != tc.want {
			t.Errorf("pct text of %s = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecimalQuantize(t *testing.T) {
	q := dec(t, "1.23456").quantize(3)
	if q.Cmp(dec(t, "1.235")) != 0 {
		t.Errorf("quantize(1.23456, 3) = %s", q)
	}
	if got := dec(t, "-2.5").quantize(0); got.Cmp(DecimalFromInt(-2)) != 0 {
		t.Errorf("quantize(-2.5, 0) = %s, want -2", got)
	}
	if got := dec(t, "-3.5").quantize(0); got.Cmp(DecimalFromInt(-4)) != 0 {
		t.Errorf("quantize(-3.5, 0) = %s, want -4", got)
	}
}

func TestDecimalArithmeticDoesNotAlias(t *testing.T) {
	a := DecimalFromInt(5)
	b := a.add(DecimalFromInt(1))
	_ = b.mul(DecimalFromInt(3))
	if a.String() != "5" || b.String() != "6" {
		t.Errorf("operands changed: a=%s b=%s", a, b)
	}
}
