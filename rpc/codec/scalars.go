package codec

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// UUID is a uuid.UUID (ext 1): its 16 bytes, big-endian as Python's
// UUID.bytes.
type UUID [16]byte

// String returns the canonical lowercase 8-4-4-4-12 form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// ParseUUID reads the hyphenated form or 32 hex digits, as Python's
// uuid.UUID(str) does (braces and a "urn:uuid:" prefix included).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	h := strings.TrimPrefix(strings.TrimPrefix(s, "urn:"), "uuid:")
	h = strings.Trim(h, "{}")
	h = strings.ReplaceAll(h, "-", "")
	if len(h) != 32 {
		return u, fmt.Errorf("parse uuid %q: want 32 hex digits", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("parse uuid %q: %w", s, err)
	}
	return u, nil
}

// Decimal is a decimal.Decimal (ext 3) kept as its exact text, as Python's
// str(Decimal) gives it ("1.5", "1E+3", "-0", "NaN", "Infinity").
type Decimal string

// String returns the decimal's text.
func (d Decimal) String() string { return string(d) }

// ParseDecimal checks s against the syntax of Python's Decimal(str)
// (without surrounding blanks or underscores) and returns it unchanged.
func ParseDecimal(s string) (Decimal, error) {
	if !validDecimal(s) {
		return "", fmt.Errorf("parse decimal %q: invalid syntax", s)
	}
	return Decimal(s), nil
}

// validDecimal reports whether s is a numeric string of the General
// Decimal Arithmetic spec: sign? (digits [. digits?] | . digits) exponent?,
// or Inf/Infinity, or [s]NaN[digits], case-insensitive.
func validDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	lower := strings.ToLower(s)
	switch {
	case lower == "inf" || lower == "infinity":
		return true
	case strings.HasPrefix(lower, "nan"):
		return allDigits(lower[3:], true)
	case strings.HasPrefix(lower, "snan"):
		return allDigits(lower[4:], true)
	}
	mant, exp, hasExp := strings.Cut(lower, "e")
	if hasExp {
		if exp != "" && (exp[0] == '+' || exp[0] == '-') {
			exp = exp[1:]
		}
		if !allDigits(exp, false) {
			return false
		}
	}
	whole, frac, _ := strings.Cut(mant, ".")
	return allDigits(whole, true) && allDigits(frac, true) && whole+frac != ""
}

// allDigits reports whether s is ASCII digits only; empty passes if
// emptyOK.
func allDigits(s string, emptyOK bool) bool {
	if s == "" {
		return emptyOK
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
