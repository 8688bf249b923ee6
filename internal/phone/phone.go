// Package phone parses and validates the phone numbers users type, with a
// default region for numbers written in national form, and tells whether a
// number can receive SMS.
//
// Parsing is done by github.com/nyaruka/phonenumbers (a port of Google's
// libphonenumber). Its parser is regular-expression heavy (tens of
// microseconds per number), so a Parser keeps a bounded cache of results
// keyed by the raw input.
package phone

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxInputLen is the longest input, in bytes, that Parse looks at. Anything
// longer is rejected before any parsing work is done.
const MaxInputLen = 64

// Number types, as found in Number.Type.
const (
	TypeMobile            = "mobile"
	TypeFixedLineOrMobile = "fixed_line_or_mobile"
	TypeFixedLine         = "fixed_line"
	TypeTollFree          = "toll_free"
	TypePremiumRate       = "premium_rate"
	TypeVoIP              = "voip"
	TypePager             = "pager"
	TypePersonalNumber    = "personal_number"
	TypeUAN               = "uan"
	TypeVoicemail         = "voicemail"
	TypeSharedCost        = "shared_cost"
	TypeUnknown           = "unknown"
)

// Number is a parsed, valid phone number.
type Number struct {
	E164   string // "+962790320012"
	Region string // ISO 3166-1 region, "JO"; "001" for non-geographic numbers such as +800
	// Type is one of the Type* constants: "mobile", "fixed_line_or_mobile", ...
	Type string
	// Operator is the carrier the number was first allocated to ("Zain",
	// "Orange", "Umniah"), or "" when unknown. Numbers can be ported between
	// operators (Jordan expects portability around 2027): treat it as a
	// hint, never as routing truth.
	Operator string
}

// CanReceiveSMS reports whether numbers of n's type can receive SMS.
func (n Number) CanReceiveSMS() bool {
	return n.Type == TypeMobile || n.Type == TypeFixedLineOrMobile
}

// Error says why an input is not an acceptable phone number.
type Error struct {
	Input  string // the input as given
	Reason string // why it is not acceptable, as a predicate: "is too short for a +962 (JO) number"
}

// Error returns a sentence naming the input, the reason, and what is accepted.
func (e *Error) Error() string {
	in := e.Input
	if len(in) > MaxInputLen {
		cut := MaxInputLen
		for cut > 0 && !utf8.RuneStart(in[cut]) {
			cut--
		}
		in = in[:cut] + "..."
	}
	return fmt.Sprintf("phone number %q %s; expected a phone number in international form "+
		"(+ and country code, e.g. +962 79 032 0012) or in the national form of the default region "+
		"(e.g. 079 032 0012 in Jordan); spaces, dashes, dots and parentheses are ignored", in, e.Reason)
}

// Parser parses phone numbers written in international form or in the
// national form of its default region. It is safe for concurrent use.
type Parser struct {
	region      string // default region, "JO"
	countryCode string // calling code of the default region, "962"
	cache       *cache // nil disables caching

	// The fast path (see fastParse) needs the region's national prefix and
	// is on only for regions where stripping it is all national parsing does.
	fast           bool
	cc             int32
	nationalPrefix string
	typer          *typer // the region's number types, for the fast path
}

// NewParser returns a Parser for numbers whose national form is that of
// defaultRegion, an ISO 3166-1 alpha-2 code known to libphonenumber ("JO").
// Case is ignored.
func NewParser(defaultRegion string) (*Parser, error) {
	return newParser(defaultRegion, defaultCacheShards, defaultCacheShardSize)
}

func newParser(defaultRegion string, shards, shardSize int) (*Parser, error) {
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	if !phonenumbers.GetSupportedRegions()[region] {
		return nil, fmt.Errorf("phone: default region %q is not an ISO 3166-1 region code known to libphonenumber (e.g. JO, SA, US)", defaultRegion)
	}
	cc := phonenumbers.GetCountryCodeForRegion(region)
	p := &Parser{
		region:      region,
		countryCode: strconv.Itoa(cc),
		cache:       newCache(shards, shardSize),
		cc:          int32(cc),
	}
	if fastRegions[region] {
		p.nationalPrefix = phonenumbers.GetNddPrefixForRegion(region, true)
		// One region per calling code: +44 is also Guernsey, Jersey and
		// the Isle of Man, whose numbers only the full parse tells apart.
		p.typer = newTyper(region)
		p.fast = isDigits(p.nationalPrefix) && len(phonenumbers.GetRegionCodesForCountryCode(cc)) == 1 && p.typer != nil
	}
	return p, nil
}

// fastRegions are the default regions whose national numbers fastParse may
// read: each has one region per calling code and a national prefix that is
// only stripped. TestFastPathMatchesParse checks every one against the full
// parse; add a region there before adding it here.
var fastRegions = map[string]bool{
	"JO": true, "SA": true, "AE": true, "KW": true, "QA": true, "BH": true, "OM": true,
	"EG": true, "IQ": true, "LB": true, "PS": true, "SY": true, "TR": true, "DE": true, "FR": true,
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// fastParse reads a number of the default region without libphonenumber's
// parser, whose regular expressions cost about 25 µs a number: it strips
// "+CC", "00CC" or the national prefix, builds the number, and tells its
// type from libphonenumber's metadata with the region's typer. It answers
// only for valid numbers; anything else (another country, an invalid number,
// a reason to give) falls back to the full parse. TestFastPathMatchesParse
// holds the two paths equal.
func (p *Parser) fastParse(plus bool, digits string) (*phonenumbers.PhoneNumber, phonenumbers.PhoneNumberType, bool) {
	if !p.fast {
		return nil, 0, false
	}
	var national string
	switch {
	case plus:
		if !strings.HasPrefix(digits, p.countryCode) {
			return nil, 0, false
		}
		national = digits[len(p.countryCode):]
	case strings.HasPrefix(digits, "00"):
		if !strings.HasPrefix(digits[2:], p.countryCode) {
			return nil, 0, false
		}
		national = digits[2+len(p.countryCode):]
	case p.nationalPrefix != "" && strings.HasPrefix(digits, p.nationalPrefix):
		national = digits[len(p.nationalPrefix):]
	default:
		national = digits
	}
	if len(national) < 2 || len(national) > 17 || national[0] == '0' {
		return nil, 0, false
	}
	nn, err := strconv.ParseUint(national, 10, 64)
	if err != nil {
		return nil, 0, false
	}
	t := p.typer.typeOf(national)
	if t == phonenumbers.UNKNOWN {
		return nil, 0, false
	}
	return &phonenumbers.PhoneNumber{CountryCode: &p.cc, NationalNumber: &nn}, t, true
}

// Region returns the parser's default region, upper case.
func (p *Parser) Region() string { return p.region }

// Parse parses input as a valid phone number of any type. The error, if any,
// is an *Error.
func (p *Parser) Parse(input string) (Number, error) {
	num, reason := p.lookup(input)
	if reason != "" {
		return Number{}, &Error{Input: input, Reason: reason}
	}
	return num, nil
}

// ParseSMS parses input as a valid phone number that can receive SMS: its
// type is mobile, or fixed_line_or_mobile where the two cannot be told apart
// (as in the US). The error, if any, is an *Error; for a valid number of
// another type its Reason names the type.
func (p *Parser) ParseSMS(input string) (Number, error) {
	num, reason := p.lookup(input)
	if reason != "" {
		return Number{}, &Error{Input: input, Reason: reason}
	}
	if !num.CanReceiveSMS() {
		return Number{}, &Error{Input: input, Reason: noSMSReason[num.Type]}
	}
	return num, nil
}

// lookup returns the cached result for input, computing it on a miss.
func (p *Parser) lookup(input string) (Number, string) {
	if len(input) > MaxInputLen {
		// Rejected before the cache so long keys never occupy it.
		return Number{}, fmt.Sprintf("is %d bytes long; at most %d bytes are accepted", len(input), MaxInputLen)
	}
	if p.cache == nil {
		return p.parse(input)
	}
	if e, ok := p.cache.get(input); ok {
		return e.num, e.reason
	}
	num, reason := p.parse(input)
	e := cacheEntry{num: num, reason: reason}
	p.cache.put(input, e)
	if reason == "" && num.E164 != input {
		// Other parts of otpgate parse the numbers they stored, in E.164:
		// parsing a number's E.164 form gives the same Number.
		p.cache.put(num.E164, e)
	}
	return num, reason
}

// parse does the work, uncached. It returns a valid Number and "", or the
// zero Number and the reason input is not acceptable.
func (p *Parser) parse(input string) (Number, string) {
	if strings.TrimFunc(input, isIgnorable) == "" {
		return Number{}, "is empty"
	}
	if !utf8.ValidString(input) {
		return Number{}, "is not valid UTF-8"
	}
	plus, digits, reason := clean(input)
	if reason != "" {
		return Number{}, reason
	}
	if n, t, ok := p.fastParse(plus, digits); ok {
		return Number{
			E164:     "+" + p.countryCode + strconv.FormatUint(n.GetNationalNumber(), 10),
			Region:   p.region,
			Type:     typeName(t),
			Operator: operator(n),
		}, ""
	}

	n, reason := p.parseValid(plus, digits)
	if reason != "" && !plus && p.countryCode != "" && strings.HasPrefix(digits, p.countryCode) {
		// "962790320012": the default region's country code written
		// without '+' or an international prefix. libphonenumber usually
		// works this out itself; make sure of it.
		if n2, r2 := p.parseValid(true, digits); r2 == "" {
			n, reason = n2, ""
		}
	}
	if reason != "" {
		return Number{}, reason
	}
	return Number{
		E164:     phonenumbers.Format(n, phonenumbers.E164),
		Region:   phonenumbers.GetRegionCodeForNumber(n),
		Type:     typeName(phonenumbers.GetNumberType(n)),
		Operator: operator(n),
	}, ""
}

// parseValid parses the digits, in international form when plus is set, and
// returns the number if libphonenumber holds it valid, else the reason.
func (p *Parser) parseValid(plus bool, digits string) (*phonenumbers.PhoneNumber, string) {
	s := digits
	if plus {
		s = "+" + digits
	}
	n, err := phonenumbers.Parse(s, p.region)
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		if plus {
			return nil, "starts with an unknown country code"
		}
		return nil, "is not a valid number for the default region " + p.region + " and has no country code"
	case errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return nil, "has too few digits after the international prefix"
	case errors.Is(err, phonenumbers.ErrTooShortNSN):
		return nil, "is too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return nil, "is too long"
	case err != nil:
		return nil, "is not a phone number"
	}
	if n.GetExtension() != "" {
		return nil, "has an extension; give the number alone"
	}
	if phonenumbers.IsValidNumber(n) {
		return n, ""
	}
	where := countryLabel(int(n.GetCountryCode()))
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.TOO_SHORT:
		return nil, "is too short for a " + where + " number"
	case phonenumbers.TOO_LONG:
		return nil, "is too long for a " + where + " number"
	case phonenumbers.INVALID_LENGTH:
		return nil, "has the wrong number of digits for a " + where + " number"
	case phonenumbers.INVALID_COUNTRY_CODE:
		return nil, "starts with an unknown country code"
	}
	return nil, "is not a valid " + where + " number (no numbers are assigned in that range)"
}

// countryLabel names a calling code for reasons: "+962 (JO)".
func countryLabel(cc int) string {
	region := phonenumbers.GetRegionCodeForCountryCode(cc)
	if region == "ZZ" || region == "001" {
		return "+" + strconv.Itoa(cc)
	}
	return "+" + strconv.Itoa(cc) + " (" + region + ")"
}

// clean reduces input to its digits, mapping non-ASCII digits to ASCII and
// dropping separators, and reports whether it starts with '+'. Anything but
// digits, one leading '+', separators and invisible formatting characters is
// a reason to reject the input.
func clean(input string) (plus bool, digits string, reason string) {
	var b strings.Builder
	b.Grow(len(input))
	for _, r := range input {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case toASCIIDigit(r) != 0:
			b.WriteByte(toASCIIDigit(r))
		case r == '+' || r == '\uFF0B': // fullwidth plus
			if plus || b.Len() > 0 {
				return false, "", "has a '+' that is not at the start"
			}
			plus = true
		case isIgnorable(r) || isSeparator(r):
		case unicode.IsLetter(r):
			return false, "", fmt.Sprintf("contains the letter %q; a phone number has only digits", r)
		default:
			return false, "", fmt.Sprintf("contains %q, which is not part of a phone number", r)
		}
	}
	if b.Len() == 0 {
		return false, "", "has no digits"
	}
	return plus, b.String(), ""
}

// isSeparator reports whether r is punctuation people put between the digits
// of a phone number.
func isSeparator(r rune) bool {
	switch r {
	case '-', '.', '/', '(', ')',
		'\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212', // hyphens, dashes, minus
		'\uFF0D', '\uFF0E', '\uFF0F', '\uFF08', '\uFF09': // fullwidth - . / ( )
		return true
	}
	return false
}

// isIgnorable reports whether r is white space or an invisible formatting
// character, such as the bidirectional marks that come along when Arabic text
// is copied.
func isIgnorable(r rune) bool {
	switch {
	case unicode.IsSpace(r):
		return true
	case r >= '\u200B' && r <= '\u200F', // zero width space, joiners, LRM, RLM
		r >= '\u202A' && r <= '\u202E', // bidi embeddings and overrides
		r >= '\u2060' && r <= '\u2064', // word joiner, invisible operators
		r >= '\u2066' && r <= '\u2069', // bidi isolates
		r == '\u061C',                  // Arabic letter mark
		r == '\uFEFF':                  // byte order mark
		return true
	}
	return false
}

// operatorNames maps libphonenumber's English carrier names to the names
// otpgate reports, where they differ.
var operatorNames = map[string]string{
	"Zain JO": "Zain", // libphonenumber says "Zain JO" for +962 79; "Orange" and "Umniah" are already short
}

// operator returns the English name of the carrier n was allocated to, or "".
// n must be valid: libphonenumber answers by prefix even for invalid numbers.
func operator(n *phonenumbers.PhoneNumber) string {
	name, err := phonenumbers.GetCarrierForNumber(n, "en")
	if err != nil {
		return ""
	}
	if short, ok := operatorNames[name]; ok {
		return short
	}
	return name
}

func typeName(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.MOBILE:
		return TypeMobile
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return TypeFixedLineOrMobile
	case phonenumbers.FIXED_LINE:
		return TypeFixedLine
	case phonenumbers.TOLL_FREE:
		return TypeTollFree
	case phonenumbers.PREMIUM_RATE:
		return TypePremiumRate
	case phonenumbers.VOIP:
		return TypeVoIP
	case phonenumbers.PAGER:
		return TypePager
	case phonenumbers.PERSONAL_NUMBER:
		return TypePersonalNumber
	case phonenumbers.UAN:
		return TypeUAN
	case phonenumbers.VOICEMAIL:
		return TypeVoicemail
	case phonenumbers.SHARED_COST:
		return TypeSharedCost
	}
	return TypeUnknown
}

// noSMSReason is the Reason ParseSMS gives for each type that cannot receive
// SMS.
var noSMSReason = map[string]string{
	TypeFixedLine:      "is a fixed-line number, which cannot receive SMS",
	TypeTollFree:       "is a toll-free number, which cannot receive SMS",
	TypePremiumRate:    "is a premium-rate number, which cannot receive SMS",
	TypeVoIP:           "is a VoIP number, which cannot receive SMS",
	TypePager:          "is a pager number, which cannot receive SMS",
	TypePersonalNumber: "is a personal (follow-me) number, which cannot receive SMS",
	TypeUAN:            "is a universal access (UAN) number, which cannot receive SMS",
	TypeVoicemail:      "is a voicemail access number, which cannot receive SMS",
	TypeSharedCost:     "is a shared-cost number, which cannot receive SMS",
	TypeUnknown:        "is a number of unknown type, which cannot receive SMS",
}
