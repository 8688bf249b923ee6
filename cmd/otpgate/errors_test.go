package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
)

type creds struct{ SID, Token string }

// mustCreateAccount runs `otpgate accounts create --json` on the server's
// data dir while it runs.
func mustCreateAccount(tb testing.TB, s *testServer) creds {
	tb.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"accounts", "create", "--name", "other", "--json", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		tb.Fatalf("accounts create: %v: %s", err, errOut.String())
	}
	var c struct {
		SID   string `json:"sid"`
		Token string `json:"auth_token"`
	}
	if err := json.Unmarshal(out.Bytes(), &c); err != nil || !strings.HasPrefix(c.SID, "AC") || len(c.Token) < 32 {
		tb.Fatalf("accounts create --json printed %q", out.String())
	}
	return creds{c.SID, c.Token}
}

func TestAccountCreatedWhileServing(t *testing.T) {
	s := mustServe(t, nil)
	c := mustCreateAccount(t, s)
	r := call(t, "POST", s.URL+"/2fa/send", c.SID, c.Token, "application/json", `{"service":"a","from":"MyApp","to":"0794444444"}`)
	if r.Status != 201 {
		t.Fatalf("send with a just-created account: %d %s", r.Status, r.Raw)
	}
}

func TestErrors(t *testing.T) {
	s := mustServe(t, nil)
	okBody := `{"service":"app","from":"MyApp","to":"0790000001"}`
	tests := []struct {
		name        string
		method      string
		path        string
		sid, token  string
		contentType string
		body        string
		status      int
		code        int
		mention     []string // words the message must contain
	}{
		{"no auth", "POST", "/2fa/send", "", "", "application/json", okBody, 401, 20003, []string{"Basic auth"}},
		{"wrong token", "POST", "/2fa/send", s.SID, strings.Repeat("0", 32), "application/json", okBody, 401, 20003, []string{"auth token"}},
		{"unknown account", "POST", "/2fa/send", "AC" + strings.Repeat("0", 32), s.Token, "application/json", okBody, 401, 20003, []string{"auth token"}},
		{"malformed JSON", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":`, 400, 20001, []string{"Malformed JSON"}},
		{"JSON syntax", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":app}`, 400, 20001, []string{"at byte 12", "unexpected 'a'", "double quotes"}},
		{"JSON number out of range", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp","to":1e400}`, 400, 60200, []string{"'to'", "1e400", "as a string"}},
		{"malformed form", "POST", "/2fa/send", s.SID, s.Token, "application/x-www-form-urlencoded", "service=app&from=MyApp&to=0790000001&body=100%", 400, 20001, []string{"at byte 46", "percent-escape", "%25"}},
		{"JSON array", "POST", "/2fa/send", s.SID, s.Token, "application/json", `[1,2]`, 400, 20001, []string{"JSON object"}},
		{"JSON wrong type", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp","to":["0790000001"]}`, 400, 60200, []string{"'to'", "string"}},
		{"body too large", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"body":"` + strings.Repeat("x", 70<<10) + `"}`, 413, 20013, []string{"64 KiB"}},
		{"unsupported type", "POST", "/2fa/send", s.SID, s.Token, "text/plain", okBody, 415, 20015, []string{"application/json", "x-www-form-urlencoded"}},
		{"missing service", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"from":"MyApp","to":"0790000001"}`, 400, 60200, []string{"'service'"}},
		{"missing to", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp"}`, 400, 60200, []string{"'to'"}},
		{"landline to", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp","to":"+96265000000"}`, 400, 60200, []string{"'to'", "+96265000000", "fixed-line"}},
		{"invalid to", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp","to":"12"}`, 400, 60200, []string{"'to'", "12"}},
		{"letters to", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp","to":"call me"}`, 400, 60200, []string{"'to'"}},
		{"missing from", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","to":"0790000001"}`, 400, 60200, []string{"'from'", "sender ID"}},
		{"sender too long", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyVeryLongApp","to":"0790000001"}`, 400, 60200, []string{"'from'", "11"}},
		{"sender not GSM", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"تطبيقي","to":"0790000001"}`, 400, 60200, []string{"'from'"}},
		{"body without placeholder", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp","to":"0790000001","body":"hello"}`, 400, 60200, []string{"'body'", "{code}"}},
		{"body too long", "POST", "/2fa/send", s.SID, s.Token, "application/json", `{"service":"app","from":"MyApp","to":"0790000001","body":"{code}` + strings.Repeat("x", 1600) + `"}`, 400, 60200, []string{"'body'", "1600"}},
		{"verify missing code", "POST", "/2fa/verify", s.SID, s.Token, "application/json", `{"service":"app","number":"0790000001"}`, 400, 60200, []string{"'code'"}},
		{"verify letters in code", "POST", "/2fa/verify", s.SID, s.Token, "application/json", `{"service":"app","number":"0790000001","code":"12ab56"}`, 400, 60200, []string{"'code'", "digits"}},
		{"verify bad number", "POST", "/2fa/verify", s.SID, s.Token, "application/json", `{"service":"app","number":"abc","code":"123456"}`, 400, 60200, []string{"'number'"}},
		{"verify never sent", "POST", "/2fa/verify", s.SID, s.Token, "application/json", `{"service":"app","number":"0790000009","code":"123456"}`, 404, 20404, []string{"No pending verification"}},
		{"verify unknown service", "POST", "/2fa/verify", s.SID, s.Token, "application/json", `{"service":"nope","number":"0790000009","code":"123456"}`, 404, 20404, []string{"No pending verification"}},
		{"wrong method", "GET", "/2fa/send", s.SID, s.Token, "", "", 405, 20004, []string{"POST"}},
		{"unknown route", "GET", "/nope", s.SID, s.Token, "", "", 404, 20404, []string{"/nope"}},
		{"sandbox without to", "GET", "/sandbox/messages", s.SID, s.Token, "", "", 400, 60200, []string{"'to'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, tt.method, s.URL+tt.path, tt.sid, tt.token, tt.contentType, tt.body)
			if r.Status != tt.status || r.num("code") != tt.code || r.num("status") != tt.status {
				t.Fatalf("got %d %s, want status %d code %d", r.Status, r.Raw, tt.status, tt.code)
			}
			if r.str("message") == "" || r.str("more_info") == "" || len(r.Body) != 4 {
				t.Fatalf("error body must be exactly {code, message, more_info, status}: %s", r.Raw)
			}
			for _, word := range tt.mention {
				if !strings.Contains(r.str("message"), word) {
					t.Errorf("message %q does not mention %q", r.str("message"), word)
				}
			}
			for _, w := range []string{"strconv", "json:", "invalid character", "EOF", "invalid URL escape"} {
				if strings.Contains(r.str("message"), w) {
					t.Errorf("message %q has Go's words %q", r.str("message"), w)
				}
			}
			if tt.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	// Nothing of the refused sends was written: the number has no messages.
	r := call(t, "GET", s.URL+"/sandbox/messages?to=0790000001", s.SID, s.Token, "", "")
	if msgs := r.Body["messages"].([]any); len(msgs) != 0 {
		t.Fatalf("refused sends left messages: %s", r.Raw)
	}
}

// An unknown account SID and a wrong token must not be told apart by timing.
func TestUnauthorizedTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	s := mustServe(t, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	measure := func(sid, token string) time.Duration {
		req, _ := http.NewRequest("POST", s.URL+"/2fa/send", strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth(sid, token)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Fatalf("status %d, want 401", res.StatusCode)
		}
		return time.Since(start)
	}
	var unknown, wrong []time.Duration
	for i := range 600 {
		if i%2 == 0 {
			unknown = append(unknown, measure("AC"+strings.Repeat("1", 32), s.Token))
		} else {
			wrong = append(wrong, measure(s.SID, strings.Repeat("1", 32)))
		}
	}
	mu, mw := median(unknown), median(wrong)
	diff := mu - mw
	if diff < 0 {
		diff = -diff
	}
	t.Logf("median 401 latency: unknown account %v, wrong token %v", mu, mw)
	if diff > max(mu, mw)/4 && diff > 100*time.Microsecond {
		t.Fatalf("unknown account (%v) and wrong token (%v) differ measurably", mu, mw)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// Per-service settings: `otpgate services set` while the server runs
// changes the code length of codes sent from then on.
func TestServiceCodeSettings(t *testing.T) {
	s := mustServe(t, nil)
	if r := s.send(t, "bank", "0791500001"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	if c := s.codes(t, "0791500001", 1)[0]; len(c) != 6 {
		t.Fatalf("default code %q, want 6 digits", c)
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"services", "set", "--account", s.SID, "--service", "bank", "--code-length", "8", "--code-ttl", "3m",
		"--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatalf("services set: %v %s", err, errOut.String())
	}
	if err := run(context.Background(), []string{"services", "set", "--account", s.SID, "--service", "bank", "--code-length", "11",
		"--data-dir", s.Config.DataDir}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "4-10") {
		t.Fatalf("--code-length 11: %v", err)
	}
	time.Sleep(5100 * time.Millisecond) // the server's service cache holds settings for 5 s
	r := s.send(t, "bank", "0791500002")
	created, _ := time.Parse(time.RFC3339, r.str("created_at"))
	expires, _ := time.Parse(time.RFC3339, r.str("expires_at"))
	if expires.Sub(created) != 3*time.Minute {
		t.Fatalf("code lifetime %s, want 3m: %s", expires.Sub(created), r.Raw)
	}
	if c := s.codes(t, "0791500002", 1)[0]; len(c) != 8 {
		t.Fatalf("code %q after --code-length 8, want 8 digits", c)
	}
}

// A wrong method gets 405, in the JSON error shape, with Allow naming the
// methods the route has: on every route of every dialect.
func TestWrongMethodOnEveryRoute(t *testing.T) {
	s := mustServe(t, nil)
	msgs := "/2010-04-01/Accounts/" + s.SID + "/Messages"
	for _, tt := range []struct{ method, path, allow string }{
		{"GET", "/2fa/send", "POST"},
		{"PUT", "/2fa/verify", "POST"},
		{"POST", "/sandbox/messages", "GET, HEAD"},
		{"GET", "/sandbox/inbound", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
		{"PUT", msgs + ".json", "GET, HEAD, POST"},
		{"DELETE", msgs, "GET, HEAD, POST"},
		{"PATCH", msgs + "/SM00000000000000000000000000000000.json", "DELETE, GET, HEAD, POST"},
		{"PUT", "/2012-04-24/Accounts/" + s.SID + "/SMS/Messages.json", "GET, HEAD, POST"},
		{"PUT", "/restcomm/2012-04-24/Accounts/" + s.SID + "/SMS/Messages/SM00000000000000000000000000000000", "DELETE, GET, HEAD, POST"},
	} {
		r := call(t, tt.method, s.URL+tt.path, s.SID, s.Token, "", "")
		if r.Status != 405 || r.num("code") != 20004 || r.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d code %d Allow %q, want 405 code 20004 Allow %q (%s)", tt.method, tt.path, r.Status, r.num("code"), r.Header.Get("Allow"), tt.allow, r.Raw)
		}
	}
}

// `otpgate services set` sets a service's fallback to email as Verify v2
// does, and refuses what Verify v2 refuses, naming the flag.
func TestServicesSetFallback(t *testing.T) {
	s := mustServe(t, nil)
	set := func(args ...string) error {
		var out, errOut bytes.Buffer
		return run(context.Background(), append([]string{"services", "set", "--account", s.SID, "--service", "wallet", "--data-dir", s.Config.DataDir}, args...), &out, &errOut)
	}
	if err := set("--fallback-channel", "email", "--fallback-after", "20"); err != nil {
		t.Fatalf("services set: %v", err)
	}
	r := call(t, "GET", s.URL+"/v2/Services?PageSize=50", s.SID, s.Token, "", "")
	services, _ := r.Body["services"].([]any)
	var got map[string]any
	for _, v := range services {
		if m := v.(map[string]any); m["friendly_name"] == "wallet" {
			got = m
		}
	}
	if got == nil || got["fallback_channel"] != "email" || got["fallback_after"] != float64(20) {
		t.Fatalf("the service after services set: %v (%s)", got, r.Raw)
	}
	for _, bad := range [][]string{{"--fallback-channel", "sms"}, {"--fallback-after", "2"}} {
		if err := set(bad...); err == nil || !strings.HasPrefix(err.Error(), bad[0]+":") {
			t.Errorf("services set %s: %v, want an error naming the flag", strings.Join(bad, " "), err)
		}
	}
}
