// Package inbox serves the sandbox's routes, for development: GET
// /sandbox/messages lists what the sandbox connector delivered to a number or
// an email address, with the real text (so a developer can read the code), and POST
// /sandbox/inbound injects a message as if a user had texted the service.
// The listing speaks the 2FA API's dialect (a lowercase "to"), the injection
// Twilio's (From, To, Body, as Twilio's incoming-message webhook names them).
package inbox

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/api/restcomm2fa"
	"github.com/otpgate/otpgate/internal/api/twilio"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/sms"
)

// Store reads the sandbox inbox.
type Store interface {
	// SandboxEntries lists the account's sandbox messages to a number,
	// newest first.
	SandboxEntries(ctx context.Context, accountSID, to string, limit int) ([]message.SandboxEntry, error)
}

// Receiver stores an inbound message (inbound.Receiver).
type Receiver interface {
	Receive(ctx context.Context, accountSID string, m sms.Inbound) (string, error)
}

// Inbox serves the sandbox routes.
type Inbox struct {
	Store    Store
	Phones   *phone.Parser
	Inbound  Receiver           // nil: no POST /sandbox/inbound
	Messages *messaging.Service // to show an injected message
	Clock    otpgate.Clock
}

// Register adds the sandbox routes.
func Register(s *api.Server, in Inbox) {
	if in.Clock == nil {
		in.Clock = otpgate.SystemClock{}
	}
	s.Authenticated("GET /sandbox/messages", restcomm2fa.Dialect, in.list)
	if in.Inbound != nil {
		s.Authenticated("POST /sandbox/inbound", twilio.Dialect, in.inject)
	}
}

type entryJSON struct {
	SID       string `json:"sid"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	From      string `json:"from"`
	Subject   string `json:"subject,omitempty"`
	Body      string `json:"body"`
	Segments  int    `json:"segments"`
	Encoding  string `json:"encoding"`
	CreatedAt string `json:"created_at"`
}

func (in Inbox) list(w http.ResponseWriter, r *http.Request) error {
	to := r.URL.Query().Get("to")
	if to == "" {
		return otpgate.Invalid("to", "Missing required query parameter 'to': the phone number (in any spelling) or email address whose sandbox messages to list")
	}
	var dest string
	if emailaddr.Looks(to) {
		addr, err := emailaddr.Parse(to)
		if err != nil {
			return pipeline.AddressError("to", err)
		}
		dest = addr
	} else {
		n, err := in.Phones.Parse(to)
		if err != nil {
			return pipeline.NumberError("to", err)
		}
		dest = n.E164
	}
	entries, err := in.Store.SandboxEntries(r.Context(), api.Account(r), dest, 100)
	if err != nil {
		return err
	}
	out := struct {
		Messages []entryJSON `json:"messages"`
	}{Messages: make([]entryJSON, 0, len(entries))}
	for _, e := range entries {
		out.Messages = append(out.Messages, entryJSON{
			SID: e.SID, Channel: string(e.Channel.Or()), To: e.To, From: e.From, Subject: e.Subject, Body: e.Body, Segments: e.Segments, Encoding: e.Encoding,
			CreatedAt: e.CreatedAt.UTC().Format(time.RFC3339),
		})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// inject stores a message as if a user had texted the service: From (the
// user's phone number), To (the service's sender or number), Body.
func (in Inbox) inject(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	from, err := in.Phones.Parse(f.Get("from"))
	if err != nil {
		return otpgate.FieldError("from", otpgate.InvalidField, ": the phone number of the user who texted; %v", err)
	}
	to := strings.TrimSpace(f.Get("to"))
	if to == "" {
		return otpgate.FieldError("to", otpgate.MissingField, ": the service's sender ID or number the user texted")
	}
	if n := utf8.RuneCountInString(to); n > 20 {
		return otpgate.FieldError("to", otpgate.FieldTooLong, ": the sender ID or number the user texted is at most 20 characters (this is %d)", n)
	}
	if pos, r, ok := otpgate.BadRune(to, false); !ok {
		return otpgate.FieldError("to", otpgate.InvalidField, "%s", otpgate.RuneProblem(pos, r, false))
	}
	body := f.Get("body")
	if body == "" || utf8.RuneCountInString(body) > pipeline.MaxBodyChars {
		return otpgate.FieldError("body", otpgate.InvalidField, ": 1 to %d characters", pipeline.MaxBodyChars)
	}
	if pos, r, ok := otpgate.BadRune(body, true); !ok {
		return otpgate.FieldError("body", otpgate.InvalidField, "%s", otpgate.RuneProblem(pos, r, true))
	}
	sid, err := in.Inbound.Receive(r.Context(), api.Account(r), sms.Inbound{
		Connector: "sandbox", From: from.E164, To: to, Text: body, Total: 1, Seq: 1, ReceivedAt: in.Clock.Now(),
	})
	if err != nil {
		return err
	}
	m, err := in.Messages.Get(r.Context(), api.Account(r), sid)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, twilio.NewMessageJSON(m))
	return nil
}
