// Package twilio serves Twilio's messages API (2010-04-01): send, list,
// fetch, redact, cancel and delete SMS at /2010-04-01/Accounts/{AccountSid}/Messages,
// with Twilio's JSON shapes, RFC 2822 dates and keyset paging, so Twilio's
// SDKs work unchanged. Its errors name fields as Twilio does ("To", "From",
// "Body", "StatusCallback") and carry Twilio's codes (21211 for To, 21212
// for From, 21602/21617 for Body, 21609 for StatusCallback). Restcomm's SMS
// API (package restcommsms) is served by the same handlers.
package twilio

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
)

// Twilio's codes for the messages API's fields.
const (
	CodeInvalidTo       = 21211
	CodeInvalidFrom     = 21212
	CodeBodyRequired    = 21602
	CodeBodyTooLong     = 21617
	CodeInvalidCallback = 21609
	CodeGeoPermission   = 21408 // permission to send to the region of 'To' is not enabled
)

// Dialect is Twilio's: capitalised parameter names and Twilio's codes for
// their problems.
var Dialect = &api.Dialect{
	Noun: "parameter",
	Field: func(domain string) string {
		if domain == "status_callback" {
			return "StatusCallback"
		}
		return strings.ToUpper(domain[:1]) + domain[1:]
	},
	Code: func(e *otpgate.Error) int {
		if e.Code == otpgate.CodeGeoPermission {
			return CodeGeoPermission
		}
		if e.Code != otpgate.CodeInvalidParameter || e.Problem == otpgate.NoProblem {
			return e.Code
		}
		switch e.Field {
		case "to":
			return CodeInvalidTo
		case "from":
			return CodeInvalidFrom
		case "body":
			if e.Problem == otpgate.FieldTooLong {
				return CodeBodyTooLong
			}
			return CodeBodyRequired
		case "status_callback":
			return CodeInvalidCallback
		}
		return e.Code
	},
}

// Base is where Twilio's messages API lives.
const Base = "/2010-04-01/Accounts/{AccountSid}/Messages"

// Messages serves the messages API.
type Messages struct {
	Messages *messaging.Service
	Phones   *phone.Parser
}

// Register adds Twilio's messages routes.
func Register(s *api.Server, m Messages) { m.Mount(s, Base, Dialect) }

// Mount adds the messages routes under base (and base.json) with dialect d.
func (m Messages) Mount(s *api.Server, base string, d *api.Dialect) {
	for _, list := range []string{base, base + ".json"} {
		s.Authenticated("POST "+list, d, accountPath(m.create))
		s.Authenticated("GET "+list, d, accountPath(m.list))
	}
	one := base + "/{MessageSid}"
	s.Authenticated("GET "+one, d, accountPath(m.fetch))
	s.Authenticated("POST "+one, d, accountPath(m.update))
	s.Authenticated("DELETE "+one, d, accountPath(m.delete))
}

// accountPath requires the path's account to be the authenticated one.
func accountPath(h api.Handler) api.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if p := r.PathValue("AccountSid"); p != api.Account(r) {
			return otpgate.Errorf(otpgate.KindForbidden, otpgate.CodeForbidden,
				"The authenticated account %s cannot use account %s in the URL; use your own account SID in the path", api.Account(r), p)
		}
		return h(w, r)
	}
}

func messageSID(r *http.Request) string {
	return strings.TrimSuffix(r.PathValue("MessageSid"), ".json")
}

// twilioTime is the date format of Twilio's 2010-04-01 API (RFC 2822).
func twilioTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC1123Z)
	return &s
}

// MessageJSON is a message as Twilio's API shows it.
type MessageJSON struct {
	SID                 string            `json:"sid"`
	AccountSID          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         *string           `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         *string           `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                string            `json:"from"`
	To                  string            `json:"to"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           *string           `json:"price_unit"`
	Status              string            `json:"status"`
	Encoding            string            `json:"encoding"`
	URI                 string            `json:"uri"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
}

func messageURI(m message.Message) string {
	return "/2010-04-01/Accounts/" + m.AccountSID + "/Messages/" + m.SID + ".json"
}

// NewMessageJSON shows a message as Twilio does.
func NewMessageJSON(m message.Message) MessageJSON {
	out := MessageJSON{
		SID: m.SID, AccountSID: m.AccountSID, APIVersion: "2010-04-01", Body: m.Body,
		DateCreated: twilioTime(m.CreatedAt), DateSent: twilioTime(m.SentAt), DateUpdated: twilioTime(m.UpdatedAt),
		Direction: string(m.Direction), From: m.From, To: m.To, NumMedia: "0", NumSegments: strconv.Itoa(m.Segments),
		Status: string(m.Status), Encoding: m.Encoding, URI: messageURI(m),
		SubresourceURIs: map[string]string{"media": strings.TrimSuffix(messageURI(m), ".json") + "/Media.json"},
	}
	if m.ErrorCode != 0 {
		code := m.ErrorCode
		out.ErrorCode = &code
	}
	if m.ErrorMessage != "" {
		msg := m.ErrorMessage
		out.ErrorMessage = &msg
	}
	return out
}

func (h Messages) create(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	m, err := h.Messages.Send(r.Context(), messaging.SendRequest{
		AccountSID: api.Account(r), From: f.Get("from"), To: f.Get("to"), Body: f.Get("body"), StatusCallback: f.Get("statusCallback"),
	})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, NewMessageJSON(m))
	return nil
}

func (h Messages) fetch(w http.ResponseWriter, r *http.Request) error {
	m, err := h.Messages.Get(r.Context(), api.Account(r), messageSID(r))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, NewMessageJSON(m))
	return nil
}

func (h Messages) update(w http.ResponseWriter, r *http.Request) error {
	f, err := api.Decode(w, r)
	if err != nil {
		return err
	}
	sid := messageSID(r)
	var m message.Message
	switch status := f.Get("status"); {
	case status == string(message.Canceled):
		m, err = h.Messages.Cancel(r.Context(), api.Account(r), sid)
	case status != "":
		err = otpgate.Invalid("Status", "Invalid 'Status' %q: the only status a message can be given is canceled (while it is queued)", status)
	case f.Has("body") && f.Get("body") == "":
		m, err = h.Messages.Redact(r.Context(), api.Account(r), sid)
	case f.Has("body"):
		err = otpgate.Invalid("Body", "Invalid 'Body': a message's body can only be redacted, with Body set to an empty string")
	default:
		err = otpgate.Invalid("Body", "Nothing to update: give Body= (empty) to redact the message, or Status=canceled to cancel it while queued")
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, NewMessageJSON(m))
	return nil
}

func (h Messages) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.Messages.Delete(r.Context(), api.Account(r), messageSID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func (h Messages) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := message.Filter{AccountSID: api.Account(r), Status: message.Status(q.Get("Status"))}
	var err error
	if to := q.Get("To"); emailaddr.Looks(to) {
		// A code sent by email is in the log too, to its address.
		addr, perr := emailaddr.Parse(to)
		if perr != nil {
			return otpgate.Invalid("To", "Invalid 'To' filter: %v; it takes a phone number or %s", perr, emailaddr.Accepted)
		}
		f.To = addr
	} else if to != "" {
		n, perr := h.Phones.Parse(to)
		if perr != nil {
			return otpgate.Invalid("To", "Invalid 'To' filter: %v", perr)
		}
		f.To = n.E164
	}
	if from := q.Get("From"); from != "" {
		f.From = from
		if n, perr := h.Phones.Parse(from); perr == nil {
			f.From = n.E164
		}
	}
	if f.SentFrom, f.SentUntil, err = dateSentRange(q); err != nil {
		return err
	}
	size := defaultPageSize
	if v := q.Get("PageSize"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > maxPageSize {
			return otpgate.Invalid("PageSize", "Invalid 'PageSize' %q: a number from 1 to %d", v, maxPageSize)
		}
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 0 {
			return otpgate.Invalid("Page", "Invalid 'Page' %q: a number from 0", v)
		}
	}
	if tok := q.Get("PageToken"); tok != "" {
		c, ok := decodePageToken(tok)
		if !ok {
			return otpgate.Invalid("PageToken", "Invalid 'PageToken': use the next_page_uri or previous_page_uri of a listing as given")
		}
		f.Cursor = &c
	} else if page > 0 {
		return otpgate.Invalid("Page", "'Page' needs the 'PageToken' of a listing: follow next_page_uri")
	}
	f.Limit = size + 1 // one more tells whether another page follows
	msgs, err := h.Messages.List(r.Context(), f)
	if err != nil {
		return err
	}
	more := len(msgs) > size
	if more {
		if f.Cursor != nil && f.Cursor.Before {
			msgs = msgs[1:] // paging back: the extra one is the newest
		} else {
			msgs = msgs[:size]
		}
	}
	out := struct {
		Messages        []MessageJSON `json:"messages"`
		URI             string        `json:"uri"`
		FirstPageURI    string        `json:"first_page_uri"`
		NextPageURI     *string       `json:"next_page_uri"`
		PreviousPageURI *string       `json:"previous_page_uri"`
		Page            int           `json:"page"`
		PageSize        int           `json:"page_size"`
		Start           int           `json:"start"`
		End             int           `json:"end"`
	}{Messages: make([]MessageJSON, 0, len(msgs)), Page: page, PageSize: size, Start: page * size}
	for _, m := range msgs {
		out.Messages = append(out.Messages, NewMessageJSON(m))
	}
	out.End = out.Start + max(0, len(msgs)-1)
	base := "/2010-04-01/Accounts/" + api.Account(r) + "/Messages.json"
	keep := url.Values{}
	for k, v := range q {
		if k != "Page" && k != "PageToken" && k != "PageSize" {
			keep[k] = v
		}
	}
	uri := func(pg int, token string) string {
		v := url.Values{}
		for k, vals := range keep {
			v[k] = vals
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(pg))
		if token != "" {
			v.Set("PageToken", token)
		}
		return base + "?" + v.Encode()
	}
	out.URI = uri(page, q.Get("PageToken"))
	out.FirstPageURI = uri(0, "")
	backwards := f.Cursor != nil && f.Cursor.Before
	if len(msgs) > 0 && (more || backwards) {
		last := msgs[len(msgs)-1]
		next := uri(page+1, encodePageToken(message.Cursor{CreatedAt: last.CreatedAt, SID: last.SID}))
		out.NextPageURI = &next
	}
	if len(msgs) > 0 && page > 0 && (!backwards || more) {
		first := msgs[0]
		prev := uri(page-1, encodePageToken(message.Cursor{CreatedAt: first.CreatedAt, SID: first.SID, Before: true}))
		out.PreviousPageURI = &prev
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// dateSentRange reads DateSent (one day), DateSent< (on or before) and
// DateSent> (on or after), as YYYY-MM-DD or RFC 3339.
func dateSentRange(q url.Values) (from, until time.Time, err error) {
	parse := func(key string) (time.Time, bool, bool, error) {
		v := q.Get(key)
		if v == "" {
			return time.Time{}, false, false, nil
		}
		if d, err := time.Parse("2006-01-02", v); err == nil {
			return d, true, true, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC(), true, false, nil
		}
		return time.Time{}, false, false, otpgate.Invalid(key, "Invalid '%s' %q: a date as YYYY-MM-DD or a time as RFC 3339 (2026-11-25T00:00:00Z)", key, v)
	}
	day := 24 * time.Hour
	if t, ok, isDay, e := parse("DateSent"); e != nil {
		return from, until, e
	} else if ok {
		d := t.Truncate(day)
		if !isDay {
			d = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		}
		from, until = d, d.Add(day)
	}
	if t, ok, isDay, e := parse("DateSent<"); e != nil {
		return from, until, e
	} else if ok {
		if isDay {
			t = t.Add(day) // on or before that day
		} else {
			t = t.Add(time.Nanosecond) // on or before that instant
		}
		if until.IsZero() || t.Before(until) {
			until = t
		}
	}
	if t, ok, _, e := parse("DateSent>"); e != nil {
		return from, until, e
	} else if ok && (from.IsZero() || t.After(from)) {
		from = t
	}
	return from, until, nil
}

// Page tokens: "PA" (the page after) or "PB" (the page before) and the
// position, base64url("nanos:sid").
func encodePageToken(c message.Cursor) string {
	p := "PA"
	if c.Before {
		p = "PB"
	}
	return p + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixNano(), 10)+":"+c.SID))
}

func decodePageToken(tok string) (message.Cursor, bool) {
	if len(tok) < 3 || (tok[:2] != "PA" && tok[:2] != "PB") {
		return message.Cursor{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok[2:])
	if err != nil {
		return message.Cursor{}, false
	}
	ns, sid, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !otpgate.ValidSID(sid, otpgate.PrefixMessage) {
		return message.Cursor{}, false
	}
	return message.Cursor{CreatedAt: time.Unix(0, n).UTC(), SID: sid, Before: tok[:2] == "PB"}, true
}
