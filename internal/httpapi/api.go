// Package httpapi serves otpgate's REST API: the Restcomm-style 2FA routes and
// the sandbox inbox. Handlers are thin: decode, validate, call the domain,
// encode.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verify"
)

// Config is what the API needs.
type Config struct {
	Verify   *verify.Service
	Auth     *account.Authenticator
	Store    store.Store
	Phones   *phone.Parser
	Messages *messaging.Service
	Inbound  *inbound.Receiver
	Logger   *slog.Logger
}

// API is the HTTP handler.
type API struct {
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	prefix string
	seq    atomic.Uint64
}

// New returns the API handler with every route.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var p [4]byte
	rand.Read(p[:])
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), prefix: hex.EncodeToString(p[:])}
	a.route("POST /2fa/send", a.authed(a.send))
	a.route("POST /2fa/verify", a.authed(a.verify))
	a.route("GET /sandbox/messages", a.authed(a.sandboxMessages))
	if cfg.Inbound != nil {
		a.route("POST /sandbox/inbound", a.authed(a.sandboxInbound))
	}
	a.route("GET /healthz", a.healthz)
	if cfg.Messages != nil {
		a.messageRoutes()
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound,
			"No route %s %s; the routes are POST /2fa/send, POST /2fa/verify, GET /sandbox/messages, POST /sandbox/inbound, GET /healthz and the messages API under /2010-04-01/Accounts/{AccountSid}/Messages.json", r.Method, r.URL.Path))
	})
	return a
}

// route registers "METHOD /path" and a JSON 405 for other methods on the path.
func (a *API) route(pattern string, h http.HandlerFunc) {
	a.mux.HandleFunc(pattern, h)
	method, path, _ := cut(pattern)
	a.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		a.writeError(w, r, &otpgate.Error{Kind: otpgate.KindInvalid, Code: otpgate.CodeMethodNotAllowed, Field: method,
			Message: "Method " + r.Method + " is not allowed on " + path + "; use " + method})
	})
}

func cut(pattern string) (method, path string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, false
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyAccount
)

func requestID(r *http.Request) string {
	if id, ok := r.Context().Value(keyRequestID).(string); ok {
		return id
	}
	return "-"
}

func accountSID(r *http.Request) string {
	sid, _ := r.Context().Value(keyAccount).(string)
	return sid
}

// ServeHTTP gives each request an id (also sent back as X-Request-Id) and routes it.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := a.prefix + "-" + strconv.FormatUint(a.seq.Add(1), 36)
	w.Header().Set("X-Request-Id", id)
	a.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyRequestID, id)))
}

// authed requires HTTP Basic auth with an account SID and auth token.
func (a *API) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sid, token, ok := r.BasicAuth()
		if !ok {
			a.writeError(w, r, otpgate.Errorf(otpgate.KindUnauthorized, otpgate.CodeUnauthorized,
				"Authentication required: use HTTP Basic auth with your account SID as the user name and your auth token as the password"))
			return
		}
		if err := a.cfg.Auth.Authenticate(r.Context(), sid, token); err != nil {
			if err == account.ErrUnauthorized {
				err = otpgate.Errorf(otpgate.KindUnauthorized, otpgate.CodeUnauthorized,
					"Authentication failed: unknown account SID or wrong auth token")
			}
			a.writeError(w, r, err)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), keyAccount, sid)))
	}
}

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

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

func newVerificationJSON(v store.Verification, service string) verificationJSON {
	return verificationJSON{
		SID: v.SID, AccountSID: v.AccountSID, Service: service, ServiceSID: v.ServiceSID, To: v.To, From: v.From,
		Channel: v.Channel, Status: v.Status, SendAttempts: v.SendAttempts,
		CreatedAt: rfc3339(v.CreatedAt), UpdatedAt: rfc3339(v.UpdatedAt), ExpiresAt: rfc3339(v.ExpiresAt),
	}
}

func (a *API) send(w http.ResponseWriter, r *http.Request) {
	f, err := decodeFields(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	res, err := a.cfg.Verify.Send(r.Context(), verify.SendRequest{
		AccountSID: accountSID(r), Service: f.get("service"), From: f.get("from"), To: f.get("to"), Body: f.get("body"),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := newVerificationJSON(res.Verification, res.ServiceName)
	out.MessageSID, out.Operator = res.Message.SID, res.Operator
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) verify(w http.ResponseWriter, r *http.Request) {
	f, err := decodeFields(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	number := f.get("number")
	if number == "" {
		number = f.get("to") // Twilio's VerificationCheck calls it To
	}
	res, err := a.cfg.Verify.Check(r.Context(), verify.CheckRequest{
		AccountSID: accountSID(r), Service: f.get("service"), Number: number, Code: f.get("code"),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := newVerificationJSON(res.Verification, res.ServiceName)
	out.Valid = res.Valid
	out.AttemptsRemaining = &res.AttemptsRemaining
	writeJSON(w, http.StatusOK, out)
}

type sandboxMessageJSON struct {
	SID       string `json:"sid"`
	To        string `json:"to"`
	From      string `json:"from"`
	Body      string `json:"body"`
	Segments  int    `json:"segments"`
	Encoding  string `json:"encoding"`
	CreatedAt string `json:"created_at"`
}

func (a *API) sandboxMessages(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if to == "" {
		a.writeError(w, r, otpgate.Invalid("to", "Missing required query parameter 'to': the phone number whose sandbox messages to list, in any spelling"))
		return
	}
	n, err := a.cfg.Phones.Parse(to)
	if err != nil {
		a.writeError(w, r, otpgate.Invalid("to", "Invalid 'to': %v", err))
		return
	}
	msgs, err := a.cfg.Store.SandboxMessages(r.Context(), accountSID(r), n.E164, 100)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := struct {
		Messages []sandboxMessageJSON `json:"messages"`
	}{Messages: make([]sandboxMessageJSON, 0, len(msgs))}
	for _, m := range msgs {
		out.Messages = append(out.Messages, sandboxMessageJSON{
			SID: m.SID, To: m.To, From: m.From, Body: m.Body, Segments: m.Segments, Encoding: m.Encoding, CreatedAt: rfc3339(m.CreatedAt),
		})
	}
	writeJSON(w, http.StatusOK, out)
}
