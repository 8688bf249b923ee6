package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api"
	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/verification"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      *testing.T
	st     *sqlite.Store
	clock  *clock
	admin  *guard.Admin // the real one, over the same store, with an audit log
	c      *console.Console
	h      http.Handler // the server's handler, for requests from a chosen address
	srv    *httptest.Server
	token  string // alice's: the operator's own token
	tokID  string
	logs   *bytes.Buffer
	logMu  sync.Mutex
	client *http.Client // no redirects followed, no cookies kept
}

func newEnv(t *testing.T, set func(*console.Config)) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	phones, _ := phone.NewParser("JO")
	e := &env{t: t, st: st, clock: &clock{now: time.Date(2026, 11, 30, 12, 30, 0, 0, time.UTC)}, logs: &bytes.Buffer{}}
	logger := newTextLogger(&e.logMu, e.logs)
	e.admin = &guard.Admin{Store: st, Phones: phones, Audit: audit.NewLog(st, logger, e.clock),
		Pumping: guard.NewPumping(guard.PumpingConfig{Store: st, Clock: e.clock, Logger: logger})}
	cfg := console.Config{Store: st, Admin: e.admin, GuardOn: true, Phones: phones, Clock: e.clock, Logger: logger}
	if set != nil {
		set(&cfg)
	}
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := api.New(api.Config{Logger: cfg.Logger})
	console.Register(s, c)
	e.c, e.h = c, s
	e.srv = httptest.NewServer(s)
	t.Cleanup(e.srv.Close)
	e.tokID, e.token = e.mustToken("alice", "")
	e.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// mustToken makes an operator token (for one account, or "" for every one).
func (e *env) mustToken(name, accountSID string) (id, token string) {
	e.t.Helper()
	rec, token := console.NewToken(name, e.clock.Now())
	rec.AccountSID = accountSID
	if err := e.st.InsertOperatorToken(context.Background(), rec); err != nil {
		e.t.Fatal(err)
	}
	return rec.ID, token
}

// mustAccount stores an account.
func (e *env) mustAccount(sid, name string) {
	e.t.Helper()
	if err := e.st.InsertAccount(context.Background(), account.Account{SID: sid, Name: name, TokenHash: []byte("h-" + sid), CreatedAt: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

// mustBlock stores a guard block in force for an hour.
func (e *env) mustBlock(accountSID, key string) {
	e.t.Helper()
	now := e.clock.Now()
	b := guardstate.Block{AccountSID: accountSID, Key: key, Level: 1, Since: now, Until: now.Add(time.Hour), Sends: 15, Window: 10 * time.Minute, Reason: "15 codes, none approved"}
	if err := e.st.PutGuardBlock(context.Background(), b, nil); err != nil {
		e.t.Fatal(err)
	}
}

// blocks lists an account's blocks in force.
func (e *env) blocks(accountSID string) []guardstate.Block {
	e.t.Helper()
	bs, err := e.admin.Blocks(context.Background(), audit.CLI("test"), accountSID)
	if err != nil {
		e.t.Fatal(err)
	}
	return bs
}

// signIn posts a sign-in from the address remote (as a proxy or a client
// would connect) and returns the response.
func (e *env) signIn(token, remote string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest("POST", "/console/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// do sends a request with the given headers (a "Cookie" among them).
func (e *env) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		return res, html.UnescapeString(string(b)) // "+962..." is written &#43;962...
	}
	return res, string(b)
}

// login signs in with alice's token and returns the session cookie.
func (e *env) login() *http.Cookie {
	e.t.Helper()
	return e.loginWith(e.token)
}

// loginWith signs in with a token and returns the session cookie.
func (e *env) loginWith(token string) *http.Cookie {
	e.t.Helper()
	res, body := e.do("POST", "/console/login", url.Values{"token": {token}}, map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", res.StatusCode, body)
	}
	for _, c := range res.Cookies() {
		if c.Name == console.CookieName {
			return c
		}
	}
	e.t.Fatal("login set no session cookie")
	return nil
}

func cookieHdr(c *http.Cookie, more ...string) map[string]string {
	h := map[string]string{"Cookie": c.Name + "=" + c.Value}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return h
}

// csrfOf reads the CSRF token a page carries.
func (e *env) csrfOf(c *http.Cookie) string {
	e.t.Helper()
	_, body := e.do("GET", "/console/guard", nil, cookieHdr(c))
	i := strings.Index(body, `data-csrf="`)
	if i < 0 {
		e.t.Fatalf("the page carries no CSRF token: %s", body)
	}
	rest := body[i+len(`data-csrf="`):]
	return rest[:strings.Index(rest, `"`)]
}

func TestSignIn(t *testing.T) {
	e := newEnv(t, nil)

	// Not signed in: pages go to the login page, the data 401.
	res, _ := e.do("GET", "/console/messages?number=0791234567", nil, nil)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/console/login?next="+url.QueryEscape("/console/messages?number=0791234567") {
		t.Errorf("a page without a session: %d, Location %q", res.StatusCode, loc)
	}
	if res, body := e.do("GET", "/console/api/overview", nil, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("data without a session: %d %s", res.StatusCode, body)
	}
	for _, tt := range []struct{ method, path string }{{"POST", "/console/guard/lift"}, {"POST", "/console/logout"}, {"GET", "/console/tail/rows"}} {
		hdr := map[string]string{"HX-Request": "true"}
		if res, _ := e.do(tt.method, tt.path, url.Values{}, hdr); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d, want 401", tt.method, tt.path, res.StatusCode)
		}
	}
	if res, _ := e.do("GET", "/console/", nil, map[string]string{"Cookie": console.CookieName + "=forged"}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a forged cookie: %d", res.StatusCode)
	}

	// A wrong token: refused, no cookie, and not logged.
	res, body := e.do("POST", "/console/login", url.Values{"token": {"otpc_" + strings.Repeat("0", 64)}}, nil)
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 || !strings.Contains(body, "does not sign in") {
		t.Errorf("a wrong token: %d, cookies %v", res.StatusCode, res.Cookies())
	}

	// The right token: a session cookie with every flag.
	c := e.login()
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/console" || c.MaxAge != 12*3600 || c.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/console, Max-Age 12h, not Secure over plain HTTP", c)
	}
	if len(c.Value) < 64 {
		t.Errorf("session cookie %q is short", c.Value)
	}
	res, body = e.do("GET", "/console/", nil, cookieHdr(c))
	if res.StatusCode != 200 || !strings.Contains(body, "Overview") {
		t.Fatalf("overview with the cookie: %d %s", res.StatusCode, body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if res.Header.Get(h) == "" {
			t.Errorf("the page has no %s", h)
		}
	}
	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	if !strings.Contains(logs, "signed in") || strings.Contains(logs, e.token) || strings.Contains(logs, c.Value) {
		t.Errorf("the log does not say who signed in, or holds the token or the session cookie:\n%s", logs)
	}

	// The session expires with its cookie.
	e.clock.Advance(12*time.Hour + time.Second)
	if res, _ := e.do("GET", "/console/", nil, cookieHdr(c)); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a session 12 h old: %d, want a redirect to the login", res.StatusCode)
	}

	// Signing out ends the session on the server, not only in the browser.
	c = e.login()
	csrf := e.csrfOf(c)
	res, _ = e.do("POST", "/console/logout", url.Values{"csrf": {csrf}}, cookieHdr(c, "Origin", e.srv.URL))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	var cleared bool
	for _, k := range res.Cookies() {
		cleared = cleared || (k.Name == console.CookieName && k.MaxAge < 0)
	}
	if !cleared {
		t.Error("logout did not clear the cookie")
	}
	if res, _ := e.do("GET", "/console/", nil, cookieHdr(c)); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the old cookie after logout: %d, want a redirect to the login", res.StatusCode)
	}

	// Revoking the token signs its sessions out.
	c = e.login()
	if err := e.st.RevokeOperatorToken(context.Background(), e.tokID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.do("GET", "/console/", nil, cookieHdr(c)); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a session of a revoked token: %d", res.StatusCode)
	}
	if res, _ := e.do("POST", "/console/login", url.Values{"token": {e.token}}, nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("signing in with a revoked token: %d", res.StatusCode)
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	e := newEnv(t, func(c *console.Config) { c.Secure = true })
	if c := e.login(); !c.Secure {
		t.Errorf("with Secure set (otpgate serves TLS), the cookie %+v is not Secure", c)
	}
}

// A request that changes something is refused from another site, and
// without the page's CSRF token, even with the session cookie.
func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	e.mustAccount("AC1", "shop")
	e.mustBlock("AC1", "prefix:+96279031")
	c := e.login()
	csrf := e.csrfOf(c)
	lift := url.Values{"account": {"AC1"}, "key": {"prefix:+96279031"}, "csrf": {csrf}}
	noToken := url.Values{"account": {"AC1"}, "key": {"prefix:+96279031"}}
	for _, tt := range []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"another origin", lift, cookieHdr(c, "Origin", "https://evil.example")},
		{"a cross-site fetch", lift, cookieHdr(c, "Sec-Fetch-Site", "cross-site")},
		{"a same-site (other subdomain) fetch", lift, cookieHdr(c, "Sec-Fetch-Site", "same-site")},
		{"no CSRF token", noToken, cookieHdr(c, "Origin", e.srv.URL)},
		{"a wrong CSRF token", url.Values{"account": {"AC1"}, "key": {"prefix:+96279031"}, "csrf": {strings.Repeat("0", 32)}}, cookieHdr(c)},
	} {
		res, body := e.do("POST", "/console/guard/lift", tt.form, tt.hdr)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "Refused") {
			t.Errorf("%s: %d, want 403", tt.name, res.StatusCode)
		}
	}
	if len(e.blocks("AC1")) != 1 {
		t.Fatal("a refused request lifted the block")
	}
	// A login from another site is refused too.
	if res, _ := e.do("POST", "/console/login", url.Values{"token": {e.token}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site login: %d", res.StatusCode)
	}

	// From the page: lifted.
	res, _ := e.do("POST", "/console/guard/lift", lift, cookieHdr(c, "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin"))
	if bs := e.blocks("AC1"); res.StatusCode != http.StatusSeeOther || len(bs) != 0 {
		t.Fatalf("lift from the page: %d, blocks left %d", res.StatusCode, len(bs))
	}
	_, body := e.do("GET", res.Header.Get("Location"), nil, cookieHdr(c))
	if !strings.Contains(body, "Lifted the block of prefix:+96279031") || !strings.Contains(body, "No blocks in force") {
		t.Errorf("the guard page after the lift: %s", body)
	}
}

// mustSend stores an outbound message of acc from MyApp to to, made at
// created.
func mustSend(t *testing.T, st *sqlite.Store, acc, sid, to, body string, created time.Time, v *verification.Change) {
	t.Helper()
	mustSendFrom(t, st, acc, sid, "MyApp", to, body, created, v)
}

// mustSendFrom stores an outbound message of acc from a sender to to, made
// at created.
func mustSendFrom(t *testing.T, st *sqlite.Store, acc, sid, from, to, body string, created time.Time, v *verification.Change) {
	t.Helper()
	m := message.Message{SID: sid, AccountSID: acc, Direction: message.OutboundAPI, From: from, To: to, Body: body,
		Status: message.Queued, Encoding: "UCS-2", Segments: 1, CreatedAt: created, UpdatedAt: created}
	if v != nil {
		m.VerificationSID = v.V.SID
	}
	o := message.Outbound{SID: sid, AccountSID: acc, From: from, To: to, Payload: []byte("x"), CreatedAt: created}
	if err := st.InsertSend(context.Background(), m, o, v); err != nil {
		t.Fatal(err)
	}
}

// The overview's data: per operator, sends, delivery rate and receipt
// delay; conversion per service and prefix.
func TestOverviewData(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	now := e.clock.Now()
	if err := e.st.InsertAccount(ctx, account.Account{SID: "AC1", Name: "shop", TokenHash: []byte("h"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	svc, err := e.st.CreateService(ctx, verification.Service{SID: "VA1", AccountSID: "AC1", Name: "login", CodeLength: 6, TTL: 10 * time.Minute, CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	// Two codes to Zain numbers 10 min ago, one approved, each delivered
	// 2 s and 4 s after it was sent; one SMS to Orange that failed.
	at := now.Add(-10 * time.Minute)
	for i, to := range []string{"+962790310001", "+962790310002"} {
		sid := "VE" + string(rune('1'+i))
		v := verification.Verification{SID: sid, AccountSID: "AC1", ServiceSID: svc.SID, To: to, From: "MyApp", Channel: "sms", Status: verification.Pending,
			Codes: []verification.Code{{Hash: make([]byte, 32), ExpiresAt: at.Add(10 * time.Minute)}}, SendAttempts: 1, CreatedAt: at, UpdatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
		msid := "SM" + string(rune('1'+i))
		mustSend(t, e.st, "AC1", msid, to, "Your code is ******", at, &verification.Change{V: v, New: true})
		if err := e.st.RecordOutcome(ctx, message.Outcome{SID: msid, Status: message.Sent, Connector: "zain", PartKeys: [][]string{{msid}}, At: at.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.ApplyReceipt(ctx, message.Receipt{Connector: "zain", Keys: []string{msid}, Status: message.Delivered, At: at.Add(time.Duration(3+2*i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.Resolve(ctx, []verification.Resolution{{SID: "VE1", From: []verification.Status{verification.Pending}, To: verification.Approved, At: at.Add(time.Minute)}}, nil); err != nil {
		t.Fatal(err)
	}
	mustSend(t, e.st, "AC1", "SM3", "+962770000003", "مرحبا", at, nil)
	if err := e.st.RecordOutcome(ctx, message.Outcome{SID: "SM3", Status: message.Failed, Connector: "orange", ErrorCode: 30008, At: at}); err != nil {
		t.Fatal(err)
	}

	c := e.login()
	res, body := e.do("GET", "/console/api/overview?window=hour", nil, cookieHdr(c))
	if res.StatusCode != 200 {
		t.Fatalf("overview: %d %s", res.StatusCode, body)
	}
	var o console.Overview
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if len(o.Times) != 60 || o.Step != 60 {
		t.Fatalf("hour window: %d buckets of %d s", len(o.Times), o.Step)
	}
	bucket := -1
	for i, ts := range o.Times {
		if ts == at.Truncate(time.Minute).Unix() {
			bucket = i
		}
	}
	if bucket < 0 {
		t.Fatalf("no bucket for %v in %v", at, o.Times)
	}
	ops := map[string]console.OperatorSeries{}
	for _, s := range o.Operators {
		ops[s.Name] = s
	}
	zain, orange := ops["Zain"], ops["Orange"]
	if len(ops) != 2 || zain.Sends[bucket] != 2 || zain.Delivered[bucket] != 2 || orange.Failed[bucket] != 1 {
		t.Fatalf("operators: %+v", o.Operators)
	}
	if r := zain.Rate[bucket]; r == nil || *r != 1 {
		t.Errorf("Zain's delivery rate: %v, want 1", r)
	}
	if r := orange.Rate[bucket]; r == nil || *r != 0 {
		t.Errorf("Orange's delivery rate: %v, want 0", r)
	}
	if d := zain.Delay[bucket]; d == nil || *d != 3 {
		t.Errorf("Zain's receipt delay: %v, want 3 s (2 s and 4 s)", d)
	}
	if zain.Totals.DelayMax != 4 || zain.Rate[bucket+1] != nil {
		t.Errorf("Zain's max delay %v, rate in the next bucket %v", zain.Totals.DelayMax, zain.Rate[bucket+1])
	}
	if len(o.Services) != 1 || o.Services[0].Service != "login" || o.Services[0].Sent != 2 || o.Services[0].Approved != 1 || *o.Services[0].Rate != 0.5 {
		t.Errorf("conversion by service: %+v", o.Services)
	}
	if len(o.Prefixes) != 1 || o.Prefixes[0].Prefix != "+96279031" || o.Prefixes[0].Operator != "Zain" || o.Prefixes[0].Approved != 1 {
		t.Errorf("conversion by prefix: %+v", o.Prefixes)
	}
	// A day: 96 buckets of 15 min, the same totals.
	_, body = e.do("GET", "/console/api/overview?window=day", nil, cookieHdr(c))
	json.Unmarshal([]byte(body), &o)
	if len(o.Times) != 96 || o.Totals.Sends != 3 || o.Totals.Delivered != 2 || o.Totals.Failed != 1 {
		t.Errorf("day window: %d buckets, totals %+v", len(o.Times), o.Totals)
	}

	// The page shows the same, in tables, with the charts' data.
	_, page := e.do("GET", "/console/", nil, cookieHdr(c))
	for _, want := range []string{`id="overview-data"`, "<td>Zain</td>", "<td>login</td>", "+96279031", "50.0%"} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview page lacks %q", want)
		}
	}

	// The message log: by number in local form, masked in the list, the
	// Arabic body with dir=auto; the full number on the message's page.
	res, page = e.do("GET", "/console/messages?number="+url.QueryEscape("077 000 0003"), nil, cookieHdr(c))
	if res.StatusCode != 200 || !strings.Contains(page, `<td dir="auto" class="body">مرحبا</td>`) || !strings.Contains(page, phone.Mask("+962770000003")) ||
		strings.Contains(page, "+962770000003") || strings.Contains(page, "+962790310001") {
		t.Errorf("search by number: %d\n%s", res.StatusCode, page)
	}
	_, page = e.do("GET", "/console/messages/AC1/SM3", nil, cookieHdr(c))
	if !strings.Contains(page, "+962770000003") || !strings.Contains(page, "30008") {
		t.Errorf("the message's page: %s", page)
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"number=%2B96279", []string{"SM2", "SM1"}},
		{"status=failed", []string{"SM3"}},
		{"status=delivered&number=0790310002", []string{"SM2"}},
		{"until=" + url.QueryEscape(at.Add(-time.Minute).Format("2006-01-02T15:04")), nil},
		{"from=" + url.QueryEscape(at.Add(-time.Minute).Format("2006-01-02T15:04")), []string{"SM3", "SM2", "SM1"}},
	} {
		res, body := e.do("GET", "/console/api/messages?"+tt.query, nil, cookieHdr(c))
		var got struct {
			Messages []struct{ SID, To string }
		}
		json.Unmarshal([]byte(body), &got)
		var sids []string
		for _, m := range got.Messages {
			sids = append(sids, m.SID)
			if !strings.Contains(m.To, "*") {
				t.Errorf("%s: number %q not masked", tt.query, m.To)
			}
		}
		if res.StatusCode != 200 || strings.Join(sids, ",") != strings.Join(tt.want, ",") {
			t.Errorf("messages?%s: %d %v, want %v", tt.query, res.StatusCode, sids, tt.want)
		}
	}
	if res, body := e.do("GET", "/console/api/messages?number=abc", nil, cookieHdr(c)); res.StatusCode != 400 || !strings.Contains(body, "Number:") {
		t.Errorf("a search by a number that is not one: %d %s", res.StatusCode, body)
	}
	// The live tail's rows.
	if _, rows := e.do("GET", "/console/tail/rows", nil, cookieHdr(c, "HX-Request", "true")); strings.Count(rows, "<tr>") != 3 {
		t.Errorf("tail rows: %s", rows)
	}
}

// Sender IDs: approval per operator from the routes, and what was sent.
func TestSenders(t *testing.T) {
	routes := []routing.Route{
		{Prefix: "+96279", Operator: "Zain", Connectors: []string{"zain"}, Senders: []string{"MyApp", "Bank"}},
		{Prefix: "+96277", Operator: "Orange", Connectors: []string{"orange"}, Senders: []string{"MyApp"}},
		{Prefix: "+96278", Operator: "Umniah", Connectors: []string{"umniah"}},
	}
	e := newEnv(t, func(c *console.Config) { c.Routes = routes })
	if err := e.st.InsertAccount(context.Background(), account.Account{SID: "AC1", Name: "shop", TokenHash: []byte("h"), CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	mustSend(t, e.st, "AC1", "SM1", "+962790000001", "hi", e.clock.Now().Add(-time.Hour), nil)
	mustSend(t, e.st, "AC1", "SM2", "+962790000002", "hi", e.clock.Now().Add(-time.Hour), nil)
	c := e.login()
	_, page := e.do("GET", "/console/senders", nil, cookieHdr(c))
	row := func(sender string) string {
		i := strings.Index(page, "<tr><td>"+sender+"</td>")
		if i < 0 {
			t.Fatalf("no row for %s:\n%s", sender, page)
		}
		return page[i : i+strings.Index(page[i:], "</tr>")]
	}
	// Columns in prefix order: Orange +96277, Umniah +96278, Zain +96279.
	for sender, want := range map[string][]string{
		"MyApp": {"approved", "any sender", "approved</span> <span class=\"muted\">2 sent"},
		"Bank":  {"not approved", "any sender", "approved"},
	} {
		cells := strings.Split(row(sender), "<td>")[2:]
		for i, w := range want {
			if !strings.Contains(cells[i], ">"+w) {
				t.Errorf("%s, column %d: %s, want %q", sender, i, cells[i], w)
			}
		}
	}
}

// The checked-in assets are the packages' files (internal/console/web):
// update.sh copied them, and nobody edited them since.
func TestAssetsMatchPackages(t *testing.T) {
	nm := filepath.Join("web", "node_modules")
	if _, err := os.Stat(nm); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (npm ci --prefix internal/console/web; .ci/run does it)", nm)
		}
		t.Skipf("%s not installed (npm ci --prefix internal/console/web)", nm)
	}
	for asset, pkg := range map[string]string{
		"htmx.min.js":       "htmx.org/dist/htmx.min.js",
		"uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
		"uPlot.min.css":     "uplot/dist/uPlot.min.css",
	} {
		a, err := os.ReadFile(filepath.Join("assets", asset))
		if err != nil {
			t.Fatal(err)
		}
		p, err := os.ReadFile(filepath.Join(nm, pkg))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, p) {
			t.Errorf("assets/%s differs from node_modules/%s: run internal/console/web/update.sh", asset, pkg)
		}
	}
}
