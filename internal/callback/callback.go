// Package callback builds the webhooks otpgate owes its users, as rows that
// are stored in the same transaction as the change that causes them and
// POSTed later (package webhook): a message's status callback, an inbound
// SMS for an account's SMS URL, and a verification event for a service's
// events URL. This is the one place those rows and their bodies are made. It
// has no I/O.
package callback

import (
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/verification"
)

// ContentType of a callback's body.
type ContentType string

// Content types.
const (
	Form ContentType = ""     // application/x-www-form-urlencoded, signed as Twilio signs forms
	JSON ContentType = "json" // application/json, signed with Twilio's bodySHA256 scheme
)

// Callback is a webhook waiting to be POSTed. Callbacks of one subject go
// in the order they were made (their SIDs are time-ordered).
type Callback struct {
	SID           string // "CB..."
	Subject       string // the message's or the verification's SID
	AccountSID    string // whose auth token signs it
	URL           string
	Body          string
	ContentType   ContentType
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// Release gives a claimed callback back without an attempt: it is due
// again at Due. It holds only while the claim does (the callback's
// NextAttemptAt is still LeaseUntil); a lease that has ended may already
// be another's.
type Release struct {
	SID        string
	LeaseUntil time.Time
	Due        time.Time
}

// Attempt is the result of one POST of a callback.
type Attempt struct {
	CallbackSID string
	Attempt     int
	Subject     string
	URL         string
	At          time.Time
	StatusCode  int // 0: no HTTP answer
	Error       string
	Duration    time.Duration
}

// ForStatusChange is what a change of m's status owes, with m as it is
// after the change: its status callback when the status moved (moved is
// false when the change found m past it already) and m has a
// StatusCallback; nothing otherwise. Stores write what it returns in the
// transaction of the change.
func ForStatusChange(m message.Message, moved bool, now time.Time) []Callback {
	if !moved {
		return nil
	}
	if c, ok := ForStatus(m, now); ok {
		return []Callback{c}
	}
	return nil
}

// ForStatus is the status callback for m as it is now, after its status
// changed; ok is false when m has no StatusCallback (nothing to send).
func ForStatus(m message.Message, now time.Time) (c Callback, ok bool) {
	if m.StatusCallback == "" {
		return Callback{}, false
	}
	return newCallback(m.SID, m.AccountSID, m.StatusCallback, StatusParams(m).Encode(), Form, now), true
}

// StatusParams are Twilio's status callback parameters for a message.
func StatusParams(m message.Message) url.Values {
	v := url.Values{}
	v.Set("MessageSid", m.SID)
	v.Set("SmsSid", m.SID)
	v.Set("AccountSid", m.AccountSID)
	v.Set("MessageStatus", string(m.Status))
	v.Set("SmsStatus", string(m.Status))
	v.Set("To", m.To)
	v.Set("From", m.From)
	v.Set("ApiVersion", "2010-04-01")
	if m.ErrorCode != 0 {
		v.Set("ErrorCode", strconv.Itoa(m.ErrorCode))
	}
	if m.ErrorMessage != "" {
		v.Set("ErrorMessage", m.ErrorMessage)
	}
	return v
}

// ForInbound is the webhook of an incoming message for its account's SMS
// URL; ok is false when smsURL is "".
func ForInbound(m message.Message, smsURL string) (c Callback, ok bool) {
	if smsURL == "" || m.AccountSID == "" {
		return Callback{}, false
	}
	return newCallback(m.SID, m.AccountSID, smsURL, InboundParams(m).Encode(), Form, m.CreatedAt), true
}

// InboundParams are Twilio's parameters for an incoming message webhook.
func InboundParams(m message.Message) url.Values {
	v := url.Values{}
	v.Set("MessageSid", m.SID)
	v.Set("SmsSid", m.SID)
	v.Set("SmsMessageSid", m.SID)
	v.Set("AccountSid", m.AccountSID)
	v.Set("From", m.From)
	v.Set("To", m.To)
	v.Set("Body", m.Body)
	v.Set("NumSegments", strconv.Itoa(m.Segments))
	v.Set("NumMedia", "0")
	v.Set("SmsStatus", string(message.Received))
	v.Set("ApiVersion", "2010-04-01")
	return v
}

// Event is the JSON POSTed to a service's events URL when one of its
// verifications is approved, expires, or reaches its maximum of wrong codes.
type Event struct {
	Type            string `json:"type"` // verification.approved, verification.expired, verification.max_attempts_reached
	AccountSID      string `json:"account_sid"`
	ServiceSID      string `json:"service_sid"`
	Service         string `json:"service"`
	VerificationSID string `json:"verification_sid"`
	To              string `json:"to"`
	Channel         string `json:"channel"` // sms or email
	Status          string `json:"status"`
	SendAttempts    int    `json:"send_attempts"`
	CheckAttempts   int    `json:"check_attempts"`
	CreatedAt       string `json:"created_at"`
	At              string `json:"at"`
}

// ForVerificationChange is what v owes on reaching its status (as v has
// it): the event of an approval, an expiry or the last wrong code, when its
// service has an events URL; nothing for a cancellation or when the service
// has none. Stores write what it returns in the transaction of the change.
func ForVerificationChange(v verification.Verification, svc verification.Service, now time.Time) []Callback {
	switch v.Status {
	case verification.Approved, verification.Expired, verification.MaxAttempts:
		if c, ok := ForEvent(v, svc, now); ok {
			return []Callback{c}
		}
	}
	return nil
}

// channelOf is the channel v's codes went by: "sms" unless it says email.
func channelOf(v verification.Verification) string {
	if v.Channel == "" {
		return "sms"
	}
	return v.Channel
}

// ForEvent is the event for v, which just reached its status, when its
// service has an events URL; ok is false otherwise.
func ForEvent(v verification.Verification, svc verification.Service, now time.Time) (c Callback, ok bool) {
	if svc.EventsURL == "" {
		return Callback{}, false
	}
	body, err := json.Marshal(Event{
		Type: "verification." + string(v.Status), AccountSID: v.AccountSID, ServiceSID: svc.SID, Service: svc.Name,
		VerificationSID: v.SID, To: v.To, Channel: channelOf(v), Status: string(v.Status), SendAttempts: v.SendAttempts, CheckAttempts: v.CheckAttempts,
		CreatedAt: v.CreatedAt.UTC().Format(time.RFC3339), At: now.UTC().Format(time.RFC3339),
	})
	if err != nil {
		panic(err) // a struct of strings and ints always marshals
	}
	return newCallback(v.SID, v.AccountSID, svc.EventsURL, string(body), JSON, now), true
}

// GuardEvent is the JSON POSTed to a service's events URL when the
// SMS-pumping guard blocks a prefix, an operator or a country after a code
// of the service.
type GuardEvent struct {
	Type          string `json:"type"` // guard.blocked
	AccountSID    string `json:"account_sid"`
	ServiceSID    string `json:"service_sid"`
	Service       string `json:"service"`
	Key           string `json:"key"` // prefix:+96279031, operator:JO:Zain, country:JO
	Sends         int    `json:"sends"`
	Approvals     int    `json:"approvals"`
	WindowSeconds int    `json:"window_seconds"`
	Level         int    `json:"level"`
	Since         string `json:"since"`
	Until         string `json:"until"`
	Reason        string `json:"reason"`
	At            string `json:"at"`
}

// ForGuardEvent is the event e for svc's events URL; ok is false when it
// has none. Events of one key go in order.
func ForGuardEvent(e GuardEvent, svc verification.Service, now time.Time) (c Callback, ok bool) {
	if svc.EventsURL == "" {
		return Callback{}, false
	}
	e.ServiceSID, e.Service, e.At = svc.SID, svc.Name, now.UTC().Format(time.RFC3339)
	body, err := json.Marshal(e)
	if err != nil {
		panic(err) // a struct of strings and ints always marshals
	}
	return newCallback("guard:"+e.Key, e.AccountSID, svc.EventsURL, string(body), JSON, now), true
}

func newCallback(subject, accountSID, url, body string, ct ContentType, now time.Time) Callback {
	now = now.UTC()
	return Callback{
		SID: otpgate.NewSID(otpgate.PrefixCallback), Subject: subject, AccountSID: accountSID, URL: url,
		Body: body, ContentType: ct, NextAttemptAt: now, CreatedAt: now,
	}
}

// Backoff is the wait before retry number attempt (1-based): first,
// doubling, at most an hour.
func Backoff(first time.Duration, attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := first
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}
