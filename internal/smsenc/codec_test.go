package smsenc

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		body string
		enc  Encoding
		want []byte
	}{
		{"empty gsm", "", GSM7, []byte{}},
		{"empty ucs2", "", UCS2, []byte{}},
		{"gsm ascii", "Hi 1", GSM7, []byte{0x48, 0x69, 0x20, 0x31}},
		{"gsm at sign and currency", "@£$¥¤", GSM7, []byte{0x00, 0x01, 0x02, 0x03, 0x24}},
		{"gsm extension", "{€}", GSM7, []byte{0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29}},
		{"gsm newline cr", "a\r\nb", GSM7, []byte{0x61, 0x0D, 0x0A, 0x62}},
		{"ucs2 arabic", "رمز", UCS2, []byte{0x06, 0x31, 0x06, 0x45, 0x06, 0x32}},
		{"ucs2 ascii", "A1", UCS2, []byte{0x00, 0x41, 0x00, 0x31}},
		{"ucs2 emoji pair", "😀", UCS2, []byte{0xD8, 0x3D, 0xDE, 0x00}},
		{"ucs2 euro", "€", UCS2, []byte{0x20, 0xAC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(tt.body, tt.enc)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Encode = % X, want % X", got, tt.want)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		body string
		enc  Encoding
	}{
		{"otp gsm", otpBody, GSM7},
		{"whole default alphabet gsm", strings.ReplaceAll(gsmLayout, "\x1b", ""), GSM7},
		{"extension gsm", "\f^{}\\[~]|€", GSM7},
		{"otp ucs2", otpBody, UCS2},
		{"arabic ucs2", arabic, UCS2},
		{"emoji ucs2", "code 😀👍🏽 ok 🇯🇴", UCS2},
		{"supplementary plane ucs2", "\U00010000\U0010FFFF", UCS2},
		{"bmp edges ucs2", "\u0000\uD7FF\uE000\uFFFD\uFFFF", UCS2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.body, tt.enc)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(b, tt.enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got != tt.body {
				t.Fatalf("round trip = %q, want %q", got, tt.body)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		enc  Encoding
		is   error
	}{
		{"arabic as gsm", arabic, GSM7, ErrNotGSM7},
		{"esc as gsm", "a\x1bb", GSM7, ErrNotGSM7},
		{"invalid utf8 gsm", "\xc3", GSM7, ErrInvalidUTF8},
		{"invalid utf8 ucs2", "a\xed\xa0\x80", UCS2, ErrInvalidUTF8},
		{"unknown encoding", "a", Encoding("latin1"), ErrUnknownEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Encode(tt.body, tt.enc); !errors.Is(err, tt.is) {
				t.Fatalf("Encode error = %v, want errors.Is %v", err, tt.is)
			}
		})
	}
}

func TestDecodeUCS2(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{"empty", nil, "", false},
		{"arabic", []byte{0x06, 0x31, 0x06, 0x45, 0x06, 0x32}, "رمز", false},
		{"pair", []byte{0xD8, 0x3D, 0xDE, 0x00}, "😀", false},
		{"odd length", []byte{0x00, 0x41, 0x00}, "", true},
		{"lone high surrogate at end", []byte{0x00, 0x41, 0xD8, 0x3D}, "A\uFFFD", false},
		{"high surrogate then letter", []byte{0xD8, 0x3D, 0x00, 0x41}, "\uFFFDA", false},
		{"lone low surrogate", []byte{0xDE, 0x00, 0x00, 0x41}, "\uFFFDA", false},
		{"two high surrogates then low", []byte{0xD8, 0x3D, 0xD8, 0x3D, 0xDE, 0x00}, "\uFFFD😀", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in, UCS2)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decode error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Decode = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeDataCoding(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		dc      byte
		want    string
		wantErr error
	}{
		{"default gsm7", []byte{0x48, 0x69, 0x00, 0x1B, 0x65, 0x09}, 0x00, "Hi@€Ç", nil},
		{"default empty", nil, 0x00, "", nil},
		{"default rejects 8-bit octet", []byte{0x48, 0xE9}, 0x00, "", ErrMalformed},
		{"ia5", []byte("Code: 123456 {x}"), 0x01, "Code: 123456 {x}", nil},
		{"ia5 rejects 8-bit octet", []byte{0x41, 0xE9}, 0x01, "", ErrMalformed},
		{"latin1", []byte{0x63, 0x61, 0x66, 0xE9, 0x20, 0xA3, 0xFF}, 0x03, "café £ÿ", nil},
		{"ucs2 arabic", []byte{0x06, 0x31, 0x06, 0x45, 0x06, 0x32}, 0x08, "رمز", nil},
		{"ucs2 pair", []byte{0x00, 0x41, 0xD8, 0x3D, 0xDE, 0x00}, 0x08, "A😀", nil},
		{"ucs2 odd length", []byte{0x06, 0x31, 0x06}, 0x08, "", ErrMalformed},
		{"binary 0x04", []byte{0x01, 0x02}, 0x04, "", ErrDataCoding},
		{"binary 0x02", []byte{0x01, 0x02}, 0x02, "", ErrDataCoding},
		{"jis 0x05", []byte{0x41}, 0x05, "", ErrDataCoding},
		{"class 0xF0", []byte{0x41}, 0xF0, "", ErrDataCoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeDataCoding(tt.in, tt.dc)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("DecodeDataCoding error = %v, want errors.Is %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeDataCoding: %v", err)
			}
			if got != tt.want {
				t.Fatalf("DecodeDataCoding = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeDataCodingNamesValue(t *testing.T) {
	_, err := DecodeDataCoding([]byte{0x41}, 0x05)
	if err == nil || !strings.Contains(err.Error(), "0x05") {
		t.Fatalf("error %v does not name 0x05", err)
	}
}
