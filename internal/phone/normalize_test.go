package phone

import (
	"strings"
	"testing"
)

func TestNormalizeDigits(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"ASCII unchanged", "+962 79-032", "+962 79-032"},
		{"empty", "", ""},
		{"Arabic-Indic", "٠١٢٣٤٥٦٧٨٩", "0123456789"},
		{"Eastern Arabic-Indic", "۰۱۲۳۴۵۶۷۸۹", "0123456789"},
		{"fullwidth", "０１２３４５６７８９", "0123456789"},
		{"mixed with text", "رمز ١٢٣ code ۴۵6", "رمز 123 code 456"},
		{"other digits kept", "१२३", "१२३"}, // Devanagari is not mapped
		{"invalid UTF-8 kept", "١\xff٢", "1\xff2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeDigits(tt.in); got != tt.want {
				t.Errorf("NormalizeDigits(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // "" means rejected
	}{
		{"plain", "123456", "123456"},
		{"single digit", "7", "7"},
		{"twenty digits", "12345678901234567890", "12345678901234567890"},
		{"spaces", " 123 456 ", "123456"},
		{"no-break and thin spaces", "123\u00a0456\u2009", "123456"},
		{"tab and newline", "\t123456\n", "123456"},
		{"hyphen-minus", "123-456", "123456"},
		{"Unicode hyphen", "123‐456", "123456"},
		{"en dash", "123–456", "123456"},
		{"em dash", "123—456", "123456"},
		{"dots", "12.34.56", "123456"},
		{"Arabic-Indic", "١٢٣٤٥٦", "123456"},
		{"Eastern Arabic-Indic", "۱۲۳۴۵۶", "123456"},
		{"fullwidth", "１２３４５６", "123456"},
		{"mixed digits and separators", "١٢3 - ۴5٦", "123456"},
		{"right-to-left mark", "\u200f١٢٣٤٥٦\u200f", "123456"},
		{"empty", "", ""},
		{"only spaces", "   ", ""},
		{"only dashes", "--", ""},
		{"letters", "12a456", ""},
		{"letter O for zero", "12345O", ""},
		{"Arabic letters", "رمز123456", ""},
		{"twenty-one digits", "123456789012345678901", ""},
		{"very long", strings.Repeat("1 ", 1000), ""},
		{"plus sign", "+123456", ""},
		{"slash", "123/456", ""},
		{"other script digits", "१२३४५६", ""},
		{"invalid UTF-8", "123\xff456", ""},
		{"NUL byte", "123\x00456", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizeCode(tt.in)
			if tt.want == "" {
				if ok || got != "" {
					t.Fatalf("NormalizeCode(%q) = %q, %v; want rejected", tt.in, got, ok)
				}
				return
			}
			if !ok || got != tt.want {
				t.Fatalf("NormalizeCode(%q) = %q, %v; want %q, true", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"Jordan mobile", "+962790320012", "+96279*****12"},
		{"UK mobile", "+447400123456", "+44740*****56"},
		{"US", "+12015550123", "+1201*****23"},
		{"short international", "+6834002", "+*****02"},
		{"national", "0790320012", "079*****12"},
		{"formatted", "+962 79 032 0012", "+96279*****12"},
		{"Arabic-Indic", "٠٧٩٠٣٢٠٠١٢", "079*****12"},
		{"eight digits", "12345678", "1*****78"},
		{"seven digits", "1234567", "*****67"},
		{"six digits", "123456", "*****6"},
		{"five digits", "12345", "*****"},
		{"one digit", "+1", "+*"},
		{"empty", "", ""},
		{"garbage", "hello", "*"},
		{"plus only", "+", "+*"},
		{"long digits", strings.Repeat("9", 40), "99999**********99"},
		{"digits in text", "call 0790320012 now", "079*****12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Mask(tt.in)
			if got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
			checkMasked(t, tt.in, got)
		})
	}
}

// checkMasked fails if masked, the result of Mask(in), shows more than 7
// digits, or leaves fewer than 5 of in's digits hidden (all of them when in
// has 5 or fewer), or holds anything but '+', digits and '*'.
func checkMasked(t *testing.T, in, masked string) {
	t.Helper()
	n := 0
	for _, c := range NormalizeDigits(in) {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	shown := 0
	for i, c := range masked {
		switch {
		case c >= '0' && c <= '9':
			shown++
		case c == '*':
		case c == '+' && i == 0:
		default:
			t.Fatalf("Mask(%q) = %q holds %q", in, masked, c)
		}
	}
	if shown > 7 || shown > max(0, n-5) {
		t.Fatalf("Mask(%q) = %q shows %d of %d digits", in, masked, shown, n)
	}
}
