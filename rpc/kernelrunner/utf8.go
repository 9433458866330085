package kernelrunner

import (
	"strings"
	"unicode/utf8"
)

// utf8Decoder decodes a byte stream that arrives in chunks: a character
// split across two chunks (Julia's and others' runners split at arbitrary
// bytes, and the 10 MiB cap cuts anywhere) is held back until the rest of
// it comes. Invalid bytes become U+FFFD, as Python's errors="replace".
type utf8Decoder struct {
	pending []byte // an incomplete character's first bytes, at most 3
}

func (d *utf8Decoder) decode(b []byte) string {
	if len(d.pending) > 0 {
		b = append(d.pending, b...)
		d.pending = nil
	}
	cut := len(b)
	// Only the last 3 bytes can start a character that is still
	// incomplete (UTF-8 characters are at most 4 bytes long).
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	if cut < len(b) {
		d.pending = append([]byte(nil), b[cut:]...)
	}
	return validUTF8(b[:cut])
}

// reset forgets a held incomplete character.
func (d *utf8Decoder) reset() { d.pending = nil }

// validUTF8 is b as a string with each invalid byte replaced by U+FFFD.
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}
