package smsenc

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"
)

// gsmLayout is the default alphabet as usually printed, row by row; ESC at
// 0x1B. It is a second spelling of gsmDefault to catch a slip in either.
const gsmLayout = "@£$¥èéùìòÇ\nØø\rÅå" +
	"Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ" +
	" !\"#¤%&'()*+,-./" +
	"0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNO" +
	"PQRSTUVWXYZÄÖÑÜ§" +
	"¿abcdefghijklmno" +
	"pqrstuvwxyzäöñüà"

func TestGSMDefaultTableMatchesLayout(t *testing.T) {
	if n := utf8.RuneCountInString(gsmLayout); n != 128 {
		t.Fatalf("layout has %d characters, want 128", n)
	}
	code := 0
	for _, r := range gsmLayout {
		want := r
		if code == escape {
			want = noChar
		}
		if gsmDefault[code] != want {
			t.Errorf("gsmDefault[0x%02X] = %q, want %q", code, gsmDefault[code], want)
		}
		code++
	}
}

func TestGSMDefaultRoundTrip(t *testing.T) {
	for code, r := range gsmDefault {
		if r == noChar {
			continue
		}
		t.Run(fmt.Sprintf("0x%02X_%q", code, r), func(t *testing.T) {
			s := string(r)
			b, err := Encode(s, GSM7)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(b, []byte{byte(code)}) {
				t.Fatalf("Encode = % X, want %02X", b, code)
			}
			got, err := Decode(b, GSM7)
			if err != nil || got != s {
				t.Fatalf("Decode = %q, %v; want %q", got, err, s)
			}
			if info := Analyze(s); info != (Info{GSM7, 1, 1}) {
				t.Fatalf("Analyze = %+v, want GSM-7 1 septet", info)
			}
		})
	}
}

func TestGSMExtensionRoundTrip(t *testing.T) {
	want := map[rune]byte{
		'\f': 0x0A, '^': 0x14, '{': 0x28, '}': 0x29, '\\': 0x2F,
		'[': 0x3C, '~': 0x3D, ']': 0x3E, '|': 0x40, '€': 0x65,
	}
	if len(gsmExtension) != len(want) {
		t.Fatalf("extension table has %d entries, want %d", len(gsmExtension), len(want))
	}
	for r, code := range want {
		t.Run(fmt.Sprintf("0x%02X_%q", code, r), func(t *testing.T) {
			s := string(r)
			b, err := Encode(s, GSM7)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(b, []byte{0x1B, code}) {
				t.Fatalf("Encode = % X, want 1B %02X", b, code)
			}
			got, err := Decode(b, GSM7)
			if err != nil || got != s {
				t.Fatalf("Decode = %q, %v; want %q", got, err, s)
			}
			if info := Analyze(s); info != (Info{GSM7, 2, 1}) {
				t.Fatalf("Analyze = %+v, want GSM-7 2 septets", info)
			}
		})
	}
}

func TestForcesUCS2(t *testing.T) {
	for _, s := range []string{
		"’", "`", "á", "í", "ó", "ú", "ç", "\t", "\x1b", "\x00", "\x7f",
		"‘", "“", "”", "…", "–", "\u2126", "\u2206", "ع", "😀", "ÿ", "\u00a0",
	} {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			if info := Analyze("code " + s); info.Encoding != UCS2 {
				t.Fatalf("Analyze(%q).Encoding = %s, want UCS-2", s, info.Encoding)
			}
			if _, err := Encode(s, GSM7); err == nil {
				t.Fatalf("Encode(%q, GSM7) succeeded, want error", s)
			}
		})
	}
}

// Ç (0x09) is GSM-7; ç is not. Greek capitals are the Greek block
// characters, not look-alikes (Ω is U+03A9, not the ohm sign U+2126).
func TestGSMLookalikes(t *testing.T) {
	tests := []struct {
		s    string
		want Encoding
	}{
		{"Ç", GSM7},
		{"ç", UCS2},
		{"\u03a9", GSM7},
		{"\u2126", UCS2},
		{"\u0394", GSM7},
		{"\u2206", UCS2},
		{"¤", GSM7},
		{"§", GSM7},
		{"¡¿", GSM7},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.s), func(t *testing.T) {
			if got := Analyze(tt.s).Encoding; got != tt.want {
				t.Fatalf("Analyze(%q).Encoding = %s, want %s", tt.s, got, tt.want)
			}
		})
	}
}

func TestDecodeGSM7Lenient(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{"empty", nil, "", false},
		{"plain", []byte{0x48, 0x69, 0x00}, "Hi@", false},
		{"euro", []byte{0x1B, 0x65}, "€", false},
		{"unknown escape gives default char", []byte{0x1B, 0x41}, "A", false},
		{"escape escape gives space", []byte{0x1B, 0x1B, 0x41}, " A", false},
		{"trailing escape gives space", []byte{0x41, 0x1B}, "A ", false},
		{"escape CR2 gives CR", []byte{0x1B, 0x0D}, "\r", false},
		{"octet above 0x7F", []byte{0x41, 0x80}, "", true},
		{"escape then octet above 0x7F", []byte{0x1B, 0xE9}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(tt.in, GSM7)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Decode(% X) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Decode(% X) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
