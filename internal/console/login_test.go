package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/operator"
)

// A new token names its ID: otpc_, the ID, _ and a 64-hex secret; the
// store keeps the hash of the whole string.
func TestNewToken(t *testing.T) {
	re := regexp.MustCompile(`^otpc_(CT[0-9a-f]{32})_[0-9a-f]{64}$`)
	rec, token := console.NewToken("alice", time.Now())
	m := re.FindStringSubmatch(token)
	if m == nil || m[1] != rec.ID || !bytes.Equal(rec.Hash, console.HashToken(token)) || rec.Name != "alice" {
		t.Fatalf("NewToken: %q, record %+v", token, rec)
	}
	if rec2, token2 := console.NewToken("alice", time.Now()); rec2.ID == rec.ID || token2 == token {
		t.Error("two tokens are the same")
	}
}

// wrongFor is a token of the new form that names id, with a wrong secret.
func wrongFor(id string, i int) string {
	return fmt.Sprintf("otpc_%s_%064x", id, i)
}

func wantStatus(t *testing.T, what string, rec *httptest.ResponseRecorder, want int) *http.Response {
	t.Helper()
	res := rec.Result()
	if res.StatusCode != want {
		t.Fatalf("%s: %d, want %d", what, res.StatusCode, want)
	}
	return res
}

// Guessing from one address: after 5 failures it gets 429 (Retry-After)
// for a wrong token, one more try each 12 s; but a valid token from the
// same address (another operator behind the same proxy) still signs in.
func TestLoginLockoutPerAddress(t *testing.T) {
	e := newEnv(t, nil)
	const proxy = "203.0.113.7"
	// Another client's 10 failures from the proxy's address.
	for i := range 10 {
		rec := e.signIn(fmt.Sprintf("wrong-%d", i), fmt.Sprintf("%s:%d", proxy, 40000+i))
		want := http.StatusUnauthorized
		if i >= 5 {
			want = http.StatusTooManyRequests
		}
		res := wantStatus(t, fmt.Sprintf("failure %d", i+1), rec, want)
		if want == http.StatusTooManyRequests && (res.Header.Get("Retry-After") != "12" || !strings.Contains(rec.Body.String(), "Too many failed sign-ins")) {
			t.Errorf("failure %d: Retry-After %q, %s", i+1, res.Header.Get("Retry-After"), rec.Body)
		}
	}
	// A valid token from that address signs in.
	rec := e.signIn(e.token, proxy+":41000")
	res := wantStatus(t, "alice's valid token from the locked-out address", rec, http.StatusSeeOther)
	if len(res.Cookies()) != 1 || res.Cookies()[0].Name != console.CookieName {
		t.Errorf("no session cookie: %v", res.Cookies())
	}
	// A revoked token is a failure like any wrong one.
	revID, revoked := e.mustToken("gone", "")
	if err := e.st.RevokeOperatorToken(context.Background(), revID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "a revoked token from the locked-out address", e.signIn(revoked, proxy+":41001"), http.StatusTooManyRequests)
	// Other addresses are not concerned; 12 s later the address has one
	// more try.
	wantStatus(t, "a wrong token from another address", e.signIn("wrong", "198.51.100.1:1"), http.StatusUnauthorized)
	e.clock.Advance(12 * time.Second)
	wantStatus(t, "a wrong token 12 s later", e.signIn("wrong", proxy+":41002"), http.StatusUnauthorized)
	wantStatus(t, "the next wrong token", e.signIn("wrong", proxy+":41003"), http.StatusTooManyRequests)
}

// Guessing one token's secret from many addresses: after 5 failures naming
// its ID, every attempt naming it gets 429, the valid token too (whoever
// failed knows the ID; letting the right secret through would tell a right
// guess from a wrong one), until 12 s pass. Other tokens sign in.
func TestLoginLockoutPerTokenID(t *testing.T) {
	e := newEnv(t, nil)
	_, bob := e.mustToken("bob", "")
	for i := range 6 {
		rec := e.signIn(wrongFor(e.tokID, i), fmt.Sprintf("198.51.100.%d:5000", i+1))
		want := http.StatusUnauthorized
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		wantStatus(t, fmt.Sprintf("failure %d naming alice's ID", i+1), rec, want)
	}
	fresh := "192.0.2.50:6000"
	rec := e.signIn(e.token, fresh)
	res := wantStatus(t, "alice's valid token, her ID locked out", rec, http.StatusTooManyRequests)
	wrong := e.signIn(wrongFor(e.tokID, 99), "192.0.2.51:6000")
	if res.Header.Get("Retry-After") == "" || len(res.Cookies()) != 0 || rec.Body.String() != wrong.Body.String() {
		t.Errorf("the valid token's 429 (Retry-After %q, cookies %v) is not the same as a wrong one's:\n%s\n---\n%s",
			res.Header.Get("Retry-After"), res.Cookies(), rec.Body, wrong.Body)
	}
	wantStatus(t, "bob's valid token from the same address", e.signIn(bob, fresh), http.StatusSeeOther)
	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	if !strings.Contains(logs, "too many failures naming its token") || !strings.Contains(logs, "token_id="+e.tokID) || strings.Contains(logs, e.token) {
		t.Errorf("the log does not say whose ID is locked out, or holds the token:\n%s", logs)
	}
	e.clock.Advance(12 * time.Second)
	wantStatus(t, "alice's valid token 12 s later", e.signIn(e.token, fresh), http.StatusSeeOther)
}

// Tokens of the older form (otpc_ and 64 hex, no ID) still sign in; their
// failures count against the address only; a valid one is refused while
// its ID is locked out like any other.
func TestLoginOldFormToken(t *testing.T) {
	e := newEnv(t, nil)
	old := "otpc_" + strings.Repeat("ab", 32)
	rec := operator.Token{ID: "CT" + strings.Repeat("0", 31) + "1", Name: "carol", Hash: console.HashToken(old), CreatedAt: e.clock.Now()}
	if err := e.st.InsertOperatorToken(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		wantStatus(t, "a wrong old-form token", e.signIn(fmt.Sprintf("otpc_%064x", i), fmt.Sprintf("198.51.100.%d:1", i+1)), http.StatusUnauthorized)
	}
	wantStatus(t, "carol's old-form token", e.signIn(old, "192.0.2.1:1"), http.StatusSeeOther)
	for i := range 5 {
		wantStatus(t, "a failure naming carol's ID", e.signIn(wrongFor(rec.ID, i), fmt.Sprintf("198.51.100.%d:2", i+1)), http.StatusUnauthorized)
	}
	wantStatus(t, "carol's old-form token, her ID locked out", e.signIn(old, "192.0.2.1:2"), http.StatusTooManyRequests)
}
