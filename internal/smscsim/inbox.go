package smscsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
)

// Inbox bounds.
const (
	// DefaultKeep is how many messages an Inbox keeps unless told.
	DefaultKeep = 10_000
	// MaxStoredText is the most of a message's text an Inbox keeps, in
	// bytes of UTF-8 (otpgate's own bodies, at most 1,600 characters,
	// fit); longer texts are cut at a character and marked truncated.
	MaxStoredText = 4096
	// listLimit is how many messages GET /messages answers at most, as
	// the sandbox inbox does.
	listLimit = 100
)

// Inbox keeps the last messages a Server took (complete ones: Add skips a
// message given up with parts missing) and serves them over HTTP the way
// otpgate's sandbox inbox serves what the sandbox delivered: GET
// /messages?to=NUMBER lists a number's messages newest first, in the same
// JSON shape. It keeps at most keep messages, the oldest forgotten first,
// each text at most MaxStoredText bytes: about 50 MB at most for 10,000.
// It has no authentication: a development tool, for loopback.
type Inbox struct {
	phones *phone.Parser // nil: numbers match by their digits only

	mu   sync.Mutex
	ring []inboxEntry
	next int // the slot the next message goes to once the ring is full
	keep int
}

type inboxEntry struct {
	m         Message
	to        string // E.164 when the destination parses, else as To writes it
	key       string // what a query must match: see numberKey
	truncated bool
}

// NewInbox returns an inbox of the last keep messages (0: DefaultKeep),
// reading numbers written without a country code with phones' region
// (nil: such numbers match only as written, by their digits).
func NewInbox(keep int, phones *phone.Parser) *Inbox {
	if keep <= 0 {
		keep = DefaultKeep
	}
	return &Inbox{phones: phones, keep: keep}
}

// Add keeps m, forgetting the oldest message when full. A message with
// parts missing is skipped. Safe for concurrent use.
func (in *Inbox) Add(m Message) {
	if len(m.Missing) > 0 {
		return
	}
	e := inboxEntry{m: m, to: m.To()}
	if len(m.Text) > MaxStoredText {
		cut := MaxStoredText
		for cut > 0 && !utf8.RuneStart(m.Text[cut]) {
			cut--
		}
		e.m.Text, e.truncated = m.Text[:cut], true
	}
	dest := m.Dest
	if m.DestTON == 1 {
		dest = "+" + strings.TrimPrefix(dest, "+")
	}
	if n, ok := in.parse(dest); ok {
		e.to, e.key = n, n[1:]
	} else {
		e.key = digitsOf(dest)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.ring) < in.keep {
		in.ring = append(in.ring, e)
		return
	}
	in.ring[in.next] = e
	in.next = (in.next + 1) % in.keep
}

// Len returns how many messages the inbox holds.
func (in *Inbox) Len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.ring)
}

// parse returns n's E.164 form when it is a valid number.
func (in *Inbox) parse(n string) (string, bool) {
	if in.phones == nil {
		return "", false
	}
	num, err := in.phones.Parse(n)
	if err != nil {
		return "", false
	}
	return num.E164, true
}

// numberKey is what a destination and a query are compared by: the digits
// of the E.164 form when the number parses (any spelling: national,
// international, 00-prefixed, spaced, Arabic-Indic digits), else its
// digits as written, less a leading international prefix 00.
func (in *Inbox) numberKey(s string) string {
	if e164, ok := in.parse(s); ok {
		return e164[1:]
	}
	return digitsOf(s)
}

func digitsOf(s string) string {
	s = phone.NormalizeDigits(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	return strings.TrimPrefix(b.String(), "00")
}

// entry is a message as GET /messages shows it: the sandbox inbox's fields
// (sid is the SMSC's message id of the first part), then the simulator's.
type entry struct {
	SID        string   `json:"sid"`
	To         string   `json:"to"`
	From       string   `json:"from"`
	Body       string   `json:"body"`
	Segments   int      `json:"segments"`
	Encoding   string   `json:"encoding"`
	CreatedAt  string   `json:"created_at"`
	MessageIDs []string `json:"message_ids"`
	SystemID   string   `json:"system_id"`
	DataCoding int      `json:"data_coding"`
	Truncated  bool     `json:"truncated,omitempty"`
}

// list returns up to limit entries to key ("" for every number), newest
// first.
func (in *Inbox) list(key string, limit int) []entry {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]entry, 0, min(limit, len(in.ring)))
	n := len(in.ring)
	for i := 0; i < n && len(out) < limit; i++ {
		// newest first: the slot before next, backwards round the ring
		e := &in.ring[(in.next-1-i+2*n)%n]
		if key != "" && e.key != key {
			continue
		}
		out = append(out, entry{
			SID: e.m.IDs[0], To: e.to, From: e.m.From(), Body: e.m.Text, Segments: e.m.Parts,
			Encoding: e.m.Encoding, CreatedAt: e.m.At.UTC().Format(time.RFC3339), MessageIDs: e.m.IDs,
			SystemID: e.m.SystemID, DataCoding: int(e.m.DataCoding), Truncated: e.truncated,
		})
	}
	return out
}

// ServeHTTP serves GET /messages?to=NUMBER: {"messages": [...]}, the
// newest 100 to that number (every number's without to), newest first.
// Errors are JSON as otpgate's: {code, message, more_info, status}.
func (in *Inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != "/messages":
		writeError(w, http.StatusNotFound, otpgate.CodeNotFound, "Not found: the simulator serves GET /messages?to=NUMBER")
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, otpgate.CodeMethodNotAllowed, "Method not allowed: GET /messages?to=NUMBER")
		return
	}
	key := ""
	if to, ok := r.URL.Query()["to"]; ok {
		if key = in.numberKey(to[0]); key == "" {
			writeError(w, http.StatusBadRequest, otpgate.CodeInvalidParameter,
				"Invalid parameter 'to': "+strconv.Quote(to[0])+" has no digits; give the phone number in any spelling, e.g. +962790320012 or 0790320012")
			return
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Messages []entry `json:"messages"`
	}{in.list(key, listLimit)})
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}{code, msg, "https://github.com/otpgate/otpgate/blob/main/docs/errors.md#" + strconv.Itoa(code), status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // a body's < > & as sent
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
