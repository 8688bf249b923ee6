package audit

import "testing"

// MaskNumbers masks whole numbers in any form, and leaves prefixes, IDs and
// fractions alone.
func TestMaskNumbers(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"+962791234567", "+96279*****67"},
		{"prefix:+96279031", "prefix:+96279031"}, // a block's prefix stays
		{`{"key":"prefix:+96279031","value":"+96279031","conversion":0.0666666666}`, `{"key":"prefix:+96279031","value":"+96279031","conversion":0.0666666666}`},
		{`"phone_number" "0791234567": a safe list holds`, `"phone_number" "079*****67": a safe list holds`},
		{"numbers +962791234567, +962781234567.", "numbers +96279*****67, +96278*****67."},
		{"AC0123456789abcdef CT123456789012", "AC0123456789abcdef CT123456789012"},
		{"", ""},
		{"+", "+"},
	} {
		if got := MaskNumbers(tt.in); got != tt.want {
			t.Errorf("MaskNumbers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
