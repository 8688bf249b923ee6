package phone

import (
	"strings"
	"unicode/utf8"
)

// toASCIIDigit returns the ASCII digit for a non-ASCII digit NormalizeDigits
// maps, or 0.
func toASCIIDigit(r rune) byte {
	switch {
	case r >= '\u0660' && r <= '\u0669': // Arabic-Indic ٠-٩
		return byte('0' + r - '\u0660')
	case r >= '\u06F0' && r <= '\u06F9': // Eastern Arabic-Indic (Persian, Urdu) ۰-۹
		return byte('0' + r - '\u06F0')
	case r >= '\uFF10' && r <= '\uFF19': // fullwidth ０-９
		return byte('0' + r - '\uFF10')
	}
	return 0
}

// digit returns the ASCII digit for r if r is an ASCII digit or one
// NormalizeDigits maps, else 0.
func digit(r rune) byte {
	if r >= '0' && r <= '9' {
		return byte(r)
	}
	return toASCIIDigit(r)
}

// NormalizeDigits returns s with Arabic-Indic (U+0660-U+0669), Eastern
// Arabic-Indic (U+06F0-U+06F9) and fullwidth (U+FF10-U+FF19) digits replaced
// by ASCII digits. Everything else, invalid UTF-8 included, is kept as is.
func NormalizeDigits(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return s // ASCII: nothing to map
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if d := toASCIIDigit(r); d != 0 {
			b.WriteByte(d)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// MaxCodeDigits is the most digits NormalizeCode accepts.
const MaxCodeDigits = 20

// maxCodeInput bounds the input NormalizeCode looks at, in bytes: room for
// MaxCodeDigits three-byte digits, each followed by a few separators.
const maxCodeInput = 256

// NormalizeCode reads a one-time code as a user typed it. It drops white
// space (no-break spaces included), invisible formatting marks, dashes and
// dots, and maps digits with NormalizeDigits. It returns the ASCII digits and
// true if 1 to MaxCodeDigits digits and nothing else remain, else "", false.
func NormalizeCode(s string) (string, bool) {
	if len(s) > maxCodeInput {
		return "", false
	}
	var buf [MaxCodeDigits]byte
	n := 0
	for _, r := range s {
		if d := digit(r); d != 0 {
			if n == len(buf) {
				return "", false
			}
			buf[n] = d
			n++
			continue
		}
		if isIgnorable(r) || isCodeSeparator(r) {
			continue
		}
		return "", false
	}
	if n == 0 {
		return "", false
	}
	return string(buf[:n]), true
}

// isCodeSeparator reports whether r is a dash or a dot, which people put
// between groups of digits of a code ("123-456", "123.456").
func isCodeSeparator(r rune) bool {
	switch r {
	case '-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', '\uFF0D', // hyphens, dashes, minus
		'.', '\u00B7', '\u06D4', '\u066B', '\u066C', '\u3002', '\uFF0E': // dots, Arabic full stop and separators
		return true
	}
	return false
}

// Mask hides the middle of a phone number for logs: "+962790320012" becomes
// "+96279*****12". It shows at most the first 5 and the last 2 digits and
// always hides at least 5 digits (all of them when there are 5 or fewer), so
// short or garbage input is still masked. Only '+', ASCII digits and '*'
// appear in the result; characters other than digits are dropped.
func Mask(s string) string {
	const (
		maxLead   = 5
		maxTrail  = 2
		minHidden = 5
		maxStars  = 10 // caps the length of the result for garbage input
	)
	var lead [maxLead]byte   // the first digits
	var trail [maxTrail]byte // the last digits
	n := 0
	for _, r := range s {
		d := digit(r)
		if d == 0 {
			continue
		}
		if n < maxLead {
			lead[n] = d
		}
		copy(trail[:], trail[1:])
		trail[maxTrail-1] = d
		n++
	}
	plus := strings.HasPrefix(strings.TrimLeftFunc(s, isIgnorable), "+")
	if n == 0 {
		switch {
		case s == "":
			return ""
		case plus:
			return "+*"
		}
		return "*"
	}
	nTrail := min(maxTrail, max(0, n-minHidden))
	nLead := min(maxLead, max(0, n-nTrail-minHidden))
	hidden := n - nLead - nTrail

	var b strings.Builder
	b.Grow(1 + nLead + min(hidden, maxStars) + nTrail)
	if plus {
		b.WriteByte('+')
	}
	b.Write(lead[:nLead])
	for range min(hidden, maxStars) {
		b.WriteByte('*')
	}
	b.Write(trail[maxTrail-nTrail:])
	return b.String()
}
