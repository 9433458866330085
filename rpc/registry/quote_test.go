package registry

import (
	"testing"
	"unicode/utf8"
)

// The expected strings come from CPython 3's urllib.parse.quote(s, safe="")
// and unquote(s).
func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"cuda.device_mask", "cuda.device_mask"},
		{"a/b c:d~", "a%2Fb%20c%3Ad~"},
		{"ñ/€", "%C3%B1%2F%E2%82%AC"},
		{"x%y", "x%25y"},
		{"a+b=c&d@e", "a%2Bb%3Dc%26d%40e"},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnquote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a%2Fb", "a/b"},
		{"%2f", "/"},
		{"%zz", "%zz"},
		{"%", "%"},
		{"ab%4", "ab%4"},
		{"%C3%B1", "ñ"},
		{"%E2%82", "\uFFFD"},       // truncated sequence: one replacement
		{"%FF%FE", "\uFFFD\uFFFD"}, // two invalid bytes: two
		{"%E2%82%E2%82%AC", "\uFFFD€"},
		{"a+b", "a+b"},
		{"plain", "plain"},
	} {
		if got := Unquote(tc.in); got != tc.want {
			t.Errorf("Unquote(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzQuoteRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a/b", "ñ/€ %", "nodes/agents/i-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		for i := 0; i < len(q); i++ {
			if q[i] == '/' || q[i] >= utf8.RuneSelf {
				t.Fatalf("Quote(%q) = %q holds %q", s, q, q[i])
			}
		}
		if utf8.ValidString(s) {
			if got := Unquote(q); got != s {
				t.Fatalf("Unquote(Quote(%q)) = %q", s, got)
			}
		}
		if got := Unquote(s); !utf8.ValidString(got) {
			t.Fatalf("Unquote(%q) = %q is not UTF-8", s, got)
		}
	})
}
