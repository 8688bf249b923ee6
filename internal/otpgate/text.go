package otpgate

import (
	"fmt"
	"unicode"
)

// BadRune finds the first character a field may not hold: control
// characters (Unicode Cc), invisible formatting characters (Cf: bidi
// embeddings, overrides and isolates, zero-width spaces, the BOM), the
// line and paragraph separators U+2028 and U+2029 (Zl, Zp), and
// characters that are letters, marks or symbols yet show as nothing or as
// blank (see refused), all of which make a name or a sender ID look like
// another, or reorder or break a message's text on screen. In message text
// (text true) a newline, a tab and a carriage return before a newline pass,
// and so do the marks Arabic and Persian text needs: LRM, RLM and ALM
// (U+200E, U+200F, U+061C) and the joiners ZWNJ and ZWJ (U+200C, U+200D).
// It returns the character's position (1-based, in characters) and itself,
// or ok true when there is none.
func BadRune(s string, text bool) (pos int, r rune, ok bool) {
	prevCR := false
	i := 0
	for _, c := range s {
		i++
		if prevCR && c != '\n' {
			return i - 1, '\r', false
		}
		prevCR = false
		if !refused(c) {
			continue
		}
		if text {
			switch c {
			case '\n', '\t', '\u200E', '\u200F', '\u061C', '\u200C', '\u200D':
				continue
			case '\r':
				prevCR = true
				continue
			}
		}
		return i, c, false
	}
	if prevCR {
		return i, '\r', false
	}
	return 0, 0, true
}

// refused reports whether c is one of the characters BadRune finds,
// before the exceptions message text has. Beyond Cc, Cf, Zl and Zp these
// are the characters invisible by design: Unicode's
// Other_Default_Ignorable_Code_Point (U+034F COMBINING GRAPHEME JOINER;
// the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0, letters that
// render as nothing; the Khmer inherent vowels U+17B4 and U+17B5; code
// points reserved as ignorable) and U+2800 BRAILLE PATTERN BLANK, a symbol
// that renders as a space. U+FFFD stands for bytes that were not UTF-8.
// Variation selectors (U+FE00 to U+FE0F) pass: emoji need U+FE0F.
func refused(c rune) bool {
	return unicode.In(c, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point) ||
		c == '\u2800' || c == '\uFFFD'
}

// RuneProblem is the end of an error about the character BadRune found.
func RuneProblem(pos int, r rune, text bool) string {
	allowed := "control characters, line and paragraph separators and invisible characters are not accepted"
	if text {
		allowed += ", apart from newline, tab and the marks Arabic text uses (LRM, RLM, ALM, ZWJ, ZWNJ)"
	}
	return fmt.Sprintf(": it contains U+%04X at character %d, %s; %s", r, pos, runeKind(r), allowed)
}

// runeKind says what sort of character r is, as RuneProblem names it to
// someone who cannot see it.
func runeKind(r rune) string {
	switch {
	case r == '\uFFFD':
		return "the replacement character, which stands for bytes that were not UTF-8"
	case unicode.Is(unicode.Cc, r):
		return "a control character"
	case unicode.Is(unicode.Zl, r):
		return "a line separator"
	case unicode.Is(unicode.Zp, r):
		return "a paragraph separator"
	case unicode.Is(unicode.Cf, r):
		return "an invisible formatting character"
	case r == '\u115F', r == '\u1160', r == '\u3164', r == '\uFFA0', r == '\u2800':
		return "a blank filler"
	}
	return "an invisible character"
}
