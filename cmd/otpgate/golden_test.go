package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var (
	sidRE     = regexp.MustCompile(`\b(AC|VE|VA|SM|CB|VL|GN|AU|CT)[0-9a-f]{32}\b`)
	rfc3339RE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	rfc2822RE = regexp.MustCompile(`[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000`)
	requestRE = regexp.MustCompile(`request id [0-9a-f]+-[0-9a-z]+`)
	reqIDRE   = regexp.MustCompile(`"request_id":"[0-9a-f]{8}-[0-9a-f]{12}"`)
	pageTokRE = regexp.MustCompile(`PageToken=[A-Za-z0-9_-]+`)
	sandboxRE = regexp.MustCompile(`is: \d{6}`)
	hostRE    = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
)

// normalize replaces what changes from run to run (SIDs, times, codes) and
// indents the JSON, so a golden file pins the shape of a reply.
func normalize(t *testing.T, raw string) []byte {
	t.Helper()
	s := sidRE.ReplaceAllString(raw, "${1}00000000000000000000000000000000")
	s = rfc3339RE.ReplaceAllString(s, "2026-01-02T03:04:05Z")
	s = rfc2822RE.ReplaceAllString(s, "Fri, 02 Jan 2026 03:04:05 +0000")
	s = requestRE.ReplaceAllString(s, "request id X")
	s = reqIDRE.ReplaceAllString(s, `"request_id":"00000000-000000000000"`)
	s = pageTokRE.ReplaceAllString(s, "PageToken=PX")
	s = sandboxRE.ReplaceAllString(s, "is: 000000")
	s = hostRE.ReplaceAllString(s, "http://127.0.0.1:8080")
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	return append(out, '\n')
}

func golden(t *testing.T, name, raw string) {
	t.Helper()
	got := normalize(t, raw)
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/otpgate -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: the API's reply shape is pinned (run with -update if the change is meant)\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// TestGolden pins each API dialect's replies: clients and SDKs decode these shapes.
func TestGolden(t *testing.T) {
	s := mustServe(t, nil)
	send := call(t, "POST", s.URL+"/2fa/send", s.SID, s.Token, "application/json",
		`{ "service" : "Restcomm", "from" : "MyApp", "to" : "962790320012", "body": "Your verification code is: {code}" }`)
	golden(t, "2fa_send_201", send.Raw)
	code := s.codes(t, "0790320012", 1)[0]
	golden(t, "2fa_verify_wrong_200", s.check(t, "Restcomm", "0790320012", wrongCode(code)).Raw)
	golden(t, "2fa_verify_right_200", s.check(t, "Restcomm", "0790320012", code).Raw)
	golden(t, "2fa_verify_404", s.check(t, "Restcomm", "0790320012", code).Raw)
	golden(t, "2fa_send_400_to", s.postJSON(t, "/2fa/send", map[string]string{"service": "x", "from": "MyApp", "to": "+96265000000"}).Raw)
	golden(t, "401", call(t, "POST", s.URL+"/2fa/send", s.SID, "wrong", "application/json", `{}`).Raw)
	golden(t, "sandbox_messages", call(t, "GET", s.URL+"/sandbox/messages?to=0790320012", s.SID, s.Token, "", "").Raw)

	msgs := "/2010-04-01/Accounts/" + s.SID + "/Messages"
	created := s.postForm(t, msgs+".json", url.Values{"To": {"0771234567"}, "From": {"MyApp"}, "Body": {"مرحبا"}})
	golden(t, "twilio_message_201", created.Raw)
	sid := created.str("sid")
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if r := call(t, "GET", s.URL+msgs+"/"+sid+".json", s.SID, s.Token, "", ""); r.str("status") == "delivered" {
			break
		}
	}
	golden(t, "twilio_message_fetch", call(t, "GET", s.URL+msgs+"/"+sid+".json", s.SID, s.Token, "", "").Raw)
	golden(t, "twilio_messages_list", call(t, "GET", s.URL+msgs+".json?PageSize=1&To=%2B962771234567", s.SID, s.Token, "", "").Raw)
	golden(t, "twilio_message_400", s.postForm(t, msgs+".json", url.Values{"To": {"0771234567"}, "From": {"MyApp"}}).Raw)
	golden(t, "restcomm_sms_list", call(t, "GET", s.URL+"/2012-04-24/Accounts/"+s.SID+"/SMS/Messages.json?PageSize=1&To=%2B962771234567", s.SID, s.Token, "", "").Raw)
}

// TestGoldenVerifyV2 pins Verify v2's replies (twilio-go and the other SDKs
// decode these shapes).
func TestGoldenVerifyV2(t *testing.T) {
	s := mustServe(t, nil)
	form := func(method, path string, v url.Values) response {
		t.Helper()
		return call(t, method, s.URL+path, s.SID, s.Token, "application/x-www-form-urlencoded", v.Encode())
	}
	svc := form("POST", "/v2/Services", url.Values{"FriendlyName": {"My App"}, "CodeLength": {"6"}})
	golden(t, "v2_service_201", svc.Raw)
	va := svc.str("sid")
	golden(t, "v2_service_fetch", form("GET", "/v2/Services/"+va, nil).Raw)
	golden(t, "v2_services_list", form("GET", "/v2/Services?PageSize=1", nil).Raw)
	golden(t, "v2_service_404", form("GET", "/v2/Services/VA00000000000000000000000000000000", nil).Raw)
	v := form("POST", "/v2/Services/"+va+"/Verifications", url.Values{"To": {"+962790320012"}, "Channel": {"sms"}})
	golden(t, "v2_verification_201", v.Raw)
	golden(t, "v2_verification_fetch", form("GET", "/v2/Services/"+va+"/Verifications/"+v.str("sid"), nil).Raw)
	golden(t, "v2_verification_400_channel", form("POST", "/v2/Services/"+va+"/Verifications", url.Values{"To": {"+962790320012"}, "Channel": {"call"}}).Raw)
	code := s.codes(t, "0790320012", 1)[0]
	check := "/v2/Services/" + va + "/VerificationCheck"
	golden(t, "v2_check_wrong_200", form("POST", check, url.Values{"To": {"+962790320012"}, "Code": {wrongCode(code)}}).Raw)
	golden(t, "v2_check_right_200", form("POST", check, url.Values{"VerificationSid": {v.str("sid")}, "Code": {code}}).Raw)
	golden(t, "v2_check_404", form("POST", check, url.Values{"To": {"+962790320012"}, "Code": {code}}).Raw)
}

// TestGoldenGuard pins the replies of an account's guard routes and of
// Twilio's Verify Safe List API.
func TestGoldenGuard(t *testing.T) {
	s := mustServe(t, nil)
	get := func(path string) response {
		t.Helper()
		return call(t, "GET", s.URL+path, s.SID, s.Token, "", "")
	}
	golden(t, "guard_countries", get("/guard/countries").Raw)
	golden(t, "guard_countries_403_ceiling", s.postForm(t, "/guard/countries", url.Values{"countries": {"JO,SA"}}).Raw)
	golden(t, "guard_lift_403", call(t, "DELETE", s.URL+"/guard/blocks/+96279031", s.SID, s.Token, "", "").Raw)
	golden(t, "guard_safe_201", s.postForm(t, "/guard/safe", url.Values{"phone_number": {"0790312345"}}).Raw)
	golden(t, "guard_safe_400_prefix", s.postForm(t, "/guard/safe", url.Values{"phone_number": {"+96279031"}}).Raw)
	golden(t, "guard_safe_remove_404", call(t, "DELETE", s.URL+"/guard/safe/+962790312399", s.SID, s.Token, "", "").Raw)
	golden(t, "safelist_201", s.postForm(t, "/v2/SafeList/Numbers", url.Values{"PhoneNumber": {"+962790312346"}}).Raw)
	golden(t, "safelist_fetch", get("/v2/SafeList/Numbers/+962790312346").Raw)
	golden(t, "safelist_404", get("/v2/SafeList/Numbers/+962790312399").Raw)
}

// TestGoldenOperator pins the operator API's replies, and the refusals an
// account's ceilings and the pumping guard give its sends.
func TestGoldenOperator(t *testing.T) {
	s := mustServe(t, nil)
	_, op := mustOperatorToken(t, s.Config.DataDir, "golden", "")
	acc := "/operator/accounts/" + s.SID
	golden(t, "operator_401", bearer(t, "GET", s.URL+"/operator/accounts", "", nil).Raw)
	golden(t, "operator_403_account", call(t, "GET", s.URL+"/operator/accounts", s.SID, s.Token, "", "").Raw)
	golden(t, "operator_accounts", bearer(t, "GET", s.URL+"/operator/accounts", op, nil).Raw)
	golden(t, "operator_policy", bearer(t, "GET", s.URL+acc+"/policy", op, nil).Raw)
	golden(t, "operator_policy_404", bearer(t, "GET", s.URL+"/operator/accounts/AC00000000000000000000000000000000/policy", op, nil).Raw)

	// Codes pumped to one range until the guard blocks it.
	var blocked response
	for i := 0; blocked.Status == 0; i++ {
		r := s.send(t, "login", fmt.Sprintf("+96279031%04d", i))
		switch {
		case r.Status == 403 && r.num("code") == 60410:
			blocked = r
		case r.Status != 201 || i > 50:
			t.Fatalf("pumping codes: %d %s", r.Status, r.Raw)
		}
	}
	golden(t, "2fa_send_403_pumping", blocked.Raw)
	golden(t, "guard_blocks", call(t, "GET", s.URL+"/guard/blocks", s.SID, s.Token, "", "").Raw)
	golden(t, "operator_blocks", bearer(t, "GET", s.URL+acc+"/guard/blocks", op, nil).Raw)
	lift := func() response { return bearer(t, "DELETE", s.URL+acc+"/guard/blocks/+96279031", op, nil) }
	lifted := lift()
	for deadline := time.Now().Add(5 * time.Second); lifted.Status == 404 && time.Now().Before(deadline); lifted = lift() {
		time.Sleep(10 * time.Millisecond) // the block is stored off the request's path
	}
	golden(t, "operator_lift", lifted.Raw)
	golden(t, "operator_lift_404", lift().Raw)

	// Ceilings: codes only, and a budget of one SMS a day (the codes sent
	// above count: the next is over it).
	set := func(v url.Values) response { return bearer(t, "POST", s.URL+acc+"/policy", op, v) }
	golden(t, "operator_policy_set", set(url.Values{"countries": {"jo,gb"}, "daily_budget": {"1"}, "messages": {"codes"}}).Raw)
	golden(t, "operator_policy_400", set(url.Values{"budget": {"5"}}).Raw)
	msgs := "/2010-04-01/Accounts/" + s.SID + "/Messages.json"
	message := url.Values{"To": {"+962771234567"}, "From": {"MyApp"}, "Body": {"Your order has shipped"}}
	golden(t, "twilio_message_403_codes_only", s.postForm(t, msgs, message).Raw)
	golden(t, "2fa_send_429_budget", s.send(t, "login", "+962771234568").Raw)
	set(url.Values{"messages": {"any"}})
	golden(t, "twilio_message_429_budget", s.postForm(t, msgs, message).Raw)
	golden(t, "operator_audit", bearer(t, "GET", s.URL+"/operator/audit?kind=policy&PageSize=1", op, nil).Raw)
}
