// Package verification is the model of phone verification: a service (an
// app's settings), a verification (the codes sent to one number for one
// service, and the checks made against them), and the limits both obey, as
// Twilio Verify has them. It holds rules, not I/O: package verify runs the
// sends and checks, stores keep the records.
package verification

import (
	"encoding/json"
	"time"
)

// Limits and defaults, as Twilio Verify has them.
const (
	MaxChecks         = 5 // checks of one verification; the fifth wrong one locks it
	MaxSends          = 5 // codes sent in one verification's life
	DefaultCodeLength = 6
	MinCodeLength     = 4
	MaxCodeLength     = 10
	DefaultTTL        = 10 * time.Minute
	MinTTL            = time.Minute
	MaxTTL            = 24 * time.Hour

	// A service's fallback to email waits this long for its SMS to be
	// delivered (FallbackAfter): by default, at least, at most.
	DefaultFallbackAfter = 30 * time.Second
	MinFallbackAfter     = 5 * time.Second
	MaxFallbackAfter     = 600 * time.Second
)

// FallbackEmail is the one fallback channel: a code SMS not delivered in
// time (or failed) is followed by a code by email.
const FallbackEmail = "email"

// Status is where a verification is.
type Status string

// Statuses, as Twilio Verify names them.
const (
	Pending     Status = "pending"
	Approved    Status = "approved"
	MaxAttempts Status = "max_attempts_reached"
	Expired     Status = "expired"
	Canceled    Status = "canceled"
)

// Service is an app's verification settings, named by the app (the 2FA
// API's "service").
type Service struct {
	SID        string
	AccountSID string
	Name       string
	CodeLength int
	TTL        time.Duration
	EventsURL  string // where verification events are POSTed as JSON; "" for none
	// Countries is where the service's codes may go, as account.Account's
	// Countries; "" for the account's.
	Countries string
	// Texts is how its code SMS reads: locales, templates, autofill.
	Texts Texts
	// FallbackChannel is FallbackEmail when a code SMS that fails or is not
	// delivered within FallbackAfter is followed by a code by email (to an
	// address the send gives); "" for no fallback.
	FallbackChannel string
	// FallbackAfter is how long a code SMS may go undelivered before its
	// fallback; 0 for DefaultFallbackAfter.
	FallbackAfter time.Duration
	CreatedAt     time.Time
}

// FallbackDelay is how long the service's code SMS may go undelivered
// before its fallback.
func (s Service) FallbackDelay() time.Duration {
	if s.FallbackAfter <= 0 {
		return DefaultFallbackAfter
	}
	return s.FallbackAfter
}

// Texts are a service's settings for the text of its code SMS.
type Texts struct {
	// Locale is the locale of its codes when the request names none ("" for
	// English).
	Locale string `json:"locale,omitempty"`
	// ByCountry, when true, takes the locale from the destination's country
	// (Arabic for Jordan and the other Arabic-speaking countries) when the
	// request names none.
	ByCountry bool `json:"by_country,omitempty"`
	// Templates are the service's own texts per locale, with {code} and
	// {friendly_name}; a locale without one uses the built-in text.
	Templates map[string]string `json:"templates,omitempty"`
	// WebOTPDomain, when set, ends each code SMS with "@domain #code" (the
	// WebOTP API's line), for browsers to fill the code in.
	WebOTPDomain string `json:"webotp_domain,omitempty"`
	// DoNotShare, when true, adds a line asking the user to share the
	// code with nobody (Verify v2's DoNotShareWarningEnabled).
	DoNotShare bool `json:"do_not_share,omitempty"`
	// CustomCode, when true, lets a request bring its own code (Verify v2's
	// CustomCodeEnabled and CustomCode).
	CustomCode bool `json:"custom_code,omitempty"`
}

// EncodeTexts is t as a store keeps it ("" for none).
func EncodeTexts(t Texts) string {
	if t.Locale == "" && !t.ByCountry && len(t.Templates) == 0 && t.WebOTPDomain == "" && !t.DoNotShare && !t.CustomCode {
		return ""
	}
	b, _ := json.Marshal(t) // strings, a bool and a map of strings always marshal
	return string(b)
}

// DecodeTexts reads what EncodeTexts wrote.
func DecodeTexts(s string) (Texts, error) {
	var t Texts
	if s == "" {
		return t, nil
	}
	err := json.Unmarshal([]byte(s), &t)
	return t, err
}

// Code is one code sent for a verification: its HMAC (keyring), when it
// stops being valid, and the channel it went by. The code itself is never
// kept.
type Code struct {
	Hash      []byte // 32 bytes
	ExpiresAt time.Time
	// Channel is the channel the code went by when it is not the
	// verification's (an email fallback of an SMS verification); "" for
	// the verification's.
	Channel string
}

// CodeChannel is the channel code c of v went by.
func (v Verification) CodeChannel(c Code) string {
	if c.Channel != "" {
		return c.Channel
	}
	if v.Channel == "" {
		return "sms"
	}
	return v.Channel
}

// Fallback is a code SMS's promise of a code by email: if the SMS
// MessageSID fails, or is not delivered by DueAt, while its verification is
// still pending, a code of the same verification goes to Address. It is
// recorded with the SMS (Change.Fallback) and taken with the email
// (Change.Claim), so it is kept through a crash and acted on once.
type Fallback struct {
	VerificationSID string
	AccountSID      string
	MessageSID      string
	Address         string
	Locale          string // the SMS's language ("" for the service's)
	DueAt           time.Time
	CreatedAt       time.Time
	// SMSStatus is the SMS's status when the fallback was read (a
	// message.Status; "" when the message is gone).
	SMSStatus string
}

// Key names the verifications of one number for one service of an account;
// the newest of them is the one a send or a check acts on.
type Key struct {
	AccountSID string
	ServiceSID string
	To         string // E.164
}

// Verification is one attempt to verify a phone number for a service. A
// resend adds a code; every code stays valid until its own expiry, so a user
// is never stuck between two codes.
type Verification struct {
	SID           string
	AccountSID    string
	ServiceSID    string
	To            string // E.164
	From          string
	Channel       string // "sms"
	Status        Status
	Codes         []Code
	SendAttempts  int
	CheckAttempts int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ExpiresAt     time.Time // the newest code's expiry
}

// Key is the verification's key.
func (v Verification) Key() Key {
	return Key{AccountSID: v.AccountSID, ServiceSID: v.ServiceSID, To: v.To}
}

// Live reports whether v exists and its newest code is still valid at now.
func (v Verification) Live(now time.Time) bool { return v.SID != "" && now.Before(v.ExpiresAt) }

// Blocks reports whether v keeps a new verification for its key from
// starting at now: a live one still pending, or locked by wrong codes.
func (v Verification) Blocks(now time.Time) bool {
	return v.Live(now) && (v.Status == Pending || v.Status == MaxAttempts)
}

// Change is what a send does to a verification, written with its SMS: New
// inserts V (unless a verification of its key Blocks); otherwise V is the
// verification with one more code, written only if it still has
// V.SendAttempts-1 sends (no concurrent send got there first).
//
// Fallback, if set, is recorded with the send (a code SMS), for the message
// it is stored with (its MessageSID is the store's to fill), replacing the
// verification's earlier one. Claim, if set, is the fallback this send (its
// code by email) acts on: it is deleted with the send, and the send is
// refused as a conflict when it is gone (another node sent it, or a resend
// replaced it).
type Change struct {
	V        Verification
	New      bool
	Fallback *Fallback
	Claim    *Fallback
}

// Resolution moves a verification to a final status, if it is still in one
// of From and, when ExpiredBy is set, its codes expired by then (a resend
// since has not made it live again).
type Resolution struct {
	SID       string
	From      []Status
	To        Status
	ExpiredBy time.Time
	At        time.Time
}
