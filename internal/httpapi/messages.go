package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/store"
)

// The messages API in its three spellings: Twilio's, Restcomm Connect's,
// and Restcomm's under /restcomm.
func (a *API) messageRoutes() {
	for _, base := range []string{"/2010-04-01/Accounts/{AccountSid}/Messages", "/2012-04-24/Accounts/{AccountSid}/SMS/Messages", "/restcomm/2012-04-24/Accounts/{AccountSid}/SMS/Messages"} {
		for _, list := range []string{base, base + ".json"} {
			a.mux.HandleFunc("POST "+list, a.authed(a.accountPath(a.createMessage)))
			a.mux.HandleFunc("GET "+list, a.authed(a.accountPath(a.listMessages)))
		}
		one := base + "/{MessageSid}"
		a.mux.HandleFunc("GET "+one, a.authed(a.accountPath(a.fetchMessage)))
		a.mux.HandleFunc("POST "+one, a.authed(a.accountPath(a.updateMessage)))
		a.mux.HandleFunc("DELETE "+one, a.authed(a.accountPath(a.deleteMessage)))
	}
}

// accountPath requires the path's account to be the authenticated one.
func (a *API) accountPath(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if p := r.PathValue("AccountSid"); p != accountSID(r) {
			a.writeError(w, r, otpgate.Errorf(otpgate.KindForbidden, otpgate.CodeForbidden,
				"The authenticated account %s cannot use account %s in the URL; use your own account SID in the path", accountSID(r), p))
			return
		}
		h(w, r)
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

type messageJSON struct {
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

func messageURI(m store.Message) string {
	return "/2010-04-01/Accounts/" + m.AccountSID + "/Messages/" + m.SID + ".json"
}

func newMessageJSON(m store.Message) messageJSON {
	out := messageJSON{
		SID: m.SID, AccountSID: m.AccountSID, APIVersion: "2010-04-01", Body: m.Body,
		DateCreated: twilioTime(m.CreatedAt), DateSent: twilioTime(m.SentAt), DateUpdated: twilioTime(m.UpdatedAt),
		Direction: m.Direction, From: m.From, To: m.To, NumMedia: "0", NumSegments: strconv.Itoa(m.Segments),
		Status: m.Status, Encoding: m.Encoding, URI: messageURI(m),
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

func (a *API) createMessage(w http.ResponseWriter, r *http.Request) {
	f, err := decodeFields(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	m, err := a.cfg.Messages.Send(r.Context(), messaging.SendRequest{
		AccountSID: accountSID(r), From: f.get("from"), To: f.get("to"), Body: f.get("body"), StatusCallback: f.get("statusCallback"),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newMessageJSON(m))
}

func (a *API) fetchMessage(w http.ResponseWriter, r *http.Request) {
	m, err := a.cfg.Messages.Get(r.Context(), accountSID(r), messageSID(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newMessageJSON(m))
}

func (a *API) updateMessage(w http.ResponseWriter, r *http.Request) {
	f, err := decodeFields(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	sid := messageSID(r)
	_, hasBody := f["Body"]
	if !hasBody {
		_, hasBody = f["body"]
	}
	var m store.Message
	switch status := f.get("status"); {
	case status == messaging.MsgCanceled:
		m, err = a.cfg.Messages.Cancel(r.Context(), accountSID(r), sid)
	case status != "":
		err = otpgate.Invalid("Status", "Invalid 'Status' %q: the only status a message can be given is canceled (while it is queued)", status)
	case hasBody && f.get("body") == "":
		m, err = a.cfg.Messages.Redact(r.Context(), accountSID(r), sid)
	case hasBody:
		err = otpgate.Invalid("Body", "Invalid 'Body': a message's body can only be redacted, with Body set to an empty string")
	default:
		err = otpgate.Invalid("Body", "Nothing to update: give Body= (empty) to redact the message, or Status=canceled to cancel it while queued")
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newMessageJSON(m))
}

func (a *API) deleteMessage(w http.ResponseWriter, r *http.Request) {
	if err := a.cfg.Messages.Delete(r.Context(), accountSID(r), messageSID(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func (a *API) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.MessageFilter{AccountSID: accountSID(r), Status: q.Get("Status")}
	var err error
	if to := q.Get("To"); to != "" {
		n, perr := a.cfg.Phones.Parse(to)
		if perr != nil {
			a.writeError(w, r, otpgate.Invalid("To", "Invalid 'To' filter: %v", perr))
			return
		}
		f.To = n.E164
	}
	if from := q.Get("From"); from != "" {
		f.From = from
		if n, perr := a.cfg.Phones.Parse(from); perr == nil {
			f.From = n.E164
		}
	}
	if f.SentFrom, f.SentUntil, err = dateSentRange(q); err != nil {
		a.writeError(w, r, err)
		return
	}
	size := defaultPageSize
	if v := q.Get("PageSize"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > maxPageSize {
			a.writeError(w, r, otpgate.Invalid("PageSize", "Invalid 'PageSize' %q: a number from 1 to %d", v, maxPageSize))
			return
		}
	}
	page := 0
	if v := q.Get("Page"); v != "" {
		if page, err = strconv.Atoi(v); err != nil || page < 0 {
			a.writeError(w, r, otpgate.Invalid("Page", "Invalid 'Page' %q: a number from 0", v))
			return
		}
	}
	if tok := q.Get("PageToken"); tok != "" {
		c, ok := decodePageToken(tok)
		if !ok {
			a.writeError(w, r, otpgate.Invalid("PageToken", "Invalid 'PageToken': use the next_page_uri or previous_page_uri of a listing as given"))
			return
		}
		f.Cursor = &c
	} else if page > 0 {
		a.writeError(w, r, otpgate.Invalid("Page", "'Page' needs the 'PageToken' of a listing: follow next_page_uri"))
		return
	}
	f.Limit = size + 1 // one more tells whether another page follows
	msgs, err := a.cfg.Messages.List(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
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
		Messages        []messageJSON `json:"messages"`
		URI             string        `json:"uri"`
		FirstPageURI    string        `json:"first_page_uri"`
		NextPageURI     *string       `json:"next_page_uri"`
		PreviousPageURI *string       `json:"previous_page_uri"`
		Page            int           `json:"page"`
		PageSize        int           `json:"page_size"`
		Start           int           `json:"start"`
		End             int           `json:"end"`
	}{Messages: make([]messageJSON, 0, len(msgs)), Page: page, PageSize: size, Start: page * size}
	for _, m := range msgs {
		out.Messages = append(out.Messages, newMessageJSON(m))
	}
	out.End = out.Start + max(0, len(msgs)-1)
	base := "/2010-04-01/Accounts/" + accountSID(r) + "/Messages.json"
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
		next := uri(page+1, encodePageToken(store.Cursor{CreatedAt: last.CreatedAt, SID: last.SID}))
		out.NextPageURI = &next
	}
	if len(msgs) > 0 && page > 0 && (!backwards || more) {
		first := msgs[0]
		prev := uri(page-1, encodePageToken(store.Cursor{CreatedAt: first.CreatedAt, SID: first.SID, Before: true}))
		out.PreviousPageURI = &prev
	}
	writeJSON(w, http.StatusOK, out)
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
func encodePageToken(c store.Cursor) string {
	p := "PA"
	if c.Before {
		p = "PB"
	}
	return p + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixNano(), 10)+":"+c.SID))
}

func decodePageToken(tok string) (store.Cursor, bool) {
	if len(tok) < 3 || (tok[:2] != "PA" && tok[:2] != "PB") {
		return store.Cursor{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok[2:])
	if err != nil {
		return store.Cursor{}, false
	}
	ns, sid, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !otpgate.ValidSID(sid, otpgate.PrefixMessage) {
		return store.Cursor{}, false
	}
	return store.Cursor{CreatedAt: time.Unix(0, n).UTC(), SID: sid, Before: tok[:2] == "PB"}, true
}

// sandboxInbound injects a message as if a user had texted the service:
// From (the user's phone number), To (the service's sender or number), Body.
func (a *API) sandboxInbound(w http.ResponseWriter, r *http.Request) {
	f, err := decodeFields(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	from, err := a.cfg.Phones.Parse(f.get("from"))
	if err != nil {
		a.writeError(w, r, otpgate.Invalid("From", "Invalid 'From': the phone number of the user who texted; %v", err))
		return
	}
	to := strings.TrimSpace(f.get("to"))
	if to == "" {
		a.writeError(w, r, otpgate.Invalid("To", "Missing required parameter 'To': the service's sender ID or number the user texted"))
		return
	}
	body := f.get("body")
	if body == "" || len([]rune(body)) > messaging.MaxBodyChars {
		a.writeError(w, r, otpgate.Invalid("Body", "Invalid 'Body': 1 to 1600 characters"))
		return
	}
	sid, err := a.cfg.Inbound.Receive(r.Context(), accountSID(r), sms.Inbound{
		Connector: "sandbox", From: from.E164, To: to, Text: body, Total: 1, Seq: 1, ReceivedAt: time.Now(),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	m, err := a.cfg.Messages.Get(r.Context(), accountSID(r), sid)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, newMessageJSON(m))
}
