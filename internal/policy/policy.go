// Package policy says what an account may do: the ceilings the operator who
// runs otpgate sets for it (where it may send, how many SMS a number and a
// day may take, whether it may use the messages API, whether its messages
// count as unconverted traffic for the pumping guard), and the server's
// defaults for an account given none. An account may narrow its own
// countries within its ceiling, never widen them; nothing an account's
// token can reach changes a Policy.
//
// It only describes and checks; it keeps nothing and enforces nothing
// (package guard does, on every send).
package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Rate is a limit's size: at most Max in any Window. Max 0 is no limit.
type Rate struct {
	Max    int
	Window time.Duration
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.Max <= 0 }

// String is the form ParseRate reads: "10/1h", or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return strconv.Itoa(r.Max) + "/" + ShortDuration(r.Window)
}

// MarshalText writes r as String does.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads r as ParseRate does.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// ParseRate reads "N/DURATION" ("10/1h", "1000/1m") or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	max, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || max < 1 {
		return Rate{}, fmt.Errorf("%q: want a count per duration, like 10/1h or 1000/1m, or off", s)
	}
	w, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil || w < time.Second || w > 7*24*time.Hour {
		return Rate{}, fmt.Errorf("%q: the duration must be 1s to 168h, like 1h or 10m", s)
	}
	return Rate{Max: max, Window: w}, nil
}

// ShortDuration writes 1h, 10m, 90s rather than 1h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// AnyCountry, as a list of countries, allows every destination.
const AnyCountry = "*"

// ParseCountries checks a list of countries as a user writes it ("jo, SA",
// or "*" for any) and returns it in canonical form ("JO,SA", "*"): ISO
// 3166-1 alpha-2 codes of regions with telephone numbers, upper case,
// sorted, once each. An empty list is an error: an account that may send
// nowhere is not what anybody means.
func ParseCountries(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == AnyCountry {
		return AnyCountry, nil
	}
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		c := strings.ToUpper(strings.TrimSpace(part))
		if c == "" {
			continue
		}
		if c == AnyCountry {
			return "", errors.New(`"*" (any country) cannot be combined with countries`)
		}
		if len(c) != 2 || phonenumbers.GetCountryCodeForRegion(c) == 0 {
			return "", fmt.Errorf("%q is not an ISO 3166-1 alpha-2 code of a country with phone numbers (for example JO, SA, AE, GB)", strings.TrimSpace(part))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "", errors.New(`give one or more country codes, comma-separated (for example JO,SA), or "*" for any`)
	}
	slices.Sort(out)
	return strings.Join(out, ","), nil
}

// Allows reports whether the canonical list countries allows region.
func Allows(countries, region string) bool {
	if countries == AnyCountry {
		return true
	}
	for c := range strings.SplitSeq(countries, ",") {
		if c == region {
			return true
		}
	}
	return false
}

// Beyond returns the countries of the canonical list that the canonical
// ceiling does not allow ("*" when list is any country and the ceiling is
// not); none when list is within it.
func Beyond(list, ceiling string) []string {
	if ceiling == AnyCountry {
		return nil
	}
	if list == AnyCountry {
		return []string{AnyCountry}
	}
	var out []string
	for c := range strings.SplitSeq(list, ",") {
		if !Allows(ceiling, c) {
			out = append(out, c)
		}
	}
	return out
}

// Describe says a canonical list in words: "any country", "JO, SA only".
func Describe(countries string) string {
	if countries == AnyCountry {
		return "any country"
	}
	return strings.ReplaceAll(countries, ",", ", ") + " only"
}

// Messages says what an account may send through the messages API.
type Messages string

const (
	// MessagesAny: any text to any number its countries allow.
	MessagesAny Messages = "any"
	// MessagesCodes: verification codes only; the messages API refuses
	// every send (403).
	MessagesCodes Messages = "codes"
)

// ParseMessages reads "any" or "codes".
func ParseMessages(s string) (Messages, error) {
	switch m := Messages(strings.ToLower(strings.TrimSpace(s))); m {
	case MessagesAny, MessagesCodes:
		return m, nil
	}
	return "", fmt.Errorf("%q: want any (the messages API to any number the countries allow) or codes (verification codes only)", s)
}

// Policy is the ceilings of one account, as the operator set them. A field
// left unset (nil, "") takes the server's default (Defaults); a Policy
// with every field unset is an account that follows the defaults.
type Policy struct {
	// Countries is where the account may send at most: a canonical list
	// (ParseCountries) or "*". The account may narrow it.
	Countries string `json:"countries,omitempty"`
	// PerNumber caps the SMS to one number, codes and messages, across the
	// account's services.
	PerNumber *Rate `json:"per_number,omitempty"`
	// DailyBudget caps the account's SMS in a day (guard.Budget); 0 is no
	// budget.
	DailyBudget *int `json:"daily_budget,omitempty"`
	// Messages says whether the messages API may be used.
	Messages Messages `json:"messages,omitempty"`
	// Transactional accounts send messages the pumping guard does not
	// count as unconverted (receipts, alerts: nobody "approves" them).
	Transactional *bool `json:"transactional,omitempty"`
}

// Effective is a Policy with every field set: what applies.
type Effective struct {
	Countries     string   `json:"countries"`
	PerNumber     Rate     `json:"per_number"`
	DailyBudget   int      `json:"daily_budget"` // 0: none
	Messages      Messages `json:"messages"`
	Transactional bool     `json:"transactional"`
}

// DefaultDailyBudget is the daily SMS budget of an account when the
// operator set none.
const DefaultDailyBudget = 10000

// Apply fills the fields p leaves unset from defaults.
func (defaults Effective) Apply(p Policy) Effective {
	e := defaults
	if p.Countries != "" {
		e.Countries = p.Countries
	}
	if p.PerNumber != nil {
		e.PerNumber = *p.PerNumber
	}
	if p.DailyBudget != nil {
		e.DailyBudget = *p.DailyBudget
	}
	if p.Messages != "" {
		e.Messages = p.Messages
	}
	if p.Transactional != nil {
		e.Transactional = *p.Transactional
	}
	return e
}

// IsZero reports whether every field is unset.
func (p Policy) IsZero() bool {
	return p.Countries == "" && p.PerNumber == nil && p.DailyBudget == nil && p.Messages == "" && p.Transactional == nil
}

// Encode is how a store keeps a Policy: JSON, "" for one with nothing set.
func (p Policy) Encode() string {
	if p.IsZero() {
		return ""
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// Decode reads what Encode wrote ("" is the zero Policy).
func Decode(s string) (Policy, error) {
	var p Policy
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return Policy{}, fmt.Errorf("policy: stored policy %q: %w", s, err)
	}
	return p, nil
}

// Check reports the first field of p that is not acceptable, naming it.
func (p Policy) Check() error {
	if p.Countries != "" {
		c, err := ParseCountries(p.Countries)
		if err != nil {
			return fmt.Errorf("countries: %w", err)
		}
		if c != p.Countries {
			return fmt.Errorf("countries %q: not in canonical form (%q)", p.Countries, c)
		}
	}
	if p.DailyBudget != nil && (*p.DailyBudget < 0 || *p.DailyBudget > MaxDailyBudget) {
		return fmt.Errorf("daily_budget %d: want 1 to %d SMS a day, or 0 (off) for no budget", *p.DailyBudget, MaxDailyBudget)
	}
	if p.Messages != "" {
		if _, err := ParseMessages(string(p.Messages)); err != nil {
			return fmt.Errorf("messages: %w", err)
		}
	}
	return nil
}

// MaxDailyBudget is the largest daily budget accepted (a budget that large
// is no budget: say off).
const MaxDailyBudget = 100_000_000

// Fields are the names of a Policy's fields, as With takes them.
var Fields = []string{"countries", "per_number", "daily_budget", "messages", "transactional"}

// With returns p with one field set from its text form, as the operator
// API and the command line take it; "default" unsets the field (the
// server's default applies). The error names the field and what it takes.
func (p Policy) With(field, value string) (Policy, error) {
	value = strings.TrimSpace(value)
	if strings.EqualFold(value, "default") {
		switch field {
		case "countries":
			p.Countries = ""
		case "per_number":
			p.PerNumber = nil
		case "daily_budget":
			p.DailyBudget = nil
		case "messages":
			p.Messages = ""
		case "transactional":
			p.Transactional = nil
		default:
			return p, unknownField(field)
		}
		return p, nil
	}
	switch field {
	case "countries":
		c, err := ParseCountries(value)
		if err != nil {
			return p, fmt.Errorf("countries %q: %v; or default", value, err)
		}
		p.Countries = c
	case "per_number":
		r, err := ParseRate(value)
		if err != nil {
			return p, fmt.Errorf("per_number %v; or default", err)
		}
		p.PerNumber = &r
	case "daily_budget":
		n := 0
		if value != "off" {
			var err error
			if n, err = strconv.Atoi(value); err != nil || n < 1 || n > MaxDailyBudget {
				return p, fmt.Errorf("daily_budget %q: want 1 to %d SMS a day, off for no budget, or default", value, MaxDailyBudget)
			}
		}
		p.DailyBudget = &n
	case "messages":
		m, err := ParseMessages(value)
		if err != nil {
			return p, fmt.Errorf("messages %v; or default", err)
		}
		p.Messages = m
	case "transactional":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return p, fmt.Errorf("transactional %q: want true (its messages are not counted as unconverted by the pumping guard), false, or default", value)
		}
		p.Transactional = &b
	default:
		return p, unknownField(field)
	}
	return p, nil
}

func unknownField(field string) error {
	return fmt.Errorf("%q is not a field of a policy; they are %s", field, strings.Join(Fields, ", "))
}
