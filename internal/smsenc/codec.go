package smsenc

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SMPP 3.4 data_coding values DecodeDataCoding understands or names.
const (
	DataCodingDefault = 0x00 // SMSC default alphabet: GSM-7, unpacked
	DataCodingIA5     = 0x01 // IA5 (CCITT T.50) / ASCII
	DataCodingBinary2 = 0x02 // octet unspecified (8-bit binary)
	DataCodingLatin1  = 0x03 // ISO-8859-1
	DataCodingBinary  = 0x04 // octet unspecified (8-bit binary)
	DataCodingUCS2    = 0x08 // UCS-2 (UTF-16BE)
)

// Encode returns body's bytes as SMPP short_message carries them: GSM7
// unpacked (one septet per octet, extension characters as 0x1B + code),
// UCS2 as UTF-16BE with surrogate pairs above U+FFFF. It fails on invalid
// UTF-8, on a character GSM-7 cannot write (errors.Is ErrNotGSM7), and on an
// unknown encoding.
func Encode(body string, enc Encoding) ([]byte, error) {
	if err := checkEncoding(enc); err != nil {
		return nil, err
	}
	if enc == GSM7 {
		return appendGSM7(make([]byte, 0, len(body)), body)
	}
	return appendUTF16BE(make([]byte, 0, 2*len(body)), body)
}

// appendUTF16BE appends body as UTF-16BE to dst.
func appendUTF16BE(dst []byte, body string) ([]byte, error) {
	for i, r := range body {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(body[i:]); size == 1 {
				return nil, fmt.Errorf("%w (byte %d)", ErrInvalidUTF8, i)
			}
		}
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			dst = append(dst, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
			continue
		}
		dst = append(dst, byte(r>>8), byte(r))
	}
	return dst, nil
}

// Decode is the inverse of Encode, for inbound messages. GSM7 input is
// unpacked septets, decoded leniently: escape + an unknown code gives that
// code's default-alphabet character, escape + escape and a trailing escape
// give a space (TS 23.038 6.2.1.1); an octet above 0x7F is an error. UCS2
// input is UTF-16BE: an odd length is an error, a lone surrogate decodes as
// U+FFFD.
func Decode(b []byte, enc Encoding) (string, error) {
	if err := checkEncoding(enc); err != nil {
		return "", err
	}
	if enc == GSM7 {
		return decodeGSM7(b)
	}
	return decodeUTF16BE(b)
}

// decodeUTF16BE decodes UTF-16BE, pairing surrogates; lone surrogates become
// U+FFFD.
func decodeUTF16BE(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: UCS-2 payload has odd length %d", ErrMalformed, len(b))
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for i := 0; i < len(b); i += 2 {
		u := rune(b[i])<<8 | rune(b[i+1])
		switch {
		case utf16.IsSurrogate(u) && u < 0xDC00 && i+3 < len(b):
			lo := rune(b[i+2])<<8 | rune(b[i+3])
			if r := utf16.DecodeRune(u, lo); r != utf8.RuneError {
				sb.WriteRune(r)
				i += 2
				continue
			}
			sb.WriteRune(utf8.RuneError)
		case utf16.IsSurrogate(u):
			sb.WriteRune(utf8.RuneError)
		default:
			sb.WriteRune(u)
		}
	}
	return sb.String(), nil
}

// DecodeDataCoding decodes an inbound short_message by its SMPP data_coding:
// 0x00 (SMSC default, taken as unpacked GSM-7, see Decode), 0x01 (IA5/ASCII;
// an octet above 0x7F is an error), 0x03 (Latin-1) and 0x08 (UCS-2, see
// Decode). Binary (0x02, 0x04) and every other value are errors naming the
// value (errors.Is ErrDataCoding). b must not include a UDH.
func DecodeDataCoding(b []byte, dataCoding byte) (string, error) {
	switch dataCoding {
	case DataCodingDefault:
		return decodeGSM7(b)
	case DataCodingIA5:
		for i, c := range b {
			if c >= utf8.RuneSelf {
				return "", fmt.Errorf("%w: octet 0x%02X at offset %d is not IA5", ErrMalformed, c, i)
			}
		}
		return string(b), nil
	case DataCodingLatin1:
		var sb strings.Builder
		sb.Grow(len(b) * 2)
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String(), nil
	case DataCodingUCS2:
		return decodeUTF16BE(b)
	case DataCodingBinary, DataCodingBinary2:
		return "", fmt.Errorf("%w: 0x%02X is binary data, not text", ErrDataCoding, dataCoding)
	default:
		return "", fmt.Errorf("%w: 0x%02X", ErrDataCoding, dataCoding)
	}
}
