package console

import (
	"strings"
	"testing"
)

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
		if got := maskNumbers(tt.in); got != tt.want {
			t.Errorf("maskNumbers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCompactOf(t *testing.T) {
	long := `{"name":"` + strings.Repeat("x", 200) + `"}`
	for _, tt := range []struct{ in, short, full string }{
		{`{"countries":"JO,PS","per_number":null,"n":3,"list":["+962791234567"],"o":{"a":1},"e":""}`,
			`countries: JO,PS, per_number: null, n: 3, list: ["+96279*****67"], o: {"a":1}, e: ""`, ""},
		{`"JO"`, `"JO"`, ""},
		{`{}`, `{}`, ""},
		{`not JSON +962791234567`, `not JSON +96279*****67`, ""},
		{"", "", ""},
		{long, "name: " + strings.Repeat("x", 154) + "…", "name: " + strings.Repeat("x", 200)},
	} {
		if got := compactOf(tt.in); got.Short != tt.short || got.Full != tt.full {
			t.Errorf("compactOf(%q) = %+v, want %q, %q", tt.in, got, tt.short, tt.full)
		}
	}
}
