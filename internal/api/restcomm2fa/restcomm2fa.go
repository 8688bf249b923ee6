// Package restcomm2fa serves Restcomm's 2FA API: POST /2fa/send texts (or,
// with "channel":"email", emails) a code, POST /2fa/verify checks one. Its
// fields are lowercase JSON or form fields ("service", "channel", "to",
// "from", "body", "fallback_to", "number", "code"; Twilio-style
// capitalised names are accepted too), its errors carry Twilio Verify's
// codes (60200 for a bad field, 60202/60203 for the limits, 20404).
package restcomm2fa

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
)

// Dialect is the 2FA API's: the domain's field names and codes. The
// guard's routes (package guardapi) and the sandbox inbox speak it too.
var Dialect = &api.Dialect{Noun: "field"}

// Register adds the 2FA routes.
func Register(s *api.Server, v *verify.Service) {
	h := handlers{v}
	s.Authenticated("POST /2fa/send", Dialect, h.send)
	s.Authenticated("POST /2fa/verify", Dialect, h.check)
}

type handlers struct{ svc *verify.Service }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// verificationJSON is a verification as the 2FA API shows it.
type verificationJSON struct {
	SID               string `json:"sid"`
	AccountSID        string `json:"account_sid"`
	Service           string `json:"service"`
	ServiceSID        string `json:"service_sid"`
	To                string `json:"to"`
	From              string `json:"from"`
	Channel           string `json:"channel"`
	Status            string `json:"status"`
	Valid             bool   `json:"valid"`
	SendAttempts      int    `json:"send_attempts"`
	AttemptsRemaining *int   `json:"attempts_remaining,omitempty"`
	CreatedAt         string `json:"created_at"`
	UpdatedAt         string `json:"updated_at"`
	ExpiresAt         string `json:"expires_at"`
	MessageSID        string `json:"message_sid,omitempty"`
	Operator          string `json:"operator,omitempty"`
}

func newVerificationJSON(v verification.Verification, service string) verificationJSON {
	return verificationJSON{
		SID: v.SID, AccountSID: v.AccountSID, Service: service, ServiceSID: v.ServiceSID, To: v.To, From: v.From,
		Channel: v.Channel, Status: string(v.Status), SendAttempts: v.SendAttempts,
		CreatedAt: rfc3339(v.CreatedAt), UpdatedAt: rfc3339(v.UpdatedAt), ExpiresAt: rfc3339(v.ExpiresAt),
	}
}

// appendJSON appends v as encoding/json writes it (the struct's tags, in
// their order): the two answers of this API are built without reflection.
// TestVerificationJSONMatchesEncodingJSON holds the two equal.
func (v verificationJSON) appendJSON(b []byte) []byte {
	str := func(b []byte, key, s string) []byte {
		b = append(b, key...)
		return api.AppendJSONString(b, s)
	}
	b = str(b, `{"sid":`, v.SID)
	b = str(b, `,"account_sid":`, v.AccountSID)
	b = str(b, `,"service":`, v.Service)
	b = str(b, `,"service_sid":`, v.ServiceSID)
	b = str(b, `,"to":`, v.To)
	b = str(b, `,"from":`, v.From)
	b = str(b, `,"channel":`, v.Channel)
	b = str(b, `,"status":`, v.Status)
	b = append(b, `,"valid":`...)
	b = strconv.AppendBool(b, v.Valid)
	b = append(b, `,"send_attempts":`...)
	b = strconv.AppendInt(b, int64(v.SendAttempts), 10)
	if v.AttemptsRemaining != nil {
		b = append(b, `,"attempts_remaining":`...)
		b = strconv.AppendInt(b, int64(*v.AttemptsRemaining), 10)
	}
	b = str(b, `,"created_at":`, v.CreatedAt)
	b = str(b, `,"updated_at":`, v.UpdatedAt)
	b = str(b, `,"expires_at":`, v.ExpiresAt)
	if v.MessageSID != "" {
		b = str(b, `,"message_sid":`, v.MessageSID)
	}
	if v.Operator != "" {
		b = str(b, `,"operator":`, v.Operator)
	}
	return append(b, '}')
}

// write answers with v.
func (v verificationJSON) write(w http.ResponseWriter, status int) {
	api.WriteJSONBody(w, status, v.appendJSON(make([]byte, 0, 512)))
}

func (h handlers) send(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	res, err := h.svc.Send(r.Context(), verify.SendRequest{
		AccountSID: api.Account(r), Service: f.Get("service"), From: f.Get("from"), To: f.Get("to"), Body: f.Get("body"),
		Channel:      message.Channel(strings.ToLower(strings.TrimSpace(f.Get("channel")))),
		RateLimitKey: f.Get("rate_limit_key"), Locale: f.Get("locale"), AppHash: f.Get("app_hash"),
		FallbackTo: f.Get("fallback_to"),
	})
	if err != nil {
		return err
	}
	out := newVerificationJSON(res.Verification, res.Service.Name)
	out.MessageSID, out.Operator = res.MessageSID, res.Operator
	out.write(w, http.StatusCreated)
	return nil
}

func (h handlers) check(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	number := f.Get("number")
	if number == "" {
		number = f.Get("to") // Twilio's VerificationCheck calls it To
	}
	res, err := h.svc.Check(r.Context(), verify.CheckRequest{
		AccountSID: api.Account(r), Service: f.Get("service"), Number: number, Code: f.Get("code"),
	})
	if err != nil {
		return err
	}
	out := newVerificationJSON(res.Verification, res.Service.Name)
	out.Valid = res.Valid
	out.AttemptsRemaining = &res.AttemptsRemaining
	out.write(w, http.StatusOK)
	return nil
}
