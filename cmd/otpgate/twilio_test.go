package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	twclient "github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// rewrite sends every request of the official SDK to the local otpgate.
type rewrite struct{ target *url.URL }

func (rw rewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = rw.target.Scheme, rw.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

// twilioClient is the official Twilio Go SDK pointed at s.
func twilioClient(t *testing.T, s *testServer) *twilio.RestClient {
	t.Helper()
	u, _ := url.Parse(s.URL)
	c := &twclient.Client{Credentials: twclient.NewCredentials(s.SID, s.Token), HTTPClient: &http.Client{Transport: rewrite{u}, Timeout: 10 * time.Second}}
	c.SetAccountSid(s.SID)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
}

func TestTwilioSDK(t *testing.T) {
	s := mustServe(t, nil)
	tw := twilioClient(t, s)

	// Create: Arabic, over one segment; the reply decodes into the SDK's type.
	body := "رمز التحقق الخاص بك هو 123456، لا تشاركه مع أحد. شكرا لاستخدامك خدمتنا اليوم"
	p := &openapi.CreateMessageParams{}
	p.SetTo("0790320012").SetFrom("MyApp").SetBody(body)
	m, err := tw.Api.CreateMessage(p)
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if *m.To != "+962790320012" || *m.From != "MyApp" || *m.Body != body || *m.Status != "queued" || *m.NumSegments != "2" || *m.Direction != "outbound-api" {
		t.Fatalf("created message: to %v from %v status %v segments %v", *m.To, *m.From, *m.Status, *m.NumSegments)
	}

	// Fetch: the sandbox delivers at once.
	deadline := time.Now().Add(5 * time.Second)
	var got *openapi.ApiV2010Message
	for {
		got, err = tw.Api.FetchMessage(*m.Sid, nil)
		if err != nil {
			t.Fatalf("FetchMessage: %v", err)
		}
		if *got.Status == "delivered" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if *got.Status != "delivered" || got.DateSent == nil {
		t.Fatalf("fetched status %v date_sent %v, want delivered with a send date", *got.Status, got.DateSent)
	}

	// Errors decode as TwilioRestError.
	bad := &openapi.CreateMessageParams{}
	bad.SetTo("+96265000000").SetFrom("MyApp").SetBody("hi")
	_, err = tw.Api.CreateMessage(bad)
	var te *twclient.TwilioRestError
	if !errors.As(err, &te) || te.Code != 21211 || te.Status != 400 || te.Message == "" {
		t.Fatalf("landline To: error %#v, want TwilioRestError 21211", err)
	}
	_, err = tw.Api.FetchMessage("SM"+fmt.Sprintf("%032x", 1), nil)
	if !errors.As(err, &te) || te.Status != 404 || te.Code != 20404 {
		t.Fatalf("unknown sid: %#v, want TwilioRestError 404/20404", err)
	}

	// Redact.
	up := &openapi.UpdateMessageParams{}
	up.SetBody("")
	red, err := tw.Api.UpdateMessage(*m.Sid, up)
	if err != nil || *red.Body != "" {
		t.Fatalf("redact: %v %v", err, red)
	}
	if f, _ := tw.Api.FetchMessage(*m.Sid, nil); *f.Body != "" {
		t.Fatalf("body after redaction: %q", *f.Body)
	}

	// List with paging (PageSize 3 over 8 messages) and filters.
	for i := range 7 {
		p := &openapi.CreateMessageParams{}
		p.SetTo(fmt.Sprintf("+96277%07d", i)).SetFrom("MyApp").SetBody(fmt.Sprintf("message %d", i))
		if _, err := tw.Api.CreateMessage(p); err != nil {
			t.Fatal(err)
		}
	}
	lp := &openapi.ListMessageParams{}
	lp.SetPageSize(3)
	all, err := tw.Api.ListMessage(lp)
	if err != nil {
		t.Fatalf("ListMessage: %v", err)
	}
	if len(all) != 8 {
		t.Fatalf("listed %d messages over pages of 3, want 8", len(all))
	}
	seen := map[string]bool{}
	for i, msg := range all {
		if seen[*msg.Sid] {
			t.Fatalf("message %s listed twice", *msg.Sid)
		}
		seen[*msg.Sid] = true
		if i > 0 && *all[i-1].Sid < *msg.Sid {
			t.Fatalf("not newest first at %d", i)
		}
	}
	fp := &openapi.ListMessageParams{}
	fp.SetTo("+962770000003")
	one, err := tw.Api.ListMessage(fp)
	if err != nil || len(one) != 1 || *one[0].Body != "message 3" {
		t.Fatalf("filter To: %v %v", one, err)
	}
	today := time.Now().UTC()
	dp := &openapi.ListMessageParams{}
	dp.SetDateSentAfter(today.Add(-time.Hour)).SetDateSentBefore(today.Add(time.Hour))
	waitAllSent(t, tw, 8)
	recent, err := tw.Api.ListMessage(dp)
	if err != nil || len(recent) != 8 {
		t.Fatalf("DateSent> / DateSent< around now: %d messages, %v; want 8", len(recent), err)
	}
	dp2 := &openapi.ListMessageParams{}
	dp2.SetDateSentBefore(today.Add(-48 * time.Hour))
	old, err := tw.Api.ListMessage(dp2)
	if err != nil || len(old) != 0 {
		t.Fatalf("DateSent< two days ago: %d messages, %v; want none", len(old), err)
	}

	// Delete.
	if err := tw.Api.DeleteMessage(*m.Sid, nil); err != nil {
		t.Fatalf("DeleteMessage: %v", err)
	}
	if _, err := tw.Api.FetchMessage(*m.Sid, nil); !errors.As(err, &te) || te.Status != 404 {
		t.Fatalf("fetch after delete: %v", err)
	}
}

func waitAllSent(t *testing.T, tw *twilio.RestClient, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := &openapi.ListMessageParams{}
		p.SetPageSize(100)
		all, err := tw.Api.ListMessage(p)
		if err != nil {
			t.Fatal(err)
		}
		sent := 0
		for _, m := range all {
			if m.DateSent != nil {
				sent++
			}
		}
		if sent >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages sent", sent, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Cancel works while a message is queued: here, while no SMSC is bound.
func TestTwilioSDKCancel(t *testing.T) {
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+freeAddr(t)+"?name=down")
	tw := twilioClient(t, s)
	p := &openapi.CreateMessageParams{}
	p.SetTo("0790320012").SetFrom("MyApp").SetBody("later")
	m, err := tw.Api.CreateMessage(p)
	if err != nil {
		t.Fatal(err)
	}
	up := &openapi.UpdateMessageParams{}
	up.SetStatus("canceled")
	var c *openapi.ApiV2010Message
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The dispatcher holds the message for a moment before it parks it.
		c, err = tw.Api.UpdateMessage(*m.Sid, up)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || *c.Status != "canceled" {
		t.Fatalf("cancel: %v %v", err, c)
	}
	_, err = tw.Api.UpdateMessage(*m.Sid, up)
	var te *twclient.TwilioRestError
	if !errors.As(err, &te) || te.Code != 30409 {
		t.Fatalf("cancel twice: %v, want 30409", err)
	}
	red := &openapi.UpdateMessageParams{}
	red.SetBody("")
	if r, err := tw.Api.UpdateMessage(*m.Sid, red); err != nil || *r.Body != "" {
		t.Fatalf("redact a canceled message: %v", err)
	}
}

// Verification SMS are in the message log, with the code masked.
func TestVerificationSMSMaskedInMessageLog(t *testing.T) {
	s := mustServe(t, nil)
	if r := s.send(t, "app", "0790320012"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, "0790320012", 1)[0]
	msgs, err := twilioClient(t, s).Api.ListMessage(&openapi.ListMessageParams{})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("list: %v %v", msgs, err)
	}
	if b := *msgs[0].Body; b != "Your verification code is: ******" || strings.Contains(b, code) {
		t.Fatalf("verification SMS in the log: %q", b)
	}
}
