package phone

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// MustParser returns a Parser for region or fails the test.
func MustParser(tb testing.TB, region string) *Parser {
	tb.Helper()
	p, err := NewParser(region)
	if err != nil {
		tb.Fatalf("NewParser(%q): %v", region, err)
	}
	return p
}

var (
	zain   = Number{E164: "+962790320012", Region: "JO", Type: TypeMobile, Operator: "Zain"}
	orange = Number{E164: "+962770320012", Region: "JO", Type: TypeMobile, Operator: "Orange"}
	umniah = Number{E164: "+962780320012", Region: "JO", Type: TypeMobile, Operator: "Umniah"}
)

func TestParseSMS(t *testing.T) {
	p := MustParser(t, "JO")
	tests := []struct {
		name  string
		input string
		want  Number
		// wantReason, when set, is a substring the *Error's Reason must contain.
		wantReason string
	}{
		// Every spelling of one Zain number.
		{name: "international without plus", input: "962790320012", want: zain},
		{name: "international with spaces", input: "+962 79 032 0012", want: zain},
		{name: "international prefix 00", input: "00962790320012", want: zain},
		{name: "national with trunk 0", input: "0790320012", want: zain},
		{name: "national without trunk 0", input: "790320012", want: zain},
		{name: "national with parentheses and dash", input: "(079) 032-0012", want: zain},
		{name: "international with dashes", input: "+962-79-032-0012", want: zain},
		{name: "international with (0)", input: "+962 (0)79 032 0012", want: zain},
		{name: "international without plus with spaces", input: "962 79 032 0012", want: zain},
		{name: "national with dots", input: "079.032.0012", want: zain},
		{name: "national with slash", input: "079/0320012", want: zain},
		{name: "Arabic-Indic digits", input: "٠٧٩٠٣٢٠٠١٢", want: zain},
		{name: "Eastern Arabic-Indic digits", input: "۰۷۹۰۳۲۰۰۱۲", want: zain},
		{name: "Arabic-Indic international", input: "+٩٦٢ ٧٩ ٠٣٢ ٠٠١٢", want: zain},
		{name: "mixed ASCII and both Arabic digit sets", input: "07٩0 ۳٢ 0012", want: zain},
		{name: "fullwidth digits and plus", input: "＋９６２７９０３２００１２", want: zain},
		{name: "no-break spaces and bidi marks", input: "\u200f+962\u00a079\u202f032\u00a00012\u200e", want: zain},
		{name: "surrounding white space", input: "\t 0790320012 \n", want: zain},
		{name: "en dash and em dash", input: "079–032—0012", want: zain},

		// Operators.
		{name: "Orange 077", input: "0770320012", want: orange},
		{name: "Umniah 078", input: "+962 78 032 0012", want: umniah},

		// Foreign numbers in international form.
		{name: "UK mobile", input: "+44 7400 123456", want: Number{E164: "+447400123456", Region: "GB", Type: TypeMobile, Operator: "Three"}},
		{name: "UK mobile via 00", input: "0044 7400 123456", want: Number{E164: "+447400123456", Region: "GB", Type: TypeMobile, Operator: "Three"}},
		{name: "UK mobile with (0)", input: "+44 (0)7400 123456", want: Number{E164: "+447400123456", Region: "GB", Type: TypeMobile, Operator: "Three"}},
		{name: "US fixed line or mobile", input: "+1 201 555 0123", want: Number{E164: "+12015550123", Region: "US", Type: TypeFixedLineOrMobile}},
		{name: "US with dots", input: "+1.201.555.0123", want: Number{E164: "+12015550123", Region: "US", Type: TypeFixedLineOrMobile}},

		// Valid numbers that cannot receive SMS.
		{name: "Jordan landline international", input: "+962 6 461 2345", wantReason: "is a fixed-line number, which cannot receive SMS"},
		{name: "Jordan landline national", input: "06 461 2345", wantReason: "is a fixed-line number, which cannot receive SMS"},
		{name: "Jordan pager", input: "+962 7466 12345", wantReason: "is a pager number, which cannot receive SMS"},
		{name: "Jordan personal number", input: "+962 70 000 0000", wantReason: "is a personal (follow-me) number, which cannot receive SMS"},
		{name: "UK pager", input: "+44 7640 123456", wantReason: "is a pager number, which cannot receive SMS"},
		{name: "US toll free", input: "+1 800 555 0123", wantReason: "is a toll-free number, which cannot receive SMS"},

		// Not numbers at all, or not valid ones.
		{name: "empty", input: "", wantReason: "is empty"},
		{name: "only spaces", input: "  \u00a0 ", wantReason: "is empty"},
		{name: "plus only", input: "+", wantReason: "has no digits"},
		{name: "international prefix only", input: "00", wantReason: "has too few digits after the international prefix"},
		{name: "dashes only", input: "---", wantReason: "has no digits"},
		{name: "letters", input: "abc", wantReason: `contains the letter 'a'`},
		{name: "letter l for digit 1", input: "07903200l2", wantReason: `contains the letter 'l'`},
		{name: "vanity number", input: "1-800-FLOWERS", wantReason: `contains the letter 'F'`},
		{name: "extension", input: "0790320012 ext 5", wantReason: `contains the letter 'e'`},
		{name: "tel URI", input: "tel:+962790320012", wantReason: `contains the letter 't'`},
		{name: "emoji", input: "0790320012📱", wantReason: "which is not part of a phone number"},
		{name: "comma", input: "079,032,0012", wantReason: `contains ',', which is not part of a phone number`},
		{name: "plus in the middle", input: "0790+320012", wantReason: "has a '+' that is not at the start"},
		{name: "two plus signs", input: "++962790320012", wantReason: "has a '+' that is not at the start"},
		{name: "too short", input: "12", wantReason: "is too short"},
		{name: "too short mobile", input: "079032", wantReason: "is too short for a +962 (JO) number"},
		{name: "one digit too many", input: "+962 79 032 00123", wantReason: "is too long for a +962 (JO) number"},
		{name: "too many digits", input: "0790320012345678901234", wantReason: "is too long"},
		{name: "unknown country code", input: "+999 123 456 789", wantReason: "starts with an unknown country code"},
		{name: "trunk 0 before country code", input: "0962790320012", wantReason: "is too long for a +962 (JO) number"},
		{name: "unassigned range", input: "+962 72 032 0012", wantReason: "+962 (JO)"},
		{name: "longer than 64 bytes", input: strings.Repeat("0", 65), wantReason: "is 65 bytes long; at most 64 bytes are accepted"},
		{name: "invalid UTF-8", input: "079\xff0320012", wantReason: "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, pass := range []string{"cold", "cached"} {
				got, err := p.ParseSMS(tt.input)
				if tt.wantReason == "" {
					if err != nil {
						t.Fatalf("%s: ParseSMS(%q): %v", pass, tt.input, err)
					}
					if got != tt.want {
						t.Fatalf("%s: ParseSMS(%q) = %+v, want %+v", pass, tt.input, got, tt.want)
					}
					continue
				}
				var perr *Error
				if !errors.As(err, &perr) {
					t.Fatalf("%s: ParseSMS(%q) = %+v, %v; want *Error", pass, tt.input, got, err)
				}
				if got != (Number{}) {
					t.Errorf("%s: ParseSMS(%q) returned %+v with an error, want the zero Number", pass, tt.input, got)
				}
				if perr.Input != tt.input {
					t.Errorf("%s: Error.Input = %q, want %q", pass, perr.Input, tt.input)
				}
				if !strings.Contains(perr.Reason, tt.wantReason) {
					t.Errorf("%s: Error.Reason = %q, want it to contain %q", pass, perr.Reason, tt.wantReason)
				}
				if msg := err.Error(); !strings.Contains(msg, perr.Reason) || !strings.Contains(msg, "international form") {
					t.Errorf("%s: Error() = %q, want the reason and what is accepted", pass, msg)
				}
			}
		})
	}
}

func TestParseAnyType(t *testing.T) {
	p := MustParser(t, "JO")
	tests := []struct {
		input string
		want  Number
	}{
		{"+962 6 461 2345", Number{E164: "+96264612345", Region: "JO", Type: TypeFixedLine}},
		{"06 461 2345", Number{E164: "+96264612345", Region: "JO", Type: TypeFixedLine}},
		{"+962 7466 12345", Number{E164: "+962746612345", Region: "JO", Type: TypePager}},
		{"+1 800 555 0123", Number{E164: "+18005550123", Region: "US", Type: TypeTollFree}},
		{"+800 1234 5678", Number{E164: "+80012345678", Region: "001", Type: TypeTollFree}},
		{"0790320012", zain},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			got, err := p.Parse(tt.input)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.input, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.input, got, tt.want)
			}
		})
	}
}

func TestParseOtherDefaultRegion(t *testing.T) {
	tests := []struct {
		region, input string
		want          string // E164, or "" for an error
	}{
		{"US", "(201) 555-0123", "+12015550123"},
		{"US", "12015550123", "+12015550123"},
		{"US", "+962790320012", "+962790320012"},
		{"US", "011 962 79 032 0012", "+962790320012"},
		{"US", "0790320012", ""}, // Jordanian national form means nothing in the US
		{"SA", "050 123 4567", "+966501234567"},
		{"SA", "966501234567", "+966501234567"},
		{"GB", "07400 123456", "+447400123456"},
		{"jo", "0790320012", "+962790320012"},
	}
	for _, tt := range tests {
		t.Run(tt.region+"/"+tt.input, func(t *testing.T) {
			p := MustParser(t, tt.region)
			got, err := p.ParseSMS(tt.input)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParseSMS(%q) = %+v, want an error", tt.input, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSMS(%q): %v", tt.input, err)
			}
			if got.E164 != tt.want {
				t.Fatalf("ParseSMS(%q).E164 = %q, want %q", tt.input, got.E164, tt.want)
			}
		})
	}
}

func TestNewParser(t *testing.T) {
	for _, region := range []string{"JO", "jo", " JO ", "US", "GB", "SA"} {
		t.Run("ok/"+region, func(t *testing.T) {
			p, err := NewParser(region)
			if err != nil {
				t.Fatalf("NewParser(%q): %v", region, err)
			}
			if want := strings.ToUpper(strings.TrimSpace(region)); p.Region() != want {
				t.Errorf("Region() = %q, want %q", p.Region(), want)
			}
		})
	}
	for _, region := range []string{"", "ZZ", "XX", "001", "Jordan", "JOR", "962", "UK"} {
		t.Run("bad/"+region, func(t *testing.T) {
			if p, err := NewParser(region); err == nil {
				t.Fatalf("NewParser(%q) = %+v, want an error", region, p)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	p := MustParser(t, "JO")
	_, err := p.ParseSMS("06 461 2345")
	want := `phone number "06 461 2345" is a fixed-line number, which cannot receive SMS; expected a phone number in international form`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Error() = %v, want it to start with %q", err, want)
	}

	long := strings.Repeat("٠", 40) // 80 bytes
	_, err = p.ParseSMS(long)
	if err == nil {
		t.Fatal("ParseSMS(80 bytes): no error")
	}
	if msg := err.Error(); strings.Contains(msg, long) || !strings.Contains(msg, `..."`) {
		t.Errorf("Error() = %q, want the input cut short", msg)
	}
	if !strings.Contains(err.Error(), "at most 64 bytes") {
		t.Errorf("Error() = %q, want it to name the limit", err)
	}
}

// TestCachedErrorIsACopy checks that a caller changing an *Error it got does
// not change what the next caller gets.
func TestCachedErrorIsACopy(t *testing.T) {
	p := MustParser(t, "JO")
	_, err := p.ParseSMS("abc")
	err.(*Error).Reason = "changed"
	_, err = p.ParseSMS("abc")
	if got := err.(*Error).Reason; got == "changed" {
		t.Fatalf("cached error was shared between calls")
	}
}

func TestCacheBounded(t *testing.T) {
	p, err := newParser("JO", 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		for i := range 100 {
			input := fmt.Sprintf("079%07d", i)
			got, err := p.ParseSMS(input)
			if err != nil {
				t.Fatalf("round %d: ParseSMS(%q): %v", round, input, err)
			}
			if want := fmt.Sprintf("+96279%07d", i); got.E164 != want {
				t.Fatalf("round %d: ParseSMS(%q).E164 = %q, want %q", round, input, got.E164, want)
			}
		}
		if n := p.cache.len(); n > 2*2*4 {
			t.Fatalf("round %d: cache holds %d entries, want at most 16", round, n)
		}
	}
}

func TestCacheKeepsEntriesInUse(t *testing.T) {
	c := newCache(1, 4)
	c.put("hot", cacheEntry{reason: "hot"})
	for i := range 100 {
		c.put(fmt.Sprint(i), cacheEntry{})
		if _, ok := c.get("hot"); !ok {
			t.Fatalf("after %d other entries: hot entry evicted", i+1)
		}
	}
	if n := c.len(); n > 8 {
		t.Fatalf("cache holds %d entries, want at most 8", n)
	}
}

func TestZeroParserDoesNotPanic(t *testing.T) {
	var p Parser // no default region, no cache
	got, err := p.ParseSMS("+962790320012")
	if err != nil || got != zain {
		t.Fatalf("ParseSMS = %+v, %v; want %+v", got, err, zain)
	}
	if _, err := p.ParseSMS("0790320012"); err == nil {
		t.Fatal("national number without a default region: no error")
	}
}

func TestParseConcurrent(t *testing.T) {
	p, err := newParser("JO", 4, 8) // small, so goroutines also race on eviction
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{"0790320012", "+962 77 032 0012", "٠٧٨٠٣٢٠٠١٢", "+44 7400 123456", "06 461 2345", "abc"}
	want := make([]Number, len(inputs))
	wantErr := make([]string, len(inputs))
	for i, in := range inputs {
		n, err := p.parse(in)
		want[i], wantErr[i] = n, err
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := (g + i) % len(inputs)
				input := inputs[k]
				if i%3 == 0 {
					input = fmt.Sprintf("079%07d", i) // fill the cache
				}
				got, err := p.Parse(input)
				if input != inputs[k] {
					if err != nil {
						t.Errorf("Parse(%q): %v", input, err)
					}
					continue
				}
				if got != want[k] || (err == nil) != (wantErr[k] == "") {
					t.Errorf("Parse(%q) = %+v, %v; want %+v, %q", input, got, err, want[k], wantErr[k])
				}
			}
		})
	}
	wg.Wait()
}

func TestCacheHoldsE164Form(t *testing.T) {
	p := MustParser(t, "JO")
	if _, err := p.ParseSMS("079 032 0012"); err != nil {
		t.Fatal(err)
	}
	e, ok := p.cache.get("+962790320012")
	if !ok || e.num != zain {
		t.Fatalf("cache entry for the E.164 form = %+v, %v; want %+v", e, ok, zain)
	}
}

// TestParseRoundTrip checks, over random digit strings in national and
// international form, that parsing a number's E.164 form gives the same
// Number: the fuzzer rarely finds valid numbers by itself.
func TestParseRoundTrip(t *testing.T) {
	p := MustParser(t, "JO")
	rng := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"", "0", "07", "+", "+962", "00", "962", "+1", "+44", "+9", "+2", "+3", "+8"}
	valid := 0
	for range 3000 {
		var b strings.Builder
		b.WriteString(prefixes[rng.IntN(len(prefixes))])
		for range 4 + rng.IntN(11) {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		input := b.String()
		got, err := p.Parse(input)
		if err != nil {
			continue
		}
		valid++
		again, err := p.Parse(got.E164)
		if err != nil || again != got {
			t.Errorf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", input, got, got.E164, again, err)
		}
	}
	if valid < 100 {
		t.Fatalf("only %d of 3000 random inputs were valid numbers; the test is too weak", valid)
	}
}

// The fast path must answer exactly as the full parse does, for every region
// it is on for, over numbers written every way.
func TestFastPathMatchesParse(t *testing.T) {
	regions := make([]string, 0, len(fastRegions))
	for r := range fastRegions {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	for _, region := range regions {
		rng := rand.New(rand.NewPCG(1, uint64(len(region)+int(region[0])<<8+int(region[1])))) // per region: runs are repeatable
		t.Run(region, func(t *testing.T) {
			p, err := newParser(region, 0, 0) // no cache: every call parses
			if err != nil {
				t.Fatal(err)
			}
			slow := *p
			slow.fast = false
			if !p.fast {
				t.Fatalf("fast path is off for %s", region)
			}
			var examples []string
			for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE, phonenumbers.PAGER} {
				if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
					examples = append(examples, strconv.FormatUint(ex.GetNationalNumber(), 10))
				}
			}
			n := 400 // the full parse is slow under -race; the default region gets the most
			if region == "JO" {
				n = 4000
			}
			fastHits := 0
			for i := range n {
				national := randomNational(rng, 5, 12, examples, i%2 == 0, 4, 4)
				var input string
				switch rng.IntN(5) {
				case 0:
					input = "+" + p.countryCode + national
				case 1:
					input = "00" + p.countryCode + national
				case 2:
					input = p.nationalPrefix + national
				case 3:
					input = national
				default:
					input = p.countryCode + national
				}
				plus, digits, _ := clean(input)
				if _, _, ok := p.fastParse(plus, digits); ok {
					fastHits++
				}
				gotN, gotR := p.parse(input)
				wantN, wantR := slow.parse(input)
				if gotN != wantN || gotR != wantR {
					t.Fatalf("%s: fast path gives %+v %q, full parse %+v %q", input, gotN, gotR, wantN, wantR)
				}
			}
			if fastHits == 0 {
				t.Fatalf("the fast path never answered for %s", region)
			}
		})
	}
}

// The typer of every region libphonenumber knows gives the type its
// GetNumberType gives, for example numbers of each type with their last
// digits changed and for random digits of every length.
func TestTyperMatchesLibphonenumber(t *testing.T) {
	types := []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	regions := slices.Sorted(maps.Keys(phonenumbers.GetSupportedRegions()))
	seen := map[phonenumbers.PhoneNumberType]int{}
	for _, region := range regions {
		ty := newTyper(region)
		if ty == nil {
			t.Errorf("%s: no typer", region)
			continue
		}
		cc := int32(phonenumbers.GetCountryCodeForRegion(region))
		rng := rand.New(rand.NewPCG(2, uint64(region[0])<<8+uint64(region[1])))
		var examples []string
		for _, typ := range types {
			if ex := phonenumbers.GetExampleNumberForType(region, typ); ex != nil {
				examples = append(examples, strconv.FormatUint(ex.GetNationalNumber(), 10))
			}
		}
		n := 60
		if fastRegions[region] {
			n = 2000
		}
		for i := range n {
			national := randomNational(rng, 2, 15, examples, i%2 == 0, 1, 5)
			nn, _ := strconv.ParseUint(national, 10, 64)
			if national[0] == '0' || strconv.FormatUint(nn, 10) != national {
				continue
			}
			num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}
			if phonenumbers.GetRegionCodeForNumber(num) != region {
				continue // a calling code of several regions: GetNumberType reads another's metadata
			}
			want := phonenumbers.GetNumberType(num)
			if got := ty.typeOf(national); got != want {
				t.Errorf("%s %s: typer says %v, libphonenumber %v", region, national, got, want)
			}
			seen[want]++
		}
	}
	for _, typ := range append(types, phonenumbers.UNKNOWN, phonenumbers.FIXED_LINE_OR_MOBILE) {
		if seen[typ] == 0 {
			t.Errorf("no number of type %v was compared", typ)
		}
	}
	t.Logf("compared by type: %v", seen)
}

// randomNational returns a national number for the type tests: random
// digits (no leading zero), from minLen to maxLen of them; or, when
// fromExample and there are examples, a real range: an example number
// with its last fewest to most digits changed, give or take one digit.
func randomNational(rng *rand.Rand, minLen, maxLen int, examples []string, fromExample bool, fewest, most int) string {
	if fromExample && len(examples) > 0 {
		ex := examples[rng.IntN(len(examples))]
		national := ex[:max(1, len(ex)-fewest-rng.IntN(most-fewest+1))]
		for len(national) < len(ex)+rng.IntN(3)-1 {
			national += strconv.Itoa(rng.IntN(10))
		}
		return national
	}
	national := strconv.Itoa(1 + rng.IntN(9))
	for n := minLen + rng.IntN(maxLen-minLen+1); len(national) < n; {
		national += strconv.Itoa(rng.IntN(10))
	}
	return national
}
