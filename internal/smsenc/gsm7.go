package smsenc

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// escape is the septet that switches to the extension table for the next
// septet.
const escape = 0x1B

// noChar marks the table slot of the escape septet, which is no character.
const noChar rune = -1

// gsmDefault is the GSM 03.38 default alphabet (3GPP TS 23.038 6.2.1),
// indexed by septet.
var gsmDefault = [128]rune{
	// 0x00
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	// 0x10
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', noChar, 'Æ', 'æ', 'ß', 'É',
	// 0x20
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	// 0x30
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	// 0x40
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	// 0x50
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	// 0x60
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	// 0x70
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExtension is the GSM 03.38 default alphabet extension table
// (3GPP TS 23.038 6.2.1.1): the characters written as escape + code.
var gsmExtension = [...]struct {
	code byte
	r    rune
}{
	{0x0A, '\f'}, // page break, written as form feed
	{0x14, '^'},
	{0x28, '{'},
	{0x29, '}'},
	{0x2F, '\\'},
	{0x3C, '['},
	{0x3D, '~'},
	{0x3E, ']'},
	{0x40, '|'},
	{0x65, '€'},
}

// gsmCode is a character's GSM-7 code: bit 7 set means present, bit 8 set
// means extension table, the low 7 bits are the code.
type gsmCode uint16

const (
	codePresent gsmCode = 0x80
	codeExt     gsmCode = 0x100
)

// lowRunes covers Latin-1 and Greek; the only GSM character above it is €.
const lowRunes = 0x400

var (
	// gsmLow maps runes below lowRunes to their code.
	gsmLow = buildLow()
	// gsmHigh maps the few GSM runes at or above lowRunes (only €).
	gsmHigh = buildHigh()
	// asciiSeptets is the septet cost of each ASCII byte, 0 for none.
	asciiSeptets = buildASCII()
	// extDecode maps an extension code to its rune, noChar for none.
	extDecode = buildExtDecode()
)

func buildLow() *[lowRunes]gsmCode {
	var t [lowRunes]gsmCode
	for code, r := range gsmDefault {
		if r != noChar {
			t[r] = codePresent | gsmCode(code)
		}
	}
	for _, e := range gsmExtension {
		if e.r < lowRunes {
			t[e.r] = codePresent | codeExt | gsmCode(e.code)
		}
	}
	return &t
}

func buildHigh() map[rune]gsmCode {
	m := make(map[rune]gsmCode)
	for _, e := range gsmExtension {
		if e.r >= lowRunes {
			m[e.r] = codePresent | codeExt | gsmCode(e.code)
		}
	}
	return m
}

func buildASCII() [utf8.RuneSelf]uint8 {
	var t [utf8.RuneSelf]uint8
	for r := range t {
		t[r] = uint8(gsmSeptets(rune(r)))
	}
	return t
}

func buildExtDecode() [128]rune {
	var t [128]rune
	for i := range t {
		t[i] = noChar
	}
	for _, e := range gsmExtension {
		t[e.code] = e.r
	}
	return t
}

// lookupGSM returns r's GSM-7 code; its zero value means r is not GSM-7.
func lookupGSM(r rune) gsmCode {
	if r >= 0 && r < lowRunes {
		return gsmLow[r]
	}
	return gsmHigh[r]
}

// gsmSeptets returns the septets r costs in GSM-7: 1, 2 for the extension
// table, 0 when r is not GSM-7. U+001B (ESC) is not GSM-7: the escape
// septet is not a character.
func gsmSeptets(r rune) int {
	c := lookupGSM(r)
	switch {
	case c&codePresent == 0:
		return 0
	case c&codeExt != 0:
		return 2
	default:
		return 1
	}
}

// appendGSM7 appends body as unpacked GSM-7 septets to dst.
func appendGSM7(dst []byte, body string) ([]byte, error) {
	for i, r := range body {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(body[i:]); size == 1 {
				return nil, fmt.Errorf("%w (byte %d)", ErrInvalidUTF8, i)
			}
		}
		c := lookupGSM(r)
		if c&codePresent == 0 {
			return nil, fmt.Errorf("%w: %q (U+%04X) at byte %d", ErrNotGSM7, r, r, i)
		}
		if c&codeExt != 0 {
			dst = append(dst, escape)
		}
		dst = append(dst, byte(c&0x7F))
	}
	return dst, nil
}

// decodeGSM7 decodes unpacked GSM-7 septets. It is lenient where 3GPP TS
// 23.038 tells a receiver to be:
//   - escape + a code not in the extension table decodes as that code's
//     default-alphabet character (TS 23.038 6.2.1.1, note 1);
//   - escape + escape (reserved for a further extension table) decodes as a
//     space, as the spec says to display; so does an escape at the very end.
//
// An octet above 0x7F is not a septet and is an error: the caller should
// know the SMSC sent something other than unpacked GSM-7.
func decodeGSM7(b []byte) (string, error) {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c > 0x7F {
			return "", fmt.Errorf("%w: octet 0x%02X at offset %d is not a GSM-7 septet", ErrMalformed, c, i)
		}
		if c != escape {
			sb.WriteRune(gsmDefault[c])
			continue
		}
		if i+1 >= len(b) {
			sb.WriteByte(' ')
			break
		}
		i++
		e := b[i]
		if e > 0x7F {
			return "", fmt.Errorf("%w: octet 0x%02X at offset %d is not a GSM-7 septet", ErrMalformed, e, i)
		}
		switch {
		case extDecode[e] != noChar:
			sb.WriteRune(extDecode[e])
		case e == escape:
			sb.WriteByte(' ')
		default:
			sb.WriteRune(gsmDefault[e])
		}
	}
	return sb.String(), nil
}
