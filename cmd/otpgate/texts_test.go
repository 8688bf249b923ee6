package main

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/policy"
)

// lastBody is the newest message's text in the sandbox inbox for number.
func (s *testServer) lastBody(t *testing.T, number string) string {
	t.Helper()
	s.codes(t, number, 1)
	r := call(t, "GET", s.URL+"/sandbox/messages?to="+url.QueryEscape(number), s.SID, s.Token, "", "")
	msgs, _ := r.Body["messages"].([]any)
	body, _ := msgs[0].(map[string]any)["body"].(string)
	return body
}

// Codes in Arabic and English, as a user receives them: the service's
// default locale, the request's, the destination's country, the service's
// own template, the app hash and the WebOTP line; the codes verify; bad
// settings are refused naming the parameter.
func TestCodeTexts(t *testing.T) {
	s := mustServe(t, nil)
	form := func(path string, v url.Values) response {
		t.Helper()
		return call(t, "POST", s.URL+path, s.SID, s.Token, "application/x-www-form-urlencoded", v.Encode())
	}
	svc := form("/v2/Services", url.Values{"FriendlyName": {"Wallet"}, "Locale": {"ar"}, "WebOtpDomain": {"pay.example.com"},
		"Template.en": {"{code} is your {friendly_name} code. Never share it."}})
	if svc.Status != 201 || svc.str("locale") != "ar" || svc.str("web_otp_domain") != "pay.example.com" {
		t.Fatalf("create service: %d %s", svc.Status, svc.Raw)
	}
	va := svc.str("sid")

	// The service's default: Arabic, with the WebOTP line.
	if r := form("/v2/Services/"+va+"/Verifications", url.Values{"To": {"+962790330001"}, "Channel": {"sms"}}); r.Status != 201 {
		t.Fatalf("verification: %d %s", r.Status, r.Raw)
	}
	body := s.lastBody(t, "+962790330001")
	code := s.codes(t, "+962790330001", 1)[0]
	if want := "رمز التحقق الخاص بك في Wallet هو " + code + "\n\n@pay.example.com #" + code; body != want {
		t.Fatalf("Arabic code SMS:\n%q\nwant\n%q", body, want)
	}
	if r := s.check(t, "Wallet", "+962790330001", code); r.Body["valid"] != true {
		t.Fatalf("its code: %s", r.Raw)
	}
	// The request's locale and an app hash: the service's English template,
	// the hash last (no WebOTP line then).
	if r := form("/v2/Services/"+va+"/Verifications", url.Values{"To": {"+962790330002"}, "Channel": {"sms"}, "Locale": {"en-GB"},
		"AppHash": {"FA+9qCX9VSu"}, "CustomFriendlyName": {"Wallet JO"}}); r.Status != 201 {
		t.Fatalf("verification in English: %d %s", r.Status, r.Raw)
	}
	code = s.codes(t, "+962790330002", 1)[0]
	if body, want := s.lastBody(t, "+962790330002"), code+" is your Wallet JO code. Never share it.\nFA+9qCX9VSu"; body != want {
		t.Fatalf("English code SMS with an app hash:\n%q\nwant\n%q", body, want)
	}
	// /2fa/send with a locale, to a service made by name: the built-in English text.
	if r := s.postJSON(t, "/2fa/send", map[string]string{"service": "shop", "from": "MyApp", "to": "0790330003", "locale": "en"}); r.Status != 201 {
		t.Fatalf("/2fa/send locale en: %d %s", r.Status, r.Raw)
	}
	code = s.codes(t, "0790330003", 1)[0]
	if body, want := s.lastBody(t, "0790330003"), "Your shop verification code is: "+code; body != want {
		t.Fatalf("/2fa/send in English: %q, want %q", body, want)
	}
	// Locale by country: Arabic to Jordan, English to the UK.
	by := form("/v2/Services", url.Values{"FriendlyName": {"Global"}, "LocaleByCountry": {"true"}})
	s.allowCountries(t, "GB,JO")
	for number, arabic := range map[string]bool{"+962790330004": true, "+447400123456": false} {
		if r := form("/v2/Services/"+by.str("sid")+"/Verifications", url.Values{"To": {number}, "Channel": {"sms"}}); r.Status != 201 {
			t.Fatalf("verification to %s: %d %s", number, r.Status, r.Raw)
		}
		if body := s.lastBody(t, number); strings.HasPrefix(body, "رمز") != arabic {
			t.Errorf("by country, to %s: %q", number, body)
		}
	}
	// Refusals name what is wrong.
	for _, tc := range []struct {
		path   string
		params url.Values
		names  string
	}{
		{"/v2/Services/" + va + "/Verifications", url.Values{"To": {"+962790330005"}, "Channel": {"sms"}, "Locale": {"de"}}, "'Locale'"},
		{"/v2/Services/" + va + "/Verifications", url.Values{"To": {"+962790330005"}, "Channel": {"sms"}, "AppHash": {"short"}}, "'AppHash'"},
		{"/v2/Services/" + va, url.Values{"WebOtpDomain": {"https://pay.example.com/x"}}, "'WebOtpDomain'"},
		{"/v2/Services/" + va, url.Values{"Template.ar": {"no code here"}}, "{code}"},
		{"/v2/Services/" + va, url.Values{"Locale": {"fr"}}, "'Locale'"},
		{"/2fa/send", url.Values{"service": {"shop"}, "from": {"MyApp"}, "to": {"0790330006"}, "locale": {"xx"}}, "'locale'"},
	} {
		if r := form(tc.path, tc.params); r.Status != 400 || !strings.Contains(r.str("message"), tc.names) {
			t.Errorf("%s %v: %d %s, want 400 naming %s", tc.path, tc.params, r.Status, r.Raw, tc.names)
		}
	}
}

// Verify v2's service settings beyond the text: the do-not-share warning
// (in the code's language), custom codes (refused until enabled), the code
// lifetime, the events URL (checked like a callback URL), and DeviceIp
// limiting codes like a rate_limit_key.
func TestVerifyV2ServiceSettings(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.Limits.PerKey = policy.Rate{Max: 1, Window: time.Hour}
		c.WebhookAllowPrivate = true // the test's events URL is on loopback
	})
	form := func(path string, v url.Values) response {
		t.Helper()
		return call(t, "POST", s.URL+path, s.SID, s.Token, "application/x-www-form-urlencoded", v.Encode())
	}
	svc := form("/v2/Services", url.Values{"FriendlyName": {"Bank"}, "DoNotShareWarningEnabled": {"true"}, "CodeTtlSeconds": {"120"}})
	if svc.Status != 201 || svc.Body["do_not_share_warning_enabled"] != true || svc.num("code_ttl_seconds") != 120 || svc.Body["custom_code_enabled"] != false {
		t.Fatalf("create: %d %s", svc.Status, svc.Raw)
	}
	va := svc.str("sid")
	verify := func(v url.Values) response {
		t.Helper()
		v.Set("Channel", "sms")
		return form("/v2/Services/"+va+"/Verifications", v)
	}
	if r := verify(url.Values{"To": {"+962790350001"}}); r.Status != 201 {
		t.Fatalf("verification: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, "+962790350001", 1)[0]
	if body := s.lastBody(t, "+962790350001"); body != "Your Bank verification code is: "+code+"\nDon't share this code with anyone." {
		t.Fatalf("with the warning: %q", body)
	}
	if r := verify(url.Values{"To": {"+962790350002"}, "Locale": {"ar"}}); r.Status != 201 {
		t.Fatal(r.Raw)
	}
	if body := s.lastBody(t, "+962790350002"); !strings.HasSuffix(body, "\nلا تشارك هذا الرمز مع أحد.") {
		t.Fatalf("the Arabic warning: %q", body)
	}
	// Custom codes: refused, then enabled.
	if r := verify(url.Values{"To": {"+962790350003"}, "CustomCode": {"1357"}}); r.Status != 400 || !strings.Contains(r.str("message"), "'CustomCode'") {
		t.Fatalf("a custom code, not enabled: %d %s", r.Status, r.Raw)
	}
	if r := form("/v2/Services/"+va, url.Values{"CustomCodeEnabled": {"true"}}); r.Status != 200 || r.Body["custom_code_enabled"] != true {
		t.Fatalf("enable custom codes: %d %s", r.Status, r.Raw)
	}
	if r := verify(url.Values{"To": {"+962790350003"}, "CustomCode": {"12"}}); r.Status != 400 || !strings.Contains(r.str("message"), "'CustomCode'") {
		t.Fatalf("a 2-digit custom code: %d %s", r.Status, r.Raw)
	}
	if r := verify(url.Values{"To": {"+962790350003"}, "CustomCode": {"1357"}}); r.Status != 201 {
		t.Fatalf("a custom code: %d %s", r.Status, r.Raw)
	}
	if c := s.codes(t, "+962790350003", 1)[0]; c != "1357" {
		t.Fatalf("the custom code sent: %q", c)
	}
	if r := form("/v2/Services/"+va+"/VerificationCheck", url.Values{"To": {"+962790350003"}, "Code": {"1357"}}); r.str("status") != "approved" {
		t.Fatalf("checking the custom code: %s", r.Raw)
	}
	// The events URL is checked like a callback URL; the lifetime's range.
	for _, bad := range []url.Values{{"EventsUrl": {"ftp://example.com/x"}}, {"EventsUrl": {"not a URL"}}, {"CodeTtlSeconds": {"30"}}} {
		if r := form("/v2/Services/"+va, bad); r.Status != 400 {
			t.Errorf("update %v: %d %s, want 400", bad, r.Status, r.Raw)
		}
	}
	if r := form("/v2/Services/"+va, url.Values{"EventsUrl": {"http://127.0.0.1:9/events"}}); r.Status != 200 || r.str("events_url") != "http://127.0.0.1:9/events" {
		t.Fatalf("an events URL: %d %s", r.Status, r.Raw)
	}
	// DeviceIp limits codes like a rate_limit_key (here 1 an hour).
	if r := verify(url.Values{"To": {"+962790350004"}, "DeviceIp": {"203.0.113.9"}}); r.Status != 201 {
		t.Fatal(r.Raw)
	}
	if r := verify(url.Values{"To": {"+962790350005"}, "DeviceIp": {"203.0.113.9"}}); r.Status != 429 || r.num("code") != 60203 {
		t.Fatalf("a second code from one device IP under a limit of 1: %d %s", r.Status, r.Raw)
	}
}
