// Package console is otpgate's web console, served at /console when
// enabled: charts of delivery and conversion, the message log and a live
// tail, accounts and services, sender IDs per operator, and the SMS-pumping
// guard's blocks with a button to lift them, and the audit log. Operators
// sign in with an operator token (otpgate operator-token); a session is a
// cookie (HttpOnly, SameSite=Strict, Secure over TLS) whose hash the store
// keeps. A token made for one account sees that account only, and changes
// nothing (scope.go).
//
// Pages are rendered on the server (html/template); the few scripts
// (htmx, uPlot and console.js) are embedded in the binary, so the console
// works with no network. It reads the store and the guard; it changes
// nothing but its own sessions and, on request, lifts a guard block (which
// the guard decides and audits).
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/verification"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Store is what the console reads, and its sessions.
type Store interface {
	Accounts(ctx context.Context) ([]account.Account, error)
	Account(ctx context.Context, sid string) (account.Account, error)
	Services(ctx context.Context, accountSID string) ([]verification.Service, error)
	Message(ctx context.Context, accountSID, sid string) (message.Message, error)
	Messages(ctx context.Context, f message.Filter) ([]message.Message, error)
	OperatorTokenByHash(ctx context.Context, hash []byte) (operator.Token, error)
	InsertConsoleSession(ctx context.Context, se operator.Session) error
	ConsoleSession(ctx context.Context, hash []byte) (operator.Session, error)
	DeleteConsoleSession(ctx context.Context, hash []byte) error
	ForgetConsoleSessions(ctx context.Context, now time.Time) (int, error)
	MessageStats(ctx context.Context, q operator.StatsQuery) ([]operator.MessageStat, error)
	VerificationStats(ctx context.Context, q operator.StatsQuery) ([]operator.VerificationStat, error)
	SenderStats(ctx context.Context, q operator.StatsQuery) ([]operator.SenderStat, error)
	AuditLog(ctx context.Context, f audit.Filter) ([]audit.Row, error)
}

// Admin is the abuse controls as the console reads and changes them
// (guard.Admin): it decides what the signed-in token may do, and audits it.
type Admin interface {
	Blocks(ctx context.Context, actor audit.Actor, accountSID string) ([]guardstate.Block, error)
	Lift(ctx context.Context, actor audit.Actor, accountSID, key string) (guardstate.Block, error)
}

// Config is what the console needs.
type Config struct {
	Store Store
	Admin Admin
	// GuardOn says whether the SMS-pumping guard runs (it has blocks).
	GuardOn bool
	Phones  *phone.Parser
	// Routes are the config file's routes: the sender IDs each operator
	// approved. None: every sender is accepted.
	Routes []routing.Route
	Clock  otpgate.Clock
	Logger *slog.Logger
	// Secure marks the session cookie Secure: set when otpgate serves TLS
	// itself (a request that came over TLS gets it anyway).
	Secure bool
	// SessionTTL is how long a sign-in lasts; 0: 12 hours.
	SessionTTL time.Duration
}

// Console serves the console's pages.
type Console struct {
	cfg    Config
	log    *slog.Logger
	clock  otpgate.Clock
	mux    *http.ServeMux
	pages  map[string]*template.Template
	assets http.Handler
	// Failed sign-ins, counted per address and per the token ID they name.
	addrs, ids *loginLimiter
}

// New returns the console.
func New(cfg Config) (*Console, error) {
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, log: cfg.Logger, clock: cfg.Clock, mux: http.NewServeMux(), pages: pages,
		assets: http.StripPrefix("/console/assets/", http.FileServerFS(sub)), addrs: newLoginLimiter(maxTracked), ids: newLoginLimiter(maxTracked)}
	c.routes()
	return c, nil
}

// Register serves the console at /console on the API's server.
func Register(s *api.Server, c *Console) {
	h := func(w http.ResponseWriter, r *http.Request) error {
		c.ServeHTTP(w, r)
		return nil
	}
	s.Public("GET /console", nil, h)
	s.Public("GET /console/", nil, h)
	s.Public("POST /console/", nil, h)
}

func (c *Console) routes() {
	m := c.mux
	m.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusFound)
	})
	m.HandleFunc("GET /console/login", c.loginPage)
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("GET /console/assets/", c.serveAsset)
	for _, rt := range c.signedIn() {
		m.HandleFunc(rt.pattern, c.authed(rt.h))
	}
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, http.StatusNotFound, "There is no console page at "+r.URL.Path+".")
	})
}

// route is a page (or data) for signed-in browsers.
type route struct {
	pattern string
	h       handler
}

// handler serves a signed-in browser; it reads the store and the guard
// through s, the session's scope, only.
type handler func(w http.ResponseWriter, r *http.Request, s scope)

// signedIn lists the routes for signed-in browsers (a test walks them with
// a token made for one account).
func (c *Console) signedIn() []route {
	return []route{
		{"POST /console/logout", c.logout},
		{"GET /console/{$}", c.overviewPage},
		{"GET /console/messages", c.messagesPage},
		{"GET /console/messages/{account}/{sid}", c.messagePage},
		{"GET /console/tail", c.tailPage},
		{"GET /console/tail/rows", c.tailRows},
		{"GET /console/accounts", c.accountsPage},
		{"GET /console/senders", c.sendersPage},
		{"GET /console/guard", c.guardPage},
		{"POST /console/guard/lift", c.liftBlock},
		{"GET /console/audit", c.auditPage},
		{"GET /console/api/overview", c.overviewJSON},
		{"GET /console/api/messages", c.messagesJSON},
	}
}

// ServeHTTP serves a console request, with the headers every page has: a
// strict content security policy (scripts and styles of the console only,
// no frames), and no caching of pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	c.assets.ServeHTTP(w, r)
}
