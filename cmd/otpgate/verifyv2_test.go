package main

import (
	"errors"
	"strings"
	"testing"

	twclient "github.com/twilio/twilio-go/client"
	verifyv2 "github.com/twilio/twilio-go/rest/verify/v2"
)

// Twilio Verify v2 through the official Go SDK (twilio-go v1.31.0, its base
// URL redirected): services created, fetched, listed page by page and
// updated; a verification created, fetched and checked by To and by
// VerificationSid; its errors decoding as TwilioRestError with Verify's
// codes; and a code sent by either API approved through the other.
func TestVerifyV2SDK(t *testing.T) {
	s := mustServe(t, nil)
	tw := twilioClient(t, s)
	restErr := func(err error) *twclient.TwilioRestError {
		t.Helper()
		var te *twclient.TwilioRestError
		if !errors.As(err, &te) {
			t.Fatalf("error %#v, want a TwilioRestError", err)
		}
		return te
	}

	// Services.
	cp := &verifyv2.CreateServiceParams{}
	cp.SetFriendlyName("My App").SetCodeLength(6)
	svc, err := tw.VerifyV2.CreateService(cp)
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	if len(*svc.Sid) != 34 || (*svc.Sid)[:2] != "VA" || *svc.FriendlyName != "My App" || svc.CodeLength != 6 || *svc.AccountSid != s.SID || svc.DateCreated == nil {
		t.Fatalf("created service: %+v", svc)
	}
	dup := &verifyv2.CreateServiceParams{}
	dup.SetFriendlyName("My App")
	if _, err := tw.VerifyV2.CreateService(dup); restErr(err).Code != 60200 || !containsAll(restErr(err).Message, "FriendlyName", *svc.Sid) {
		t.Fatalf("a second service of that name: %v", err)
	}
	for _, n := range []string{"Two", "Three"} {
		p := &verifyv2.CreateServiceParams{}
		p.SetFriendlyName(n)
		if _, err := tw.VerifyV2.CreateService(p); err != nil {
			t.Fatalf("CreateService %s: %v", n, err)
		}
	}
	lp := &verifyv2.ListServiceParams{}
	lp.SetPageSize(2)
	all, err := tw.VerifyV2.ListService(lp)
	if err != nil || len(all) != 3 || *all[0].FriendlyName != "My App" || *all[2].FriendlyName != "Three" {
		t.Fatalf("ListService over pages of 2: %d services, %v", len(all), err)
	}
	up := &verifyv2.UpdateServiceParams{}
	up.SetCodeLength(8)
	if u, err := tw.VerifyV2.UpdateService(*svc.Sid, up); err != nil || u.CodeLength != 8 {
		t.Fatalf("UpdateService CodeLength 8: %+v %v", u, err)
	}
	if f, err := tw.VerifyV2.FetchService(*svc.Sid); err != nil || f.CodeLength != 8 || *f.FriendlyName != "My App" {
		t.Fatalf("FetchService: %+v %v", f, err)
	}
	if _, err := tw.VerifyV2.FetchService("VA00000000000000000000000000000000"); restErr(err).Status != 404 || restErr(err).Code != 20404 {
		t.Fatalf("an unknown service: %v", err)
	}

	// A verification, its code, a wrong check, a right check by VerificationSid.
	vp := &verifyv2.CreateVerificationParams{}
	vp.SetTo("+962790320012").SetChannel("sms")
	v, err := tw.VerifyV2.CreateVerification(*svc.Sid, vp)
	if err != nil {
		t.Fatalf("CreateVerification: %v", err)
	}
	if *v.Status != "pending" || *v.Channel != "sms" || *v.To != "+962790320012" || *v.ServiceSid != *svc.Sid || v.SendCodeAttempts == nil || len(*v.SendCodeAttempts) != 1 {
		t.Fatalf("created verification: %+v", v)
	}
	code := s.codes(t, "+962790320012", 1)[0]
	if len(code) != 8 {
		t.Fatalf("code %q: the service's codes have 8 digits since its update", code)
	}
	if f, err := tw.VerifyV2.FetchVerification(*svc.Sid, *v.Sid); err != nil || *f.Sid != *v.Sid || *f.Status != "pending" {
		t.Fatalf("FetchVerification: %+v %v", f, err)
	}
	wrong := &verifyv2.CreateVerificationCheckParams{}
	wrong.SetTo("+962790320012").SetCode(wrongCode(code))
	if c, err := tw.VerifyV2.CreateVerificationCheck(*svc.Sid, wrong); err != nil || *c.Status != "pending" || *c.Valid {
		t.Fatalf("a wrong code: %+v %v, want 200 pending", c, err)
	}
	right := &verifyv2.CreateVerificationCheckParams{}
	right.SetVerificationSid(*v.Sid).SetCode(code)
	if c, err := tw.VerifyV2.CreateVerificationCheck(*svc.Sid, right); err != nil || *c.Status != "approved" || !*c.Valid || *c.Sid != *v.Sid {
		t.Fatalf("the right code by VerificationSid: %+v %v", c, err)
	}
	if f, _ := tw.VerifyV2.FetchVerification(*svc.Sid, *v.Sid); *f.Status != "approved" {
		t.Fatalf("the verification after approval: %s", *f.Status)
	}
	if _, err := tw.VerifyV2.CreateVerificationCheck(*svc.Sid, right); restErr(err).Status != 404 || restErr(err).Code != 20404 {
		t.Fatalf("checking an approved verification again: %v", err)
	}

	// Errors: another channel, a custom code, a bad number, 5 wrong codes.
	call := &verifyv2.CreateVerificationParams{}
	call.SetTo("+962790320013").SetChannel("call")
	if _, err := tw.VerifyV2.CreateVerification(*svc.Sid, call); restErr(err).Status != 400 || restErr(err).Code != 60200 || !containsAll(restErr(err).Message, "Channel", "sms") {
		t.Fatalf("Channel call: %v", err)
	}
	badTo := &verifyv2.CreateVerificationParams{}
	badTo.SetTo("12").SetChannel("sms")
	if _, err := tw.VerifyV2.CreateVerification(*svc.Sid, badTo); restErr(err).Status != 400 || restErr(err).Code != 60200 || !containsAll(restErr(err).Message, "'To'") {
		t.Fatalf("To 12: %v", err)
	}
	vp2 := &verifyv2.CreateVerificationParams{}
	vp2.SetTo("+962790320014").SetChannel("sms").SetRateLimits(map[string]any{"end_user_ip_address": "203.0.113.7"})
	if _, err := tw.VerifyV2.CreateVerification(*svc.Sid, vp2); err != nil {
		t.Fatalf("CreateVerification with RateLimits: %v", err)
	}
	guess := &verifyv2.CreateVerificationCheckParams{}
	guess.SetTo("+962790320014").SetCode("00000000")
	for range 5 {
		tw.VerifyV2.CreateVerificationCheck(*svc.Sid, guess)
	}
	if _, err := tw.VerifyV2.CreateVerificationCheck(*svc.Sid, guess); restErr(err).Status != 429 || restErr(err).Code != 60202 {
		t.Fatalf("a 6th wrong code: %v", err)
	}

	// A code sent by /2fa/send (the service by its name) approved through
	// Verify v2, and the reverse.
	if r := s.send(t, "My App", "0790320015"); r.Status != 201 {
		t.Fatalf("/2fa/send: %d %s", r.Status, r.Raw)
	}
	c1 := &verifyv2.CreateVerificationCheckParams{}
	c1.SetTo("+962790320015").SetCode(s.codes(t, "0790320015", 1)[0])
	if c, err := tw.VerifyV2.CreateVerificationCheck(*svc.Sid, c1); err != nil || *c.Status != "approved" {
		t.Fatalf("a /2fa/send code checked through Verify v2: %+v %v", c, err)
	}
	vp3 := &verifyv2.CreateVerificationParams{}
	vp3.SetTo("+962790320016").SetChannel("sms")
	if _, err := tw.VerifyV2.CreateVerification(*svc.Sid, vp3); err != nil {
		t.Fatal(err)
	}
	if r := s.check(t, "My App", "0790320016", s.codes(t, "0790320016", 1)[0]); r.Status != 200 || r.Body["valid"] != true {
		t.Fatalf("a Verify v2 code checked through /2fa/verify: %d %s", r.Status, r.Raw)
	}
	// Canceled: its code no longer verifies, and a new code can be sent at
	// once. Approved without a code (the app verified the user otherwise).
	vp4 := &verifyv2.CreateVerificationParams{}
	vp4.SetTo("+962790320017").SetChannel("sms")
	v4, err := tw.VerifyV2.CreateVerification(*svc.Sid, vp4)
	if err != nil {
		t.Fatal(err)
	}
	code4 := s.codes(t, "+962790320017", 1)[0]
	cancel := &verifyv2.UpdateVerificationParams{}
	cancel.SetStatus("canceled")
	if u, err := tw.VerifyV2.UpdateVerification(*svc.Sid, *v4.Sid, cancel); err != nil || *u.Status != "canceled" {
		t.Fatalf("cancel: %+v %v", u, err)
	}
	c4 := &verifyv2.CreateVerificationCheckParams{}
	c4.SetTo("+962790320017").SetCode(code4)
	if _, err := tw.VerifyV2.CreateVerificationCheck(*svc.Sid, c4); restErr(err).Status != 404 {
		t.Fatalf("the code of a canceled verification: %v", err)
	}
	if _, err := tw.VerifyV2.UpdateVerification(*svc.Sid, *v4.Sid, cancel); restErr(err).Status != 404 {
		t.Fatalf("canceling it twice: %v", err)
	}
	bad := &verifyv2.UpdateVerificationParams{}
	bad.SetStatus("expired")
	if _, err := tw.VerifyV2.UpdateVerification(*svc.Sid, *v4.Sid, bad); restErr(err).Code != 60200 || !containsAll(restErr(err).Message, "'Status'") {
		t.Fatalf("Status expired: %v", err)
	}
	v5, err := tw.VerifyV2.CreateVerification(*svc.Sid, vp4)
	if err != nil || *v5.Sid == *v4.Sid {
		t.Fatalf("a new verification after the cancel: %+v %v", v5, err)
	}
	approve := &verifyv2.UpdateVerificationParams{}
	approve.SetStatus("approved")
	if u, err := tw.VerifyV2.UpdateVerification(*svc.Sid, *v5.Sid, approve); err != nil || *u.Status != "approved" || !*u.Valid {
		t.Fatalf("approve: %+v %v", u, err)
	}

	// Deleted: it is gone, its pending codes no longer verify, and its name
	// is free again.
	dp := &verifyv2.CreateServiceParams{}
	dp.SetFriendlyName("Temp")
	tmp, err := tw.VerifyV2.CreateService(dp)
	if err != nil {
		t.Fatal(err)
	}
	tv := &verifyv2.CreateVerificationParams{}
	tv.SetTo("+962790320018").SetChannel("sms")
	if _, err := tw.VerifyV2.CreateVerification(*tmp.Sid, tv); err != nil {
		t.Fatal(err)
	}
	tcode := s.codes(t, "+962790320018", 1)[0]
	if err := tw.VerifyV2.DeleteService(*tmp.Sid); err != nil {
		t.Fatalf("DeleteService: %v", err)
	}
	if _, err := tw.VerifyV2.FetchService(*tmp.Sid); restErr(err).Status != 404 {
		t.Fatalf("the deleted service: %v", err)
	}
	if r := s.check(t, "Temp", "+962790320018", tcode); r.Status != 404 {
		t.Fatalf("a code of the deleted service: %d %s", r.Status, r.Raw)
	}
	if err := tw.VerifyV2.DeleteService(*tmp.Sid); restErr(err).Status != 404 {
		t.Fatalf("deleting it twice: %v", err)
	}
	if again, err := tw.VerifyV2.CreateService(dp); err != nil || *again.Sid == *tmp.Sid {
		t.Fatalf("a new service of its name: %+v %v", again, err)
	}

	// Another account sees none of it.
	other := mustCreateAccount(t, s)
	otw := twilioClient(t, &testServer{URL: s.URL, SID: other.SID, Token: other.Token})
	if _, err := otw.VerifyV2.FetchService(*svc.Sid); restErr(err).Status != 404 {
		t.Fatalf("another account fetching the service: %v", err)
	}
	if list, err := otw.VerifyV2.ListService(nil); err != nil || len(list) != 0 {
		t.Fatalf("another account's services: %d %v", len(list), err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
