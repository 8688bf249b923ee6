// Package smsenc encodes SMS text per 3GPP TS 23.038 (alphabets) and
// TS 23.040 (concatenation): it picks GSM-7 or UCS-2 for a body, counts its
// septets or UTF-16 units and segments, splits long bodies into parts
// without breaking an escape sequence or a surrogate pair, and builds and
// parses concatenation user data headers.
//
// Payloads are in the form SMPP short_message carries them: GSM-7 unpacked
// (one septet per octet, extension characters as 0x1B followed by their
// code) and UCS-2 as UTF-16BE (characters above U+FFFF as surrogate pairs,
// which every handset in use decodes).
package smsenc

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Encoding is an SMS alphabet.
type Encoding string

// The two alphabets otpgate sends.
const (
	GSM7 Encoding = "GSM-7"
	UCS2 Encoding = "UCS-2"
)

// Message size limits, in septets (GSM-7) and UTF-16 code units (UCS-2).
const (
	SingleSeptets = 160 // one SMS: 140 octets of packed septets
	SingleUnits   = 70  // one SMS: 140 octets of UTF-16
	PartSeptets   = 153 // per part behind an 8-bit reference UDH (6 octets)
	PartUnits     = 67
	PartSeptets16 = 152 // per part behind a 16-bit reference UDH (7 octets)
	PartUnits16   = 66
	MaxParts      = 255 // the concatenation IE carries total and sequence in one octet
)

// Errors callers can test for with errors.Is.
var (
	ErrNotGSM7         = errors.New("smsenc: character not in the GSM 03.38 alphabet")
	ErrInvalidUTF8     = errors.New("smsenc: body is not valid UTF-8")
	ErrUnknownEncoding = errors.New("smsenc: unknown encoding")
	ErrDataCoding      = errors.New("smsenc: unsupported data_coding")
	ErrMalformed       = errors.New("smsenc: malformed payload")
)

// Info describes how a body travels as SMS.
type Info struct {
	Encoding Encoding
	Units    int // GSM-7: septets (extension chars count 2); UCS-2: UTF-16 code units
	Segments int // 1 if it fits one SMS (160 septets / 70 units), else the parts Split makes with 153 / 67 per part
}

// Analyze reports the encoding, size and segment count of body. The
// encoding is GSM-7 when every character is in the GSM 03.38 default
// alphabet or its extension table, else UCS-2. An empty body is GSM-7,
// 0 units, 1 segment: an empty SMS is still one SMS.
//
// Segments equals len(Split(body, info.Encoding, SplitOptions{})) for valid
// UTF-8: it is computed by the same part scanner, not by division. Invalid
// UTF-8 bytes count as U+FFFD (one UCS-2 unit each), though Split and Encode
// reject such bodies.
//
// Analyze does not allocate.
func Analyze(body string) Info {
	septets := 0
	for i := 0; i < len(body); {
		var n int
		if c := body[i]; c < utf8.RuneSelf {
			n = int(asciiSeptets[c])
			i++
		} else {
			r, size := utf8.DecodeRuneInString(body[i:])
			n = gsmSeptets(r)
			i += size
		}
		if n == 0 {
			// Not GSM-7: count the whole body again as UTF-16.
			units := utf16Len(body)
			info := Info{Encoding: UCS2, Units: units, Segments: 1}
			if units > SingleUnits {
				info.Segments = countParts(body, UCS2, PartUnits)
			}
			return info
		}
		septets += n
	}
	info := Info{Encoding: GSM7, Units: septets, Segments: 1}
	if septets > SingleSeptets {
		info.Segments = countParts(body, GSM7, PartSeptets)
	}
	return info
}

// utf16Len returns the UTF-16 units of s, counting invalid bytes as U+FFFD.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// Segments returns Analyze(body).Segments.
func Segments(body string) int { return Analyze(body).Segments }

// scanPart returns the end (byte offset) of the part of body that starts at
// start and holds at most limit units of enc, and the units it holds. A
// character that does not fit whole ends the part, so escape sequences and
// surrogate pairs are never split. limit must be at least 2, so each part
// holds at least one character.
func scanPart(body string, start int, enc Encoding, limit int) (end, used int) {
	if enc == GSM7 {
		return scanGSM7(body, start, limit)
	}
	return scanUCS2(body, start, limit)
}

// scanGSM7 is scanPart for GSM-7. A character GSM-7 cannot write (callers
// validate first) is counted as one septet.
func scanGSM7(body string, start, limit int) (end, used int) {
	for i := start; i < len(body); {
		var n, size int
		if c := body[i]; c < utf8.RuneSelf {
			n, size = int(asciiSeptets[c]), 1
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(body[i:])
			n = gsmSeptets(r)
		}
		n = max(n, 1)
		if used+n > limit {
			return i, used
		}
		used += n
		i += size
	}
	return len(body), used
}

// scanUCS2 is scanPart for UCS-2; invalid UTF-8 bytes count as one unit.
func scanUCS2(body string, start, limit int) (end, used int) {
	for i, r := range body[start:] {
		n := 1
		if r > 0xFFFF {
			n = 2
		}
		if used+n > limit {
			return start + i, used
		}
		used += n
	}
	return len(body), used
}

// countParts returns how many parts of at most per units body splits into.
func countParts(body string, enc Encoding, per int) int {
	n := 0
	for start := 0; start < len(body); n++ {
		start, _ = scanPart(body, start, enc, per)
	}
	return max(n, 1)
}

// checkEncoding returns an error unless enc is GSM7 or UCS2.
func checkEncoding(enc Encoding) error {
	if enc != GSM7 && enc != UCS2 {
		return fmt.Errorf("%w %q", ErrUnknownEncoding, string(enc))
	}
	return nil
}
