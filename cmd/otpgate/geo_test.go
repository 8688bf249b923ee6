package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Geo permissions, as an attacker and a user meet them: by default an
// account sends to the server's region only; a send elsewhere is refused
// before anything is stored, naming the country and the command that allows
// it (2FA: 403/60605; messages API: 400/21408); the operator's `accounts set
// --countries` widens the ceiling within the cache's 5 s; a service's own
// list, within the ceiling, replaces the account's for its codes.
func TestGeoPermissions(t *testing.T) {
	clock := &fakeClock{now: time.Now().UTC()}
	s := mustServe(t, clock)
	uk, us, jo := "+447400123456", "+12015550123", "+962790320012"

	r := s.send(t, "login", uk)
	if r.Status != 403 || r.num("code") != 60605 {
		t.Fatalf("a code to the UK by default: %d %s, want 403 code 60605", r.Status, r.Raw)
	}
	for _, want := range []string{"'to'", "+44 (GB)", "JO only", "--countries GB,JO"} {
		if !strings.Contains(r.str("message"), want) {
			t.Errorf("refusal %q does not say %q", r.str("message"), want)
		}
	}
	for _, path := range []string{"/2010-04-01/Accounts/" + s.SID + "/Messages.json", "/restcomm/2012-04-24/Accounts/" + s.SID + "/SMS/Messages.json"} {
		r = s.postForm(t, path, url.Values{"To": {uk}, "From": {"MyApp"}, "Body": {"hello"}})
		if r.Status != 400 || r.num("code") != 21408 || !strings.Contains(r.str("message"), "'To'") || !strings.Contains(r.str("message"), "(GB)") {
			t.Fatalf("a message to the UK by default, %s: %d %s, want 400 code 21408 naming 'To' and GB", path, r.Status, r.Raw)
		}
	}
	// Nothing was stored: no message to the UK in the log.
	list := call(t, "GET", s.URL+"/2010-04-01/Accounts/"+s.SID+"/Messages.json?To="+url.QueryEscape(uk), s.SID, s.Token, "", "")
	if msgs, _ := list.Body["messages"].([]any); list.Status != 200 || len(msgs) != 0 {
		t.Fatalf("messages to the UK after refusals: %d %s", list.Status, list.Raw)
	}
	if r = s.send(t, "login", jo); r.Status != 201 {
		t.Fatalf("a code at home: %d %s", r.Status, r.Raw)
	}

	// The account is allowed the UK: a running server applies it within 5 s.
	setAccount := func(countries string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(t.Context(), []string{"accounts", "set", "--sid", s.SID, "--countries", countries, "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
			t.Fatalf("accounts set --countries %q: %v %s", countries, err, errOut.String())
		}
		return out.String()
	}
	if out := setAccount("gb, jo"); !strings.Contains(out, "may send to GB,JO at most") {
		t.Errorf("accounts set said %q", out)
	}
	clock.Advance(6 * time.Second)
	if r = s.send(t, "login", uk); r.Status != 201 {
		t.Fatalf("a code to the UK once allowed: %d %s", r.Status, r.Raw)
	}
	if r = s.send(t, "login", us); r.Status != 403 || !strings.Contains(r.str("message"), "+1 (US)") || !strings.Contains(r.str("message"), "GB, JO only") {
		t.Fatalf("a code to the US with GB,JO allowed: %d %s", r.Status, r.Raw)
	}

	// One service sends only to the UK, whatever the account allows.
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"services", "set", "--account", s.SID, "--service", "uk-shop", "--countries", "GB", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatalf("services set --countries: %v %s", err, errOut.String())
	}
	clock.Advance(6 * time.Second)
	if r = s.send(t, "uk-shop", jo); r.Status != 403 || !strings.Contains(r.str("message"), "service") {
		t.Fatalf("a code home from a UK-only service: %d %s", r.Status, r.Raw)
	}
	if r = s.send(t, "uk-shop", "+447400123457"); r.Status != 201 {
		t.Fatalf("a code to the UK from a UK-only service: %d %s", r.Status, r.Raw)
	}

	// Any country; then back to the default.
	setAccount("*")
	clock.Advance(6 * time.Second)
	if r = s.send(t, "login", us); r.Status != 201 {
		t.Fatalf("a code to the US with any country allowed: %d %s", r.Status, r.Raw)
	}
	if out := setAccount(""); !strings.Contains(out, "the server's default (--region") {
		t.Errorf("accounts set --countries '' said %q", out)
	}
	clock.Advance(6 * time.Second)
	if r = s.send(t, "other", "+12015550124"); r.Status != 403 {
		t.Fatalf("a code to the US back at the default: %d %s", r.Status, r.Raw)
	}

	// A list that is not one is refused, naming what is wrong.
	for _, bad := range []string{"XX", "JO,UK", "JO,*", " , "} {
		out.Reset()
		errOut.Reset()
		err := run(t.Context(), []string{"accounts", "set", "--sid", s.SID, "--countries", bad, "--data-dir", s.Config.DataDir}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "--countries") {
			t.Errorf("accounts set --countries %q: %v, want an error naming --countries", bad, err)
		}
	}
}

// A double tap does not send two codes: within --resend-cooldown of a code,
// another for the same verification is refused with 429, code 60203 and a
// Retry-After that counts down; after it, the resend goes out within the
// same verification. Other numbers are not affected.
func TestResendCooldown(t *testing.T) {
	clock := &fakeClock{now: time.Now().UTC()}
	s := mustServeWith(t, clock, func(c *ServeConfig) { c.ResendCooldown = 30 * time.Second })
	first := s.send(t, "login", "0790320012")
	if first.Status != 201 {
		t.Fatalf("first send: %d %s", first.Status, first.Raw)
	}
	r := s.send(t, "login", "0790320012")
	if r.Status != 429 || r.num("code") != 60203 || r.Header.Get("Retry-After") != "30" || !strings.Contains(r.str("message"), "in 30 s") {
		t.Fatalf("a resend at once: %d %s (Retry-After %q), want 429/60203 in 30 s", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	if other := s.send(t, "login", "0790320013"); other.Status != 201 {
		t.Fatalf("another number meanwhile: %d %s", other.Status, other.Raw)
	}
	clock.Advance(29 * time.Second)
	if r = s.send(t, "login", "0790320012"); r.Status != 429 || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("a resend after 29 s: %d %s (Retry-After %q), want 429 with Retry-After 1", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	clock.Advance(time.Second)
	if r = s.send(t, "login", "0790320012"); r.Status != 201 || r.str("sid") != first.str("sid") || r.num("send_attempts") != 2 {
		t.Fatalf("a resend after 30 s: %d %s, want 201 in verification %s with 2 sends", r.Status, r.Raw, first.str("sid"))
	}
	if codes := s.codes(t, "+962790320012", 2); len(codes) != 2 {
		t.Fatalf("%d codes delivered, want 2", len(codes))
	}
}

// A code no verification could have (too short, too long, not digits) is
// refused with 400 naming 'code' and does not use up one of the 5 attempts.
func TestMalformedCodesUseNoAttempt(t *testing.T) {
	s := mustServe(t, nil)
	if r := s.send(t, "login", "0790320012"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []string{"12", "123", "12345678901", "12ab56", "٣٤"} {
		if r := s.check(t, "login", "0790320012", bad); r.Status != 400 || r.num("code") != 60200 || !strings.Contains(r.str("message"), "'code'") {
			t.Fatalf("check %q: %d %s, want 400 naming 'code'", bad, r.Status, r.Raw)
		}
	}
	// All 5 attempts are still there: 4 wrong codes leave 1, the 5th is the last.
	for i := range 5 {
		r := s.check(t, "login", "0790320012", "000000")
		if r.Status != 200 || r.num("attempts_remaining") != 4-i {
			t.Fatalf("wrong code %d: %d %s, want 200 with %d attempts remaining", i+1, r.Status, r.Raw, 4-i)
		}
	}
}

// Geo permissions over the API (GET and POST /guard/countries, for the
// account or one service, applied at once on this node; another account
// untouched), within the ceiling the config file's "countries" sets for
// accounts the operator set none for: an account narrows its countries,
// and a wider list is refused naming the ceiling.
func TestGeoPermissionsAPIAndConfig(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "otpgate.json")
	if err := os.WriteFile(cfgPath, []byte(`{"countries": "jo, sa"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Now().UTC()}
	s := mustServeWith(t, clock, func(c *ServeConfig) { c.ConfigFile = cfgPath })
	uk, sa := "+447400123456", "+966501234567"
	get := func() response { return call(t, "GET", s.URL+"/guard/countries", s.SID, s.Token, "", "") }
	if r := get(); r.Status != 200 || r.str("countries") != "JO,SA" || r.str("ceiling") != "JO,SA" || r.Body["default"] != true {
		t.Fatalf("GET /guard/countries with the config file's default: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", sa); r.Status != 201 {
		t.Fatalf("a code to SA, allowed by the config file: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", uk); r.Status != 403 || !strings.Contains(r.str("message"), "beyond this account's ceiling") {
		t.Fatalf("a code to the UK: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []string{"XX", "", "JO;SA"} {
		if r := s.postJSON(t, "/guard/countries", map[string]string{"countries": bad}); r.Status != 400 || !strings.Contains(r.str("message"), "'countries'") {
			t.Fatalf("countries %q: %d %s, want 400 naming it", bad, r.Status, r.Raw)
		}
	}
	if r := s.postJSON(t, "/guard/countries", map[string]string{}); r.Status != 400 || !strings.Contains(r.str("message"), "'countries'") {
		t.Fatalf("no countries: %d %s", r.Status, r.Raw)
	}
	if r := s.postJSON(t, "/guard/countries", map[string]string{"countries": "gb,jo"}); r.Status != 403 || !strings.Contains(r.str("message"), "GB is beyond this account's ceiling of JO, SA only") {
		t.Fatalf("POST countries gb,jo, beyond the ceiling: %d %s", r.Status, r.Raw)
	}
	if r := s.postJSON(t, "/guard/countries", map[string]string{"countries": "jo"}); r.Status != 200 || r.str("countries") != "JO" || r.Body["default"] != false {
		t.Fatalf("POST countries jo, within the ceiling: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", "+966501234568"); r.Status != 403 || !strings.Contains(r.str("message"), "POST /guard/countries") {
		t.Fatalf("a code to SA, no longer in the account's list (no wait on this node): %d %s", r.Status, r.Raw)
	}
	// One service's own list, within the ceiling.
	if r := s.postJSON(t, "/guard/countries", map[string]string{"countries": "SA", "service": "login"}); r.Status != 200 || r.str("sends_to") != "SA" {
		t.Fatalf("POST countries for a service: %d %s", r.Status, r.Raw)
	}
	if r := s.postJSON(t, "/guard/countries", map[string]string{"countries": "GB", "service": "login"}); r.Status != 403 {
		t.Fatalf("POST countries beyond the ceiling for a service: %d %s", r.Status, r.Raw)
	}
	if r := s.postJSON(t, "/guard/countries", map[string]string{"countries": "JO", "service": "nope"}); r.Status != 404 {
		t.Fatalf("POST countries for an unknown service: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", "+962790320012"); r.Status != 403 || !strings.Contains(r.str("message"), "service") {
		t.Fatalf("a code of the SA-only service home: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", "+966501234569"); r.Status != 201 {
		t.Fatalf("a code of the SA-only service to SA: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "other", "+966501234570"); r.Status != 403 {
		t.Fatalf("a code of another service to SA, beyond the account's own JO: %d %s", r.Status, r.Raw)
	}
	// Another account keeps the default; "default" goes back to it.
	other := mustCreateAccount(t, s)
	if r := call(t, "GET", s.URL+"/guard/countries", other.SID, other.Token, "", ""); r.str("countries") != "JO,SA" {
		t.Fatalf("another account's countries: %s", r.Raw)
	}
	if r := s.postJSON(t, "/guard/countries", map[string]string{"countries": "default"}); r.Status != 200 || r.str("countries") != "JO,SA" || r.Body["default"] != true {
		t.Fatalf("POST countries default: %d %s", r.Status, r.Raw)
	}
	clock.Advance(time.Second)
}
