package policy

import (
	"strings"
	"testing"
	"time"
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
			if !Allows(c, code) {
				t.Fatalf("%q does not allow its own %q", c, code)
			}
		}
		if Allows(c, "001") || Allows(c, "") {
			t.Fatalf("%q allows numbers of no country", c)
		}
	})
}

// A list is beyond a ceiling by exactly the countries the ceiling does not
// allow; any country is beyond every ceiling but any country.
func TestBeyond(t *testing.T) {
	for _, c := range []struct {
		list, ceiling, want string
	}{
		{"JO", "JO", ""},
		{"JO", "JO,SA", ""},
		{"JO,SA", "JO", "SA"},
		{"GB,JO,SA", "JO", "GB,SA"},
		{"*", "JO", "*"},
		{"*", "*", ""},
		{"GB", "*", ""},
	} {
		if got := strings.Join(Beyond(c.list, c.ceiling), ","); got != c.want {
			t.Errorf("Beyond(%q, %q) = %q; want %q", c.list, c.ceiling, got, c.want)
		}
	}
}

// An account's policy fills only what the operator set; the rest is the
// server's default, and a policy keeps what is unset unset through a store.
func TestApplyAndEncode(t *testing.T) {
	defaults := Effective{Countries: "JO", PerNumber: Rate{Max: 10, Window: time.Hour}, DailyBudget: DefaultDailyBudget, Messages: MessagesAny}
	budget, yes := 50, true
	p := Policy{Countries: "JO,SA", DailyBudget: &budget, Transactional: &yes}
	got := defaults.Apply(p)
	want := Effective{Countries: "JO,SA", PerNumber: Rate{Max: 10, Window: time.Hour}, DailyBudget: 50, Messages: MessagesAny, Transactional: true}
	if got != want {
		t.Fatalf("Apply = %+v; want %+v", got, want)
	}
	if defaults.Apply(Policy{}) != defaults {
		t.Fatal("an empty policy does not leave the defaults as they are")
	}
	enc := p.Encode()
	back, err := Decode(enc)
	if err != nil || back.Encode() != enc || back.PerNumber != nil || back.Messages != "" || *back.DailyBudget != 50 {
		t.Fatalf("Decode(%s) = %+v, %v", enc, back, err)
	}
	if (Policy{}).Encode() != "" {
		t.Fatal("the empty policy is not kept as the empty string")
	}
	zero := 0
	off := Rate{}
	enc = Policy{DailyBudget: &zero, PerNumber: &off}.Encode()
	back, _ = Decode(enc)
	if back.DailyBudget == nil || *back.DailyBudget != 0 || back.PerNumber == nil || !back.PerNumber.Off() {
		t.Fatalf("a budget and a limit turned off came back as %s -> %+v: off is not the default", enc, back)
	}
	if _, err := Decode(`{"per_number":"ten"}`); err == nil {
		t.Fatal("a stored policy that does not read was taken")
	}
}

func TestPolicyCheck(t *testing.T) {
	neg, huge := -1, MaxDailyBudget+1
	for _, c := range []struct {
		p    Policy
		says string
	}{
		{Policy{Countries: "jo"}, "canonical"},
		{Policy{Countries: "XX"}, "countries"},
		{Policy{DailyBudget: &neg}, "daily_budget"},
		{Policy{DailyBudget: &huge}, "daily_budget"},
		{Policy{Messages: "all"}, "messages"},
	} {
		if err := c.p.Check(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Check(%+v) = %v; want an error naming %s", c.p, err, c.says)
		}
	}
	if err := (Policy{Countries: "JO,SA", Messages: MessagesCodes}).Check(); err != nil {
		t.Fatal(err)
	}
}

// Setting fields from text: each field's form, "default" unsetting it, and
// an error that names the field for anything else.
func TestWith(t *testing.T) {
	p := Policy{}
	for _, c := range []struct{ field, value string }{
		{"countries", "sa, jo"}, {"per_number", "3/1h"}, {"daily_budget", "500"}, {"messages", "codes"}, {"transactional", "true"},
	} {
		var err error
		if p, err = p.With(c.field, c.value); err != nil {
			t.Fatalf("With(%s, %s): %v", c.field, c.value, err)
		}
	}
	if p.Countries != "JO,SA" || p.PerNumber.String() != "3/1h" || *p.DailyBudget != 500 || p.Messages != MessagesCodes || !*p.Transactional {
		t.Fatalf("got %+v", p)
	}
	if q, _ := p.With("daily_budget", "off"); *q.DailyBudget != 0 {
		t.Fatal("daily_budget off is not 0")
	}
	for _, f := range Fields {
		var err error
		if p, err = p.With(f, "default"); err != nil {
			t.Fatal(err)
		}
	}
	if !p.IsZero() {
		t.Fatalf("every field set to default leaves %+v", p)
	}
	for _, c := range []struct{ field, value string }{
		{"countries", "XX"}, {"per_number", "10"}, {"daily_budget", "-5"}, {"daily_budget", "1e9"}, {"messages", "sms"}, {"transactional", "maybe"}, {"budget", "5"},
	} {
		if _, err := p.With(c.field, c.value); err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("With(%s, %s) = %v; want an error naming the field", c.field, c.value, err)
		}
	}
}

// Whatever text the operator API is given, a field it accepts leaves a
// policy that passes Check and survives the store.
func FuzzWith(f *testing.F) {
	for _, s := range []string{"JO", "10/1h", "500", "off", "codes", "true", "default", "", "1e9", "-1"} {
		for i := range Fields {
			f.Add(i, s)
		}
	}
	f.Fuzz(func(t *testing.T, i int, value string) {
		if i < 0 {
			i = -i
		}
		p, err := Policy{}.With(Fields[i%len(Fields)], value)
		if err != nil {
			return
		}
		if err := p.Check(); err != nil {
			t.Fatalf("With(%s, %q) = %+v, which Check refuses: %v", Fields[i%len(Fields)], value, p, err)
		}
		back, err := Decode(p.Encode())
		if err != nil || back.Encode() != p.Encode() {
			t.Fatalf("%+v does not survive Encode/Decode: %+v, %v", p, back, err)
		}
	})
}
