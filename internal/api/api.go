// Package api is the HTTP core every API dialect of otpgate is served
// through: one mux, request ids, HTTP Basic authentication with an account
// SID and auth token, request body decoding (JSON or form), and one JSON
// error shape. A dialect (Restcomm's 2FA API, Twilio's messages API,
// Restcomm's SMS API, the sandbox inbox) registers its routes with its
// Dialect, which says domain errors the way its wire does: its names for the
// domain's fields and its codes for their problems. A wrong method on any
// route gets 405 with Allow; an unknown path gets 404.
package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/latency"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/store"
)

// Dialect is how one API says domain errors.
type Dialect struct {
	// Noun is what the API calls a request field in "Missing required NOUN
	// 'name'": "field" or "parameter".
	Noun string
	// Field returns the wire name of a domain field ("from" -> "From");
	// nil keeps the domain's names.
	Field func(domain string) string
	// Code returns the dialect's code for a domain error; nil keeps the
	// domain's.
	Code func(e *otpgate.Error) int
}

// Handler serves one route; an error it returns is written as the route's
// dialect says it.
type Handler func(w http.ResponseWriter, r *http.Request) error

// Config is what the core needs.
type Config struct {
	Auth   *account.Authenticator
	Logger *slog.Logger
	// Ready, if set, tells GET /readyz whether this node can serve (its
	// database answers); GET /healthz only says the process is alive.
	Ready func(ctx context.Context) error
	// Health, if set, is added to GET /healthz's answer (say,
	// "abuse_guard": "off").
	Health func() map[string]string
	// Metrics, if set, counts requests by route and status and times them.
	Metrics *Metrics
	// Operators, if set, authenticates the operator API's bearer tokens.
	Operators Operators
	// Audit, if set, records an account's attempt on the operator API.
	Audit *audit.Log
	// HSTS sends Strict-Transport-Security on every reply (otpgate serves
	// TLS itself).
	HSTS bool
}

// Operators finds operator tokens by their hash (the store).
type Operators interface {
	OperatorTokenByHash(ctx context.Context, hash []byte) (operator.Token, error)
}

// Server is the HTTP handler of every API.
type Server struct {
	auth      *account.Authenticator
	operators Operators
	audit     *audit.Log
	hsts      bool
	log       *slog.Logger
	mux       *http.ServeMux
	metrics   *Metrics

	mu      sync.Mutex
	methods map[string][]string // path pattern -> methods registered on it
}

// New returns a Server with GET /healthz and the 404 of unknown paths.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{auth: cfg.Auth, operators: cfg.Operators, audit: cfg.Audit, hsts: cfg.HSTS, log: cfg.Logger,
		mux: http.NewServeMux(), metrics: cfg.Metrics, methods: map[string][]string{}}
	s.Public("GET /healthz", nil, func(w http.ResponseWriter, r *http.Request) error {
		out := map[string]string{"status": "ok"}
		if cfg.Health != nil {
			for k, v := range cfg.Health() {
				out[k] = v
			}
		}
		WriteJSON(w, http.StatusOK, out)
		return nil
	})
	s.Public("GET /readyz", nil, func(w http.ResponseWriter, r *http.Request) error {
		if cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := cfg.Ready(ctx); err != nil {
				s.log.Warn("not ready", "err", err)
				return otpgate.Errorf(otpgate.KindUnavailable, otpgate.CodeUnavailable, "Not ready: the database does not answer")
			}
		}
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return nil
	})
	s.mux.HandleFunc("/", s.notFound)
	return s
}

// Authenticated registers "METHOD /path" for requests with an account's
// SID and auth token (HTTP Basic auth); Account(r) names the account.
func (s *Server) Authenticated(pattern string, d *Dialect, h Handler) {
	s.handle(pattern, d, s.authed(d, h))
}

// Operator registers "METHOD /path" of the operator API, for requests with
// an operator token (Authorization: Bearer); Actor(r) names the token. An
// account's SID and auth token are refused (403), and the attempt is
// recorded in the audit log under kind.
func (s *Server) Operator(pattern, kind string, d *Dialect, h Handler) {
	s.handle(pattern, d, s.operatorAuthed(kind, h))
}

// Public registers "METHOD /path" for any request.
func (s *Server) Public(pattern string, d *Dialect, h Handler) {
	s.handle(pattern, d, h)
}

func (s *Server) handle(pattern string, d *Dialect, h Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("api: pattern without a method: " + pattern)
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if route, ok := r.Context().Value(keyRoute).(*string); ok {
			*route = pattern // before a handler's own mux (the console's) sets r.Pattern to its own
		}
		if err := h(w, r); err != nil {
			s.WriteError(w, r, d, err)
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.methods[path]; !seen {
		// Any other method on the path: 405 naming the ones it has.
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			allow := s.allowed(path)
			w.Header().Set("Allow", allow)
			s.WriteError(w, r, d, &otpgate.Error{Kind: otpgate.KindInvalid, Code: otpgate.CodeMethodNotAllowed,
				Message: "Method " + r.Method + " is not allowed on " + r.URL.Path + "; use " + strings.ReplaceAll(allow, ", ", " or ")})
		})
	}
	s.methods[path] = append(s.methods[path], method)
}

func (s *Server) allowed(path string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := slices.Clone(s.methods[path])
	if slices.Contains(m, http.MethodGet) && !slices.Contains(m, http.MethodHead) {
		m = append(m, http.MethodHead)
	}
	slices.Sort(m)
	return strings.Join(m, ", ")
}

// Routes returns every "METHOD /path" registered, sorted: what the
// OpenAPI description must cover.
func (s *Server) Routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for path, methods := range s.methods {
		for _, m := range methods {
			out = append(out, m+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyAccount
	keyRoute    // *string: the route pattern, for the metrics
	keyOperator // audit.Actor of an operator token
)

// RequestID is the id of a request, as sent back in X-Request-Id.
func RequestID(r *http.Request) string {
	if id, ok := r.Context().Value(keyRequestID).(string); ok {
		return id
	}
	return "-"
}

// Account is the SID of the account a request authenticated as.
func Account(r *http.Request) string {
	sid, _ := r.Context().Value(keyAccount).(string)
	return sid
}

// Actor is who a request is: its account, or its operator token.
func Actor(r *http.Request) audit.Actor {
	if a, ok := r.Context().Value(keyOperator).(audit.Actor); ok {
		return a
	}
	return audit.Account(Account(r), RequestID(r))
}

// BaseURL is the scheme and host a request was sent to, as the URLs in
// Twilio's replies name them ("https://verify.twilio.com" for the SDKs).
func BaseURL(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil && r.Header.Get("X-Forwarded-Proto") != "https" && !strings.HasSuffix(r.Host, ".twilio.com") {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// notFound is the reply to a path no route has. It names no routes: the
// docs list them, and an unauthenticated caller learns nothing here.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.WriteError(w, r, nil, otpgate.Errorf(otpgate.KindNotFound, otpgate.CodeNotFound,
		"The requested resource %s was not found", r.URL.Path))
}

// MaxHeaderBytes is the most request headers may take; the http.Server's
// own limit must be above it, so that a larger request gets this JSON error
// and not Go's plain-text 431.
const MaxHeaderBytes = 16 << 10

// ServeHTTP gives each request a random id (also sent back as
// X-Request-Id: a counter would tell how many requests the server takes)
// and routes it. Paths that are not clean (.., ., //) get the JSON 404
// rather than the mux's HTML redirect, and oversized headers the JSON 431.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.metrics != nil {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		w = sw
		route := new(string) // the pattern that served it, set by handle
		ctx := context.WithValue(r.Context(), keyRoute, route)
		if r.Method == http.MethodPost {
			ctx = latency.Start(ctx, s.metrics.stages, start) // if it sends, its stages
		}
		r = r.WithContext(ctx)
		defer func() { s.metrics.observe(cmp.Or(*route, r.Pattern), sw.status, time.Since(start)) }()
	}
	var b [10]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:4]) + "-" + hex.EncodeToString(b[4:])
	w.Header().Set("X-Request-Id", id)
	if s.hsts {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	r = r.WithContext(context.WithValue(r.Context(), keyRequestID, id))
	if n := headerBytes(r); n > MaxHeaderBytes {
		WriteJSON(w, http.StatusRequestHeaderFieldsTooLarge, errorBody{Code: otpgate.CodeBodyTooLarge,
			Message:  fmt.Sprintf("The request's headers take %d bytes; at most %d are accepted", n, MaxHeaderBytes),
			MoreInfo: moreInfo(otpgate.CodeBodyTooLarge), Status: http.StatusRequestHeaderFieldsTooLarge})
		return
	}
	if p := r.URL.Path; p != "" && r.Method != http.MethodConnect && cleanPath(p) != p {
		s.notFound(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// cleanPath is p as the mux wants it: path.Clean, keeping a trailing slash.
func cleanPath(p string) string {
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}

func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// authed requires HTTP Basic auth with an account SID and auth token.
func (s *Server) authed(d *Dialect, h Handler) Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		sid, token, ok := r.BasicAuth()
		if !ok {
			return otpgate.Errorf(otpgate.KindUnauthorized, otpgate.CodeUnauthorized,
				"Authentication required: use HTTP Basic auth with your account SID as the user name and your auth token as the password")
		}
		if err := s.auth.Authenticate(r.Context(), sid, token); err != nil {
			if err == account.ErrUnauthorized {
				err = otpgate.Errorf(otpgate.KindUnauthorized, otpgate.CodeUnauthorized,
					"Authentication failed: unknown account SID or wrong auth token")
			}
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), keyAccount, sid)))
	}
}

// operatorAuthed requires an operator token: "Authorization: Bearer TOKEN",
// of a token made with otpgate operator-token and not revoked.
func (s *Server) operatorAuthed(kind string, h Handler) Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.operators == nil {
			if sid, token, basic := r.BasicAuth(); basic && s.auth != nil && s.auth.Authenticate(r.Context(), sid, token) == nil {
				err := otpgate.Errorf(otpgate.KindForbidden, otpgate.CodeForbidden,
					"The operator API takes an operator token (Authorization: Bearer TOKEN, made with otpgate operator-token on the server); an account's SID and auth token do not reach it")
				if s.audit != nil {
					s.audit.Record(r.Context(), audit.Account(sid, RequestID(r)), audit.Entry{AccountSID: sid, Kind: kind,
						Action: r.Method + " " + r.URL.Path, Refused: err})
				}
				return err
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="otpgate operator"`)
			return otpgate.Errorf(otpgate.KindUnauthorized, otpgate.CodeUnauthorized,
				"Authentication required: the operator API takes an operator token, Authorization: Bearer TOKEN (otpgate operator-token)")
		}
		h256 := sha256.Sum256([]byte(strings.TrimSpace(bearer)))
		t, err := s.operators.OperatorTokenByHash(r.Context(), h256[:])
		if errors.Is(err, store.ErrNotFound) || (err == nil && !t.RevokedAt.IsZero()) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="otpgate operator", error="invalid_token"`)
			return otpgate.Errorf(otpgate.KindUnauthorized, otpgate.CodeUnauthorized, "Authentication failed: unknown or revoked operator token")
		} else if err != nil {
			return err
		}
		actor := audit.Actor{Kind: audit.ActorOperator, ID: t.ID, Name: t.Name, Account: t.AccountSID, RequestID: RequestID(r)}
		return h(w, r.WithContext(context.WithValue(r.Context(), keyOperator, actor)))
	}
}
