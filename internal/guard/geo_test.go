package guard

import (
	"strings"
	"testing"
)

func TestParseCountries(t *testing.T) {
	for in, want := range map[string]string{
		"JO":             "JO",
		" sa, jo ,JO,ae": "AE,JO,SA",
		"*":              "*",
		" * ":            "*",
		"gb,":            "GB",
	} {
		if got, err := ParseCountries(in); err != nil || got != want {
			t.Errorf("ParseCountries(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, says := range map[string]string{
		"":      "one or more",
		" , ":   "one or more",
		"UK":    `"UK" is not an ISO 3166-1 alpha-2 code`,
		"JOR":   `"JOR"`,
		"JO,*":  "cannot be combined",
		"001":   `"001"`,
		"jo;sa": `"jo;sa"`,
	} {
		if _, err := ParseCountries(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("ParseCountries(%q): %v, want an error saying %q", in, err, says)
		}
	}
}

// A list once parsed parses to itself, and allows exactly its countries.
func FuzzParseCountries(f *testing.F) {
	for _, s := range []string{"JO", "jo, sa", "*", "", "UK", "JO,*", "ae,AE,gb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseCountries(in)
		if err != nil {
			return
		}
		again, err := ParseCountries(c)
		if err != nil || again != c {
			t.Fatalf("ParseCountries(%q) = %q, which parses to %q, %v", in, c, again, err)
		}
		if c == AnyCountry {
			return
		}
		for code := range strings.SplitSeq(c, ",") {
			if !allows(c, code) {
				t.Fatalf("%q does not allow its own %q", c, code)
			}
		}
		if allows(c, "001") || allows(c, "") {
			t.Fatalf("%q allows numbers of no country", c)
		}
	})
}
