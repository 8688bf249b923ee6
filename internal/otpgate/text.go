package otpgate

import (
	"fmt"
	"unicode"
)

// BadRune finds the first character a field may not hold: control
// characters (Unicode Cc) and invisible formatting characters (Cf: bidi
// embeddings, overrides and isolates, zero-width spaces, the BOM), which
// make a name or a sender ID look like another, or reorder a message's
// text on screen. In message text (text true) a newline, a tab and a
// carriage return before a newline pass, and so do the marks Arabic and
// Persian text needs: LRM, RLM and ALM (U+200E, U+200F, U+061C) and the
// joiners ZWNJ and ZWJ (U+200C, U+200D). It returns the character's
// position (1-based, in characters) and itself, or ok true when there is
// none.
func BadRune(s string, text bool) (pos int, r rune, ok bool) {
	prevCR := false
	i := 0
	for _, c := range s {
		i++
		if prevCR && c != '\n' {
			return i - 1, '\r', false
		}
		prevCR = false
		if !unicode.Is(unicode.Cc, c) && !unicode.Is(unicode.Cf, c) && c != '\uFFFD' {
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

// RuneProblem is the end of an error about the character BadRune found.
func RuneProblem(pos int, r rune, text bool) string {
	allowed := "control and invisible formatting characters are not accepted"
	if text {
		allowed = "control and invisible formatting characters are not accepted, apart from newline, tab and the marks Arabic text uses (LRM, RLM, ALM, ZWJ, ZWNJ)"
	}
	return fmt.Sprintf(": it contains U+%04X at character %d; %s", r, pos, allowed)
}
