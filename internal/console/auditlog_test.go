package console

import (
	"strings"
	"testing"
)

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
