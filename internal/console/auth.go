package console

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/store"
)

// TokenPrefix begins every operator token, so that one found in a file or
// a log is recognised.
const TokenPrefix = "otpc_"

// NewToken makes an operator token: the record to store (its hash only) and
// the token itself, to show once. The token is TokenPrefix, its ID ("CT"
// and 32 hex characters), "_" and a secret of 64 hex characters: a failed
// sign-in is counted against the ID it names as well as its address. The
// store finds a token by the hash of the whole string, so tokens of the
// older form (TokenPrefix and 64 hex characters, no ID) still sign in.
func NewToken(name string, now time.Time) (operator.Token, string) {
	var id [16]byte
	rand.Read(id[:])
	var s [32]byte
	rand.Read(s[:])
	rec := operator.Token{ID: "CT" + hex.EncodeToString(id[:]), Name: name, CreatedAt: now}
	token := TokenPrefix + rec.ID + "_" + hex.EncodeToString(s[:])
	rec.Hash = HashToken(token)
	return rec, token
}

// namedID is the token ID a presented token names ("" when it names none:
// a token of the older form, or no token at all). Only its form is
// checked: the ID may not exist.
func namedID(token string) string {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	const idLen = 2 + 32
	if !ok || len(rest) != idLen+1+64 || rest[idLen] != '_' || !strings.HasPrefix(rest, "CT") ||
		!lowerHex(rest[2:idLen]) || !lowerHex(rest[idLen+1:]) {
		return ""
	}
	return rest[:idLen]
}

func lowerHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

// HashToken is what the store keeps of a token (or a session cookie).
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CookieName is the session cookie's name.
const CookieName = "otpgate_console"

// session is a signed-in browser.
type session struct {
	TokenID, TokenName string
	// AccountSID is the one account the token may read ("" for every one).
	AccountSID string
	CSRF       string // the token its forms and requests that change something carry
}

// actor is who the session's requests are, for the audit log.
func (s session) actor() audit.Actor {
	return audit.Actor{Kind: audit.ActorOperator, ID: s.TokenID, Name: s.TokenName, Account: s.AccountSID}
}

// who says which token is signed in and what it sees, for the page header.
func (s session) who() string {
	name := cmp.Or(s.TokenName, s.TokenID)
	if s.AccountSID == "" {
		return name + " — every account"
	}
	return name + " — account " + s.AccountSID + " (read only)"
}

type ctxKey struct{}

func sessionOf(r *http.Request) session {
	s, _ := r.Context().Value(ctxKey{}).(session)
	return s
}

// csrfToken is derived from the session's cookie: a page's forms carry it,
// and a request that changes something must too. Another site can neither
// read the cookie nor the pages.
func csrfToken(cookie string) string {
	h := sha256.Sum256([]byte("otpgate console csrf\x00" + cookie))
	return hex.EncodeToString(h[:16])
}

// authed serves h to signed-in browsers. Others are sent to the login page
// (a page) or get 401 (the JSON endpoints and htmx requests). A request that
// changes something must come from the console's own pages: from the same
// origin (Sec-Fetch-Site or Origin, when the browser sends them) and with
// the session's CSRF token. h reads through the session's scope.
func (c *Console) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		se, err := c.sessionFromCookie(r)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				c.log.Error("console: reading a session failed", "err", err, "request_id", api.RequestID(r))
				c.errorPage(w, r, http.StatusServiceUnavailable, "The database did not answer; try again.")
				return
			}
			if strings.HasPrefix(r.URL.Path, "/console/api/") || r.Header.Get("HX-Request") != "" || r.Method != http.MethodGet {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"error":"sign in to the console first","login":"/console/login"}` + "\n"))
				return
			}
			next := r.URL.Path
			if r.URL.RawQuery != "" {
				next += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, "/console/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				c.errorPage(w, r, http.StatusForbidden, "Refused: the request did not come from the console's own pages.")
				return
			}
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(se.CSRF)) != 1 {
				c.errorPage(w, r, http.StatusForbidden, "Refused: the form is out of date or did not come from the console; reload the page and try again.")
				return
			}
		}
		actor := se.actor()
		actor.RequestID = api.RequestID(r)
		sc := scope{st: c.cfg.Store, admin: c.cfg.Admin, account: se.AccountSID, actor: actor}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, se)), sc)
	}
}

var errNoSession = errors.New("console: not signed in")

func (c *Console) sessionFromCookie(r *http.Request) (session, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil || ck.Value == "" || len(ck.Value) > 128 {
		return session{}, errNoSession
	}
	se, err := c.cfg.Store.ConsoleSession(r.Context(), HashToken(ck.Value))
	if errors.Is(err, store.ErrNotFound) {
		return session{}, errNoSession
	} else if err != nil {
		return session{}, err
	}
	if !c.clock.Now().Before(se.ExpiresAt) {
		return session{}, errNoSession
	}
	return session{TokenID: se.TokenID, TokenName: se.TokenName, AccountSID: se.AccountSID, CSRF: csrfToken(ck.Value)}, nil
}

// sameOrigin reports whether a request came from a page of this origin,
// by the headers browsers send: Sec-Fetch-Site, else Origin. A request
// with neither (not from a browser) passes here; the CSRF token still
// guards it.
func sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && u.Host == r.Host
	}
	return true
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, r, http.StatusOK, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a page to go to after signing in only if it is one of
// the console's (no open redirect).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/"
	}
	return next
}

// login signs a browser in with an operator token. Failed sign-ins are
// counted per address and per the token ID a token names (loginLimiter):
//   - a token whose ID is locked out is refused (429) before it is looked
//     up, valid or not: whoever failed naming it knows the ID, and an answer
//     that told a right secret from a wrong one would let them go on guessing
//     it at full speed from any number of addresses;
//   - a valid token (known, not revoked) signs in even while its address is
//     locked out, so that one client behind the same proxy cannot keep every
//     operator out;
//   - an invalid token counts a failure against its address and the ID it
//     names, and gets 429 while either is locked out (401 otherwise).
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		c.errorPage(w, r, http.StatusForbidden, "Refused: the sign-in did not come from the console's own page.")
		return
	}
	ip, now := clientIP(r), c.clock.Now()
	token := strings.TrimSpace(r.PostFormValue("token"))
	named := namedID(token)
	if wait := c.ids.wait(named, now); wait > 0 {
		c.log.Warn("console: sign-in refused, too many failures naming its token", "token_id", named, "remote", ip)
		c.tooMany(w, r, next, wait)
		return
	}
	var tok operator.Token
	err := store.ErrNotFound
	if token != "" && len(token) <= 256 {
		tok, err = c.cfg.Store.OperatorTokenByHash(r.Context(), HashToken(token))
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		c.log.Error("console: sign-in failed", "err", err, "request_id", api.RequestID(r))
		c.errorPage(w, r, http.StatusServiceUnavailable, "The database did not answer; try again.")
		return
	}
	if err != nil || !tok.RevokedAt.IsZero() {
		locked := c.addrs.wait(ip, now) > 0 // the ID it names is not (see above)
		c.addrs.failed(ip, now)
		c.ids.failed(named, now)
		if locked {
			c.log.Warn("console: sign-in refused, too many failures from its address", "remote", ip, "token_id", named)
			c.tooMany(w, r, next, c.addrs.wait(ip, now))
			return
		}
		c.log.Warn("console: sign-in with a wrong or revoked token", "remote", ip, "token_id", named)
		c.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Next": next,
			"Error": "That token does not sign in: it is wrong or was revoked. Tokens are made with otpgate operator-token."})
		return
	}
	if wait := c.ids.wait(tok.ID, now); wait > 0 { // a token of the older form, whose ID others named
		c.log.Warn("console: sign-in refused, too many failures naming its token", "token_id", tok.ID, "remote", ip)
		c.tooMany(w, r, next, wait)
		return
	}
	var b [32]byte
	rand.Read(b[:])
	cookie := hex.EncodeToString(b[:])
	se := operator.Session{Hash: HashToken(cookie), TokenID: tok.ID, CreatedAt: now, ExpiresAt: now.Add(c.cfg.SessionTTL)}
	if err := c.cfg.Store.InsertConsoleSession(r.Context(), se); err != nil {
		if errors.Is(err, store.ErrNotFound) { // revoked in between
			c.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Next": next, "Error": "That token was revoked."})
			return
		}
		c.log.Error("console: storing a session failed", "err", err, "request_id", api.RequestID(r))
		c.errorPage(w, r, http.StatusServiceUnavailable, "The database did not answer; try again.")
		return
	}
	if _, err := c.cfg.Store.ForgetConsoleSessions(r.Context(), now); err != nil {
		c.log.Warn("console: forgetting expired sessions failed", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: cookie, Path: "/console", MaxAge: int(c.cfg.SessionTTL.Seconds()),
		Expires: se.ExpiresAt, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.cfg.Secure || r.TLS != nil})
	c.log.Info("console: signed in", "token_id", tok.ID, "token_name", tok.Name, "account_sid", tok.AccountSID, "remote", ip)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// tooMany answers a sign-in refused for too many failures. It says the
// same whichever count is over and whether the token was valid.
func (c *Console) tooMany(w http.ResponseWriter, r *http.Request, next string, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	c.render(w, r, http.StatusTooManyRequests, "login", map[string]any{"Next": next,
		"Error": "Too many failed sign-ins from your address or with this token: try again in " + strconv.Itoa(secs) + " s."})
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ scope) {
	if ck, err := r.Cookie(CookieName); err == nil {
		if err := c.cfg.Store.DeleteConsoleSession(r.Context(), HashToken(ck.Value)); err != nil {
			c.log.Error("console: ending a session failed", "err", err, "request_id", api.RequestID(r))
			c.errorPage(w, r, http.StatusServiceUnavailable, "The database did not answer; you are still signed in. Try again.")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: c.cfg.Secure || r.TLS != nil})
	c.log.Info("console: signed out", "token_id", sessionOf(r).TokenID)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// clientIP is the address a request came from (a proxy's, behind one: then
// everyone behind it shares the address's count of failures, which a
// valid token passes).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter counts failed sign-ins per key (an address, or a token ID):
// each key may fail loginBurst times, then once per loginEvery. It is this
// node's, in memory, and keeps at most max keys: when full, it forgets the
// keys whose count has refilled, then the least locked out.
type loginLimiter struct {
	mu      sync.Mutex
	max     int
	buckets map[string]*bucket
}

const (
	loginBurst = 5
	loginEvery = 12 * time.Second // 5 a minute
	maxTracked = 10000
)

type bucket struct {
	tokens float64
	at     time.Time
}

func newLoginLimiter(max int) *loginLimiter {
	return &loginLimiter{max: max, buckets: map[string]*bucket{}}
}

func refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(loginBurst, b.tokens+d.Seconds()/loginEvery.Seconds())
		b.at = now
	}
}

// wait returns how long key must wait before its next attempt (0: none;
// always 0 for the key "").
func (l *loginLimiter) wait(key string, now time.Time) time.Duration {
	if key == "" {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(loginEvery))
}

// failed counts a failed attempt of key (none for the key "").
func (l *loginLimiter) failed(key string, now time.Time) {
	if key == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: loginBurst, at: now}
		l.buckets[key] = b
	}
	refill(b, now)
	b.tokens = math.Max(b.tokens-1, 0)
}

// evict makes room for a key: it forgets the keys whose count has refilled
// (they are as if never seen) and, if none has, the least locked out one,
// so a flood of new keys cannot free a key that is locked out before
// those that are not.
func (l *loginLimiter) evict(now time.Time) {
	var least string
	most := -1.0
	for k, b := range l.buckets {
		if refill(b, now); b.tokens >= loginBurst {
			delete(l.buckets, k)
		} else if b.tokens > most {
			least, most = k, b.tokens
		}
	}
	if len(l.buckets) >= l.max {
		delete(l.buckets, least)
	}
}
