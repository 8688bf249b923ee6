package main

import (
	"context"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// oathtool is Debian's oathtool computing the TOTP code of a base32
// secret at a time: an authenticator otpgate did not write. args set the
// hash, digits and step (--totp=sha256 --digits=8 --time-step-size=60s).
func oathtool(t *testing.T, secret string, at time.Time, args ...string) string {
	t.Helper()
	if len(args) == 0 {
		args = []string{"--totp"}
	}
	args = append(args, "-b", "-N", at.UTC().Format("2006-01-02 15:04:05")+" UTC", secret)
	out, err := exec.Command("oathtool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// totpServer is otpgate with a clock the test moves, a Verify service
// "Bank", and the metrics on the main listener.
type totpServer struct {
	*testServer
	clock *fakeClock
	svc   string
	logs  *syncbuf.Buffer
}

const totpMetricsToken = "totp-metrics-token-0123456789abcdef"

func mustTOTPServer(t *testing.T, set func(*ServeConfig)) *totpServer {
	t.Helper()
	needTool(t, "oathtool", "oathtool")
	clock := &fakeClock{now: time.Date(2026, 11, 25, 12, 0, 7, 0, time.UTC)}
	logs := &syncbuf.Buffer{}
	s := mustServeLogging(t, clock, logs, func(c *ServeConfig) {
		c.LogLevel, c.MetricsToken = "debug", totpMetricsToken
		set(c)
	})
	r := s.postForm(t, "/v2/Services", url.Values{"FriendlyName": {"Bank"}})
	if r.Status != 201 {
		t.Fatalf("create service: %d %s", r.Status, r.Raw)
	}
	return &totpServer{testServer: s, clock: clock, svc: r.str("sid"), logs: logs}
}

func (s *totpServer) entity(identity string) string {
	return "/v2/Services/" + s.svc + "/Entities/" + identity
}

// newFactor makes a TOTP factor of identity and returns its SID and secret.
func (s *totpServer) newFactor(t *testing.T, identity string, extra url.Values) (sid, secret string) {
	t.Helper()
	v := url.Values{"FactorType": {"totp"}, "FriendlyName": {"Ann's phone"}}
	for k, vs := range extra {
		v[k] = vs
	}
	r := s.postForm(t, s.entity(identity)+"/Factors", v)
	binding, _ := r.Body["binding"].(map[string]any)
	secret, _ = binding["secret"].(string)
	uri, _ := binding["uri"].(string)
	if r.Status != 201 || !strings.HasPrefix(r.str("sid"), "YF") || r.str("status") != "unverified" || secret == "" ||
		!strings.HasPrefix(uri, "otpauth://totp/Bank:Ann%27s%20phone?") || !strings.Contains(uri, "secret="+secret) || !strings.Contains(uri, "issuer=Bank") {
		t.Fatalf("create factor: %d %s", r.Status, r.Raw)
	}
	return r.str("sid"), secret
}

func (s *totpServer) verifyFactor(t *testing.T, identity, sid, code string) response {
	t.Helper()
	return s.postForm(t, s.entity(identity)+"/Factors/"+sid, url.Values{"AuthPayload": {code}})
}

func (s *totpServer) challenge(t *testing.T, identity, sid, code string) response {
	t.Helper()
	return s.postForm(t, s.entity(identity)+"/Challenges", url.Values{"FactorSid": {sid}, "AuthPayload": {code}})
}

// deleteAs sends a DELETE with c's credentials and returns its status.
func (s *totpServer) deleteAs(t *testing.T, u string, c creds) int {
	t.Helper()
	req, _ := http.NewRequest("DELETE", u, nil)
	req.SetBasicAuth(c.SID, c.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func (s *totpServer) delete(t *testing.T, u string) int {
	t.Helper()
	return s.deleteAs(t, u, creds{s.SID, s.Token})
}

func wantReply(t *testing.T, what string, r response, status int, key, value string) {
	t.Helper()
	if r.Status != status || (key != "" && r.str(key) != value) {
		t.Fatalf("%s: %d %s, want %d with %s %q", what, r.Status, r.Raw, status, key, value)
	}
}

func wantCode(t *testing.T, what string, r response, status, code int) {
	t.Helper()
	if r.Status != status || r.num("code") != code {
		t.Fatalf("%s: %d %s, want %d with code %d", what, r.Status, r.Raw, status, code)
	}
}

// A TOTP factor through Verify v2 with codes from oathtool: made, verified,
// challenged (a right code approved once, a replay and a wrong code
// pending), locked after 5 wrong codes and open again 5 minutes later; the
// secret shown once and never logged; the metrics counting challenges.
func TestTOTPWithOathtool(t *testing.T) {
	s := mustTOTPServer(t, func(*ServeConfig) {})
	const id = "user-0001"
	sid, secret := s.newFactor(t, id, nil)
	got := call(t, "GET", s.URL+s.entity(id)+"/Factors/"+sid, s.SID, s.Token, "", "")
	if got.Status != 200 || got.Body["binding"] != nil || strings.Contains(got.Raw, secret) {
		t.Fatalf("a fetched factor shows its secret: %s", got.Raw)
	}
	code := oathtool(t, secret, s.clock.Now())
	wantCode(t, "a challenge of an unverified factor", s.challenge(t, id, sid, code), 403, 60318)
	wrong := wrongCode(code)
	wantReply(t, "a wrong code verifying", s.verifyFactor(t, id, sid, wrong), 200, "status", "unverified")
	wantReply(t, "oathtool's code verifying", s.verifyFactor(t, id, sid, code), 200, "status", "verified")
	wantReply(t, "the same code again (a replay)", s.challenge(t, id, sid, code), 201, "status", "pending")
	s.clock.Advance(30 * time.Second)
	code = oathtool(t, secret, s.clock.Now())
	ok := s.challenge(t, id, sid, code)
	wantReply(t, "the next step's code", ok, 201, "status", "approved")
	wantReply(t, "it again", s.challenge(t, id, sid, code), 201, "status", "pending")
	fetched := call(t, "GET", s.URL+s.entity(id)+"/Challenges/"+ok.str("sid"), s.SID, s.Token, "", "")
	wantReply(t, "the approved challenge fetched", fetched, 200, "status", "approved")
	// One skew step: the previous step's code still works, once.
	s.clock.Advance(30 * time.Second)
	wantReply(t, "a code of the step before", s.challenge(t, id, sid, code), 201, "status", "pending") // already used
	s.clock.Advance(30 * time.Second)
	prev := oathtool(t, secret, s.clock.Now().Add(-30*time.Second))
	wantReply(t, "an unused code of the step before (skew 1)", s.challenge(t, id, sid, prev), 201, "status", "approved")
	for range 5 {
		wantReply(t, "wrong code", s.challenge(t, id, sid, wrongCode(oathtool(t, secret, s.clock.Now()))), 201, "status", "pending")
	}
	s.clock.Advance(30 * time.Second)
	locked := s.challenge(t, id, sid, oathtool(t, secret, s.clock.Now()))
	wantCode(t, "a right code after 5 wrong ones", locked, 429, 60308)
	if ra := locked.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("the lockout says no Retry-After: %q", ra)
	}
	wantCode(t, "verifying when locked", s.verifyFactor(t, id, sid, oathtool(t, secret, s.clock.Now())), 429, 60310)
	s.clock.Advance(5 * time.Minute)
	wantReply(t, "a right code after the lockout", s.challenge(t, id, sid, oathtool(t, secret, s.clock.Now())), 201, "status", "approved")
	if strings.Contains(s.logs.String(), secret) {
		t.Error("the log shows a factor's secret")
	}
	mfs := scrape(t, s.URL+"/metrics", totpMetricsToken)
	for result, want := range map[string]float64{"approved": 3, "replayed": 3, "wrong": 5, "locked": 1} {
		if n := metricstest.Sum(mfs, "otpgate_totp_checks_total", "kind", "challenge", "result", result); n != want {
			t.Errorf("otpgate_totp_checks_total{kind=challenge,result=%s} = %v, want %v", result, n, want)
		}
	}
}

// A factor of Twilio's other settings (SHA-256, 8 digits, a 60-second
// step, no skew) with oathtool's codes of the same settings, and a factor
// of the caller's own secret.
func TestTOTPSettingsWithOathtool(t *testing.T) {
	s := mustTOTPServer(t, func(*ServeConfig) {})
	const id = "user-0002"
	sid, secret := s.newFactor(t, id, url.Values{"Config.Alg": {"sha256"}, "Config.CodeLength": {"8"}, "Config.TimeStep": {"60"}, "Config.Skew": {"0"}})
	args := []string{"--totp=sha256", "--digits=8", "--time-step-size=60s"}
	wantReply(t, "a default (SHA-1, 6 digits) code", s.verifyFactor(t, id, sid, oathtool(t, secret, s.clock.Now())), 400, "", "")
	wantReply(t, "the previous step's code (no skew)", s.verifyFactor(t, id, sid, oathtool(t, secret, s.clock.Now().Add(-time.Minute), args...)), 200, "status", "unverified")
	v := s.verifyFactor(t, id, sid, oathtool(t, secret, s.clock.Now(), args...))
	wantReply(t, "oathtool's SHA-256 code", v, 200, "status", "verified")
	cfg, _ := v.Body["config"].(map[string]any)
	if cfg["alg"] != "sha256" || cfg["code_length"] != 8.0 || cfg["time_step"] != 60.0 || cfg["skew"] != 0.0 {
		t.Errorf("the factor's config: %v", cfg)
	}
	const own = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	sid2, secret2 := s.newFactor(t, id, url.Values{"Binding.Secret": {strings.ToLower(own)}})
	if secret2 != own {
		t.Fatalf("a factor of the caller's secret shows %q", secret2)
	}
	wantReply(t, "a code of the caller's secret", s.verifyFactor(t, id, sid2, oathtool(t, own, s.clock.Now())), 200, "status", "verified")
	list := call(t, "GET", s.URL+s.entity(id)+"/Factors", s.SID, s.Token, "", "")
	if fs, _ := list.Body["factors"].([]any); list.Status != 200 || len(fs) != 2 || strings.Contains(list.Raw, own) {
		t.Fatalf("list factors: %s", list.Raw)
	}
}

// Bad input is refused naming the parameter and what is accepted, and
// nothing is made.
func TestTOTPBadInput(t *testing.T) {
	s := mustTOTPServer(t, func(*ServeConfig) {})
	for _, tt := range []struct {
		identity string
		v        url.Values
		want     string
	}{
		{"short", url.Values{"FactorType": {"totp"}, "FriendlyName": {"x"}}, "'Identity'"},
		{"user+962790340001", url.Values{"FactorType": {"totp"}, "FriendlyName": {"x"}}, "8-64 characters"},
		{"user-0003", url.Values{"FactorType": {"push"}, "FriendlyName": {"x"}}, "'FactorType'"},
		{"user-0003", url.Values{"FactorType": {"totp"}}, "'FriendlyName'"},
		{"user-0003", url.Values{"FactorType": {"totp"}, "FriendlyName": {"x"}, "Config.Skew": {"3"}}, "'Config.Skew'"},
		{"user-0003", url.Values{"FactorType": {"totp"}, "FriendlyName": {"x"}, "Config.TimeStep": {"90"}}, "20-60"},
		{"user-0003", url.Values{"FactorType": {"totp"}, "FriendlyName": {"x"}, "Config.CodeLength": {"9"}}, "'Config.CodeLength'"},
		{"user-0003", url.Values{"FactorType": {"totp"}, "FriendlyName": {"x"}, "Config.Alg": {"md5"}}, "sha1, sha256 or sha512"},
		{"user-0003", url.Values{"FactorType": {"totp"}, "FriendlyName": {"x"}, "Binding.Secret": {"not-base32!"}}, "'Binding.Secret'"},
	} {
		r := s.postForm(t, s.entity(tt.identity)+"/Factors", tt.v)
		if r.Status != 400 || r.num("code") != 60200 || !strings.Contains(r.str("message"), tt.want) {
			t.Errorf("%s %v: %d %s, want 400/60200 saying %s", tt.identity, tt.v, r.Status, r.Raw, tt.want)
		}
	}
	list := call(t, "GET", s.URL+"/v2/Services/"+s.svc+"/Entities", s.SID, s.Token, "", "")
	if es, _ := list.Body["entities"].([]any); list.Status != 200 || len(es) != 0 {
		t.Fatalf("refused requests made entities: %s", list.Raw)
	}
}

// Another account's credentials find none of an account's entities,
// factors or challenges, and change nothing; deleting an entity deletes its
// factors and challenges.
func TestTOTPAccountsAndDelete(t *testing.T) {
	s := mustTOTPServer(t, func(*ServeConfig) {})
	const id = "user-0004"
	sid, secret := s.newFactor(t, id, nil)
	wantReply(t, "verify", s.verifyFactor(t, id, sid, oathtool(t, secret, s.clock.Now())), 200, "status", "verified")
	other := mustCreateAccount(t, s.testServer)
	s.clock.Advance(30 * time.Second)
	code := oathtool(t, secret, s.clock.Now())
	base := s.URL + s.entity(id)
	form := "application/x-www-form-urlencoded"
	for _, req := range [][3]string{
		{"GET", base, ""}, {"GET", base + "/Factors", ""}, {"GET", base + "/Factors/" + sid, ""},
		{"POST", base + "/Factors/" + sid, "AuthPayload=" + code}, {"POST", base + "/Challenges", "FactorSid=" + sid + "&AuthPayload=" + code},
		{"GET", s.URL + "/v2/Services/" + s.svc + "/Entities", ""},
		{"POST", base + "/Factors", "FactorType=totp&FriendlyName=x"},
	} {
		if r := call(t, req[0], req[1], other.SID, other.Token, form, req[2]); r.Status != 404 || r.num("code") != 20404 {
			t.Errorf("another account's %s %s: %d %s, want 404", req[0], req[1], r.Status, r.Raw)
		}
	}
	for _, u := range []string{base + "/Factors/" + sid, base} {
		if status := s.deleteAs(t, u, other); status != 404 {
			t.Errorf("another account's DELETE %s: %d, want 404", u, status)
		}
	}
	ok := s.challenge(t, id, sid, code)
	wantReply(t, "the owner's code, unused by the other account's attempts", ok, 201, "status", "approved")
	if status := s.delete(t, base); status != 204 {
		t.Fatalf("delete entity: %d", status)
	}
	for _, u := range []string{base, base + "/Factors/" + sid, base + "/Challenges/" + ok.str("sid")} {
		if r := call(t, "GET", u, s.SID, s.Token, "", ""); r.Status != 404 {
			t.Errorf("GET %s after the entity's delete: %d %s", u, r.Status, r.Raw)
		}
	}
	// The audit log: the factor made and verified, the entity deleted;
	// never the secret.
	rows, err := s.store.AuditLog(context.Background(), audit.Filter{AccountSID: s.SID, Kind: audit.KindFactor, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, row := range rows {
		actions = append(actions, row.Action)
		if strings.Contains(row.Before+row.After, secret) {
			t.Errorf("the audit log shows the secret: %+v", row)
		}
	}
	if strings.Join(actions, " ") != "delete_entity verify create" {
		t.Errorf("audit log of factors, newest first: %v", actions)
	}
}

// Parallel challenges with one code, on SQLite and on PostgreSQL: exactly
// one is approved.
func TestTOTPOneCodeOnce(t *testing.T) {
	for _, name := range []string{"sqlite", "postgresql"} {
		t.Run(name, func(t *testing.T) {
			db := ""
			if name == "postgresql" {
				db = pgSchemaURL(t)
			}
			s := mustTOTPServer(t, func(c *ServeConfig) { c.DB = db })
			const id = "user-0005"
			sid, secret := s.newFactor(t, id, nil)
			wantReply(t, "verify", s.verifyFactor(t, id, sid, oathtool(t, secret, s.clock.Now())), 200, "status", "verified")
			s.clock.Advance(30 * time.Second)
			code := oathtool(t, secret, s.clock.Now())
			var mu sync.Mutex
			statuses := map[string]int{}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					r := s.challenge(t, id, sid, code)
					mu.Lock()
					statuses[r.str("status")]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if statuses["approved"] != 1 || statuses["pending"] != 3 {
				t.Fatalf("4 challenges with one code at once: %v, want one approved", statuses)
			}
		})
	}
}
