package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/policy"
)

// mustOperatorToken makes an operator token with the CLI, as the operator
// does (for one account when acc is set).
func mustOperatorToken(tb testing.TB, dataDir, name, acc string) (id, token string) {
	tb.Helper()
	var out, errOut strings.Builder
	args := []string{"operator-token", "--name", name, "--data-dir", dataDir}
	if acc != "" {
		args = append(args, "--account", acc)
	}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		tb.Fatalf("operator-token: %v %s", err, errOut.String())
	}
	for line := range strings.SplitSeq(out.String(), "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "Token: "); ok {
			token = t
		}
		if rest, ok := strings.CutPrefix(line, "Created operator token "); ok {
			id, _, _ = strings.Cut(rest, " ")
		}
	}
	if id == "" || token == "" {
		tb.Fatalf("operator-token printed no token:\n%s", out.String())
	}
	return id, token
}

// bearer calls the operator API with an operator token.
func bearer(tb testing.TB, method, u, token string, form url.Values) response {
	tb.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	json.Unmarshal(raw, &r.Body)
	return r
}

// auditEntries reads the audit log through the operator API.
func auditEntries(tb testing.TB, s *testServer, token, query string) []map[string]any {
	tb.Helper()
	r := bearer(tb, "GET", s.URL+"/operator/audit?PageSize=1000&"+query, token, nil)
	if r.Status != 200 {
		tb.Fatalf("GET /operator/audit?%s: %d %s", query, r.Status, r.Raw)
	}
	var out []map[string]any
	for _, e := range r.Body["entries"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// An attacker holding one account's own token tries every way to widen
// its limits or lift a block: each is refused, and each attempt is in the
// audit log; then it pumps one prefix through the messages API and is
// blocked within 20 messages.
func TestLeakedTokenCannotWidenOrLift(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.PerNumber, c.DailyBudget = guard.DefaultPerNumber, policy.DefaultDailyBudget
	})
	_, op := mustOperatorToken(t, s.Config.DataDir, "ops", "")
	asAccount := func(method, path string, form url.Values) response {
		body, ct := "", ""
		if form != nil {
			body, ct = form.Encode(), "application/x-www-form-urlencoded"
		}
		return call(t, method, s.URL+path, s.SID, s.Token, ct, body)
	}

	// Block the account's +96279031 range with codes, to try lifting it.
	for i := 0; ; i++ {
		r := s.send(t, "login", fmt.Sprintf("+96279031%04d", i))
		if r.Status == 403 && r.num("code") == 60410 {
			break
		}
		if r.Status != 201 || i > 30 {
			t.Fatalf("pumping codes: %d %s", r.Status, r.Raw)
		}
	}

	attempts := []struct {
		name, method, path string
		form               url.Values
		status             int
		says               string
	}{
		{"widen countries to any", "POST", "/guard/countries", url.Values{"countries": {"*"}}, 403, "ceiling"},
		{"widen countries to GB", "POST", "/guard/countries", url.Values{"countries": {"JO,GB"}}, 403, "ceiling of JO only"},
		{"widen a service's countries", "POST", "/guard/countries", url.Values{"countries": {"GB"}, "service": {"login"}}, 403, "ceiling"},
		{"safe-list a prefix", "POST", "/guard/safe", url.Values{"entry": {"+9627"}}, 400, "prefix"},
		{"safe-list a prefix, Twilio's API", "POST", "/v2/SafeList/Numbers", url.Values{"PhoneNumber": {"+96279031"}}, 400, "PhoneNumber"},
		{"lift its block", "DELETE", "/guard/blocks/+96279031", nil, 403, "only the operator"},
		{"lift by key", "DELETE", "/guard/blocks/prefix:+96279031", nil, 403, "otpgate guard lift"},
		{"set its own ceilings", "POST", "/operator/accounts/" + s.SID + "/policy", url.Values{"daily_budget": {"off"}}, 403, "operator token"},
		{"lift through the operator API", "DELETE", "/operator/accounts/" + s.SID + "/guard/blocks/+96279031", nil, 403, "operator token"},
		{"read the audit log", "GET", "/operator/audit", nil, 403, "operator token"},
	}
	for _, a := range attempts {
		r := asAccount(a.method, a.path, a.form)
		if r.Status != a.status || !strings.Contains(r.str("message"), a.says) {
			t.Errorf("%s: %d %s; want %d saying %q", a.name, r.Status, r.Raw, a.status, a.says)
		}
	}
	// Codes to the range are still refused, and a UK number is refused.
	if r := s.send(t, "login", "+962790310099"); r.Status != 403 || r.num("code") != 60410 {
		t.Fatalf("a code to the blocked range after the attempts: %d %s", r.Status, r.Raw)
	}
	if r := s.send(t, "login", "+447400123456"); r.Status != 403 || r.num("code") != 60605 {
		t.Fatalf("a code to the UK after the attempts: %d %s", r.Status, r.Raw)
	}

	// Every attempt is in the audit log, refused, as the account's.
	refused := 0
	for _, e := range auditEntries(t, s, op, "account="+s.SID) {
		if e["outcome"] == "refused" && e["actor"] == "account:"+s.SID {
			refused++
		}
	}
	if refused != len(attempts) {
		for _, e := range auditEntries(t, s, op, "account="+s.SID) {
			t.Logf("audit: %v", e)
		}
		t.Fatalf("%d refused attempts in the audit log; want %d", refused, len(attempts))
	}

	// The messages API: one number flooded, refused past its limit per number.
	for i := range 11 {
		r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {"+962770000001"}, "From": {"MyApp"}, "Body": {"hi"}})
		if i < 10 && r.Status != 201 || i == 10 && (r.Status != 429 || r.num("code") != 60203) {
			t.Fatalf("message %d to one number: %d %s", i+1, r.Status, r.Raw)
		}
	}
	// The messages API: one prefix pumped, blocked within 20 messages.
	sent := 0
	for i := range 40 {
		r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{
			"To": {fmt.Sprintf("+96278055%04d", i)}, "From": {"MyApp"}, "Body": {"Your prize is waiting"}})
		if r.Status == 403 && r.num("code") == 60410 {
			break
		}
		if r.Status != 201 {
			t.Fatalf("message %d: %d %s", i, r.Status, r.Raw)
		}
		sent++
	}
	if sent == 0 || sent > 20 {
		t.Fatalf("%d messages to one prefix went before the guard blocked it; want at most 20", sent)
	}
	t.Logf("the messages API was blocked after %d messages to one prefix", sent)
}

// The operator API and its CLI: ceilings read and changed (and applied to
// sends at once), a block listed and lifted, the audit log paged and
// filtered; a token made for one account reads it only and changes
// nothing; a revoked token and none are 401.
func TestOperatorAPI(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) { c.PerNumber, c.DailyBudget = guard.DefaultPerNumber, policy.DefaultDailyBudget })
	_, op := mustOperatorToken(t, s.Config.DataDir, "ops", "")
	other := mustCreateAccount(t, s)
	scopedID, scoped := mustOperatorToken(t, s.Config.DataDir, "support", other.SID)
	policyURL := s.URL + "/operator/accounts/" + s.SID + "/policy"

	r := bearer(t, "GET", policyURL, op, nil)
	eff, _ := r.Body["effective"].(map[string]any)
	if r.Status != 200 || eff["countries"] != "JO" || eff["daily_budget"] != 10000.0 || eff["per_number"] != "10/1h" || eff["messages"] != "any" {
		t.Fatalf("GET policy: %d %s", r.Status, r.Raw)
	}
	r = bearer(t, "POST", policyURL, op, url.Values{"countries": {"jo,gb"}, "daily_budget": {"3"}, "messages": {"codes"}})
	if r.Status != 200 || !strings.Contains(r.Raw, `"countries":"GB,JO"`) || !strings.Contains(r.Raw, `"daily_budget":3`) {
		t.Fatalf("POST policy: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []struct{ field, value, says string }{
		{"countries", "XX", "'countries'"}, {"daily_budget", "-1", "'daily_budget'"}, {"per_number", "ten", "'per_number'"}, {"budget", "5", "'budget'"},
	} {
		if r := bearer(t, "POST", policyURL, op, url.Values{bad.field: {bad.value}}); r.Status != 400 || !strings.Contains(r.str("message"), bad.says) {
			t.Errorf("POST policy %s=%s: %d %s", bad.field, bad.value, r.Status, r.Raw)
		}
	}
	// Applied at once: a UK code goes, the messages API is refused, and the
	// fourth SMS of the day is over the budget.
	if r := s.send(t, "login", "+447400123456"); r.Status != 201 {
		t.Fatalf("a UK code within the widened ceiling: %d %s", r.Status, r.Raw)
	}
	if r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {"+962790000001"}, "From": {"MyApp"}, "Body": {"hi"}}); r.Status != 403 || !strings.Contains(r.str("message"), "verification codes only") {
		t.Fatalf("a message of a codes-only account: %d %s", r.Status, r.Raw)
	}
	s.send(t, "login", "+962790000002")
	s.send(t, "login", "+962790000003")
	if r := s.send(t, "login", "+962790000004"); r.Status != 429 || r.num("code") != 20429 || !strings.Contains(r.str("message"), "daily budget of 3 SMS") {
		t.Fatalf("the 4th SMS with a budget of 3: %d %s", r.Status, r.Raw)
	}

	// The scoped token: its account only, reading.
	if r := bearer(t, "GET", s.URL+"/operator/accounts/"+other.SID+"/policy", scoped, nil); r.Status != 200 {
		t.Fatalf("scoped token reads its account: %d %s", r.Status, r.Raw)
	}
	if r := bearer(t, "GET", policyURL, scoped, nil); r.Status != 403 {
		t.Fatalf("scoped token reads another account: %d %s", r.Status, r.Raw)
	}
	if r := bearer(t, "POST", s.URL+"/operator/accounts/"+other.SID+"/policy", scoped, url.Values{"daily_budget": {"off"}}); r.Status != 403 {
		t.Fatalf("scoped token changes its account's ceilings: %d %s", r.Status, r.Raw)
	}
	if r := bearer(t, "GET", s.URL+"/operator/accounts", scoped, nil); r.Status != 200 || strings.Contains(r.Raw, s.SID) || !strings.Contains(r.Raw, other.SID) {
		t.Fatalf("scoped token lists accounts: %d %s", r.Status, r.Raw)
	}
	for _, e := range auditEntries(t, s, scoped, "") {
		if e["account_sid"] != other.SID {
			t.Fatalf("the scoped token reads another account's audit entry: %v", e)
		}
	}
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"operator-token", "--revoke", scopedID, "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	if r := bearer(t, "GET", s.URL+"/operator/accounts", scoped, nil); r.Status != 401 {
		t.Fatalf("a revoked token: %d %s", r.Status, r.Raw)
	}
	if r := bearer(t, "GET", s.URL+"/operator/accounts", "", nil); r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: %d %v %s", r.Status, r.Header, r.Raw)
	}

	// The audit log: the change, as the operator token's, with before and
	// after; paging loses nothing; the kind filter.
	pol := auditEntries(t, s, op, "kind=policy&account="+s.SID)
	if len(pol) == 0 || pol[0]["actor"] == "" || pol[0]["actor_name"] != "ops" || pol[0]["outcome"] != "done" {
		t.Fatalf("the policy change in the audit log: %v", pol)
	}
	after, _ := json.Marshal(pol[0]["after"])
	if !strings.Contains(string(after), `"daily_budget":3`) {
		t.Fatalf("the policy change's after: %s", after)
	}
	all := auditEntries(t, s, op, "")
	var paged []any
	next := "/operator/audit?PageSize=2"
	for next != "" {
		r := bearer(t, "GET", s.URL+next, op, nil)
		paged = append(paged, r.Body["entries"].([]any)...)
		next, _ = r.Body["next_page_uri"].(string)
	}
	if len(paged) != len(all) || len(all) < 5 {
		t.Fatalf("paged by 2: %d entries; all at once: %d", len(paged), len(all))
	}

	// The CLI: the same ceilings, and the audit log.
	out.Reset()
	if err := run(t.Context(), []string{"policy", "set", "--account", s.SID, "--daily-budget", "default", "--messages", "default", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	if !regexp.MustCompile(`daily-budget +default +10000 SMS a day`).MatchString(out.String()) {
		t.Fatalf("policy set printed:\n%s", out.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"audit", "--account", s.SID, "--kind", "policy", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	if lines := strings.Count(out.String(), "\n"); lines < 3 || !strings.Contains(out.String(), "cli (") {
		t.Fatalf("otpgate audit:\n%s", out.String())
	}
}

// Twilio's Verify Safe List API, through the twilio-go SDK: a whole number
// is added, fetched and deleted; a prefix is refused; the list holds at
// most 1,000 numbers.
func TestSafeListTwilioSDK(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) {})
	tw := twilioClient(t, s)
	got, err := tw.VerifyV2.CreateSafelist(&twverify.CreateSafelistParams{PhoneNumber: ptr("+962790312345")})
	if err != nil || *got.PhoneNumber != "+962790312345" || !strings.HasPrefix(*got.Sid, "GN") {
		t.Fatalf("CreateSafelist: %+v %v", got, err)
	}
	if f, err := tw.VerifyV2.FetchSafelist("+962790312345"); err != nil || *f.Sid != *got.Sid {
		t.Fatalf("FetchSafelist: %+v %v", f, err)
	}
	if _, err := tw.VerifyV2.CreateSafelist(&twverify.CreateSafelistParams{PhoneNumber: ptr("+96279031")}); err == nil || !strings.Contains(err.Error(), "PhoneNumber") {
		t.Fatalf("CreateSafelist of a prefix: %v", err)
	}
	if err := tw.VerifyV2.DeleteSafelist("+962790312345"); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.VerifyV2.FetchSafelist("+962790312345"); err == nil || !strings.Contains(err.Error(), "20404") {
		t.Fatalf("FetchSafelist after the delete: %v", err)
	}
	start := time.Now()
	for i := range 1000 {
		if r := s.postForm(t, "/v2/SafeList/Numbers", url.Values{"PhoneNumber": {fmt.Sprintf("+96279100%04d", i)}}); r.Status != 201 {
			t.Fatalf("safe number %d: %d %s", i, r.Status, r.Raw)
		}
	}
	r := s.postForm(t, "/v2/SafeList/Numbers", url.Values{"PhoneNumber": {"+962791009999"}})
	if r.Status != 403 || !strings.Contains(r.str("message"), "1000 numbers") {
		t.Fatalf("the 1,001st safe number: %d %s", r.Status, r.Raw)
	}
	t.Logf("1,000 safe numbers added in %s", time.Since(start).Round(time.Millisecond))
}

func ptr[T any](v T) *T { return &v }

// allowCountries sets the account's countries ceiling, as the operator
// does (a running server sees it within 5 s; a test's first send reads it).
func (s *testServer) allowCountries(tb testing.TB, countries string) {
	tb.Helper()
	if err := s.store.SetAccountPolicy(context.Background(), s.SID, policy.Policy{Countries: countries}); err != nil {
		tb.Fatal(err)
	}
	s.ceilings.Forget(s.SID)
}
