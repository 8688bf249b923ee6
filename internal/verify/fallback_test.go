package verify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
)

// withEmail is a server that sends email.
func withEmail(pc *pipeline.Config, vc *verify.Config) {
	pc.EmailFrom, vc.Email = "codes@example.com", true
}

// fallbackService makes the service "login" with a fallback to email after
// 30 s.
func (e *env) fallbackService(t *testing.T) verification.Service {
	t.Helper()
	svc := e.svcs.New("AC1", "login")
	svc.FallbackChannel, svc.FallbackAfter = verification.FallbackEmail, 30*time.Second
	svc, _, err := e.svcs.Create(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func (e *env) sendFallback(t *testing.T, to, address string) verify.SendResult {
	t.Helper()
	res, err := e.v.Send(ctx, verify.SendRequest{AccountSID: "AC1", Service: "login", From: "MyApp", To: to, FallbackTo: address})
	if err != nil {
		t.Fatalf("Send(%s, FallbackTo %s): %v", to, address, err)
	}
	return res
}

func (e *env) fallBack(t *testing.T, want int) {
	t.Helper()
	if n, err := e.v.FallBack(ctx); err != nil || n != want {
		t.Fatalf("FallBack: %d %v, want %d", n, err, want)
	}
}

func (e *env) fallbacks(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "otpgate_verify_fallbacks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// A code SMS not delivered within the service's FallbackAfter is followed
// by a code by email, in the same verification: the emailed code approves
// a check by the number, and the codes say sms then email.
func TestFallbackEmailsTheSameVerification(t *testing.T) {
	e := newEnv(t, withEmail)
	e.fallbackService(t)
	res := e.sendFallback(t, "0790320012", "Jo@Example.com")
	e.fallBack(t, 0)
	e.clk.Add(29 * time.Second)
	e.fallBack(t, 0)
	e.clk.Add(time.Second)
	e.fallBack(t, 1)
	e.box.mu.Lock()
	sent := append([]string(nil), e.box.sent...)
	e.box.mu.Unlock()
	if len(sent) != 2 || !strings.Contains(sent[1], "Your login verification code is: ") {
		t.Fatalf("sent: %q", sent)
	}
	code := e.box.last(t)
	v, err := e.st.VerificationBySID(ctx, "AC1", res.Verification.SID)
	if err != nil || v.SendAttempts != 2 || v.Channel != "sms" || v.From != "MyApp" || len(v.Codes) != 2 ||
		v.CodeChannel(v.Codes[0]) != "sms" || v.CodeChannel(v.Codes[1]) != "email" {
		t.Fatalf("the verification after its fallback: %+v %v", v, err)
	}
	e.fallBack(t, 0) // sent once
	if got, err := e.check("+962790320012", code); err != nil || !got.Valid {
		t.Fatalf("the emailed code checked by the number: %+v %v", got, err)
	}
	if n := e.fallbacks(t, verify.FallbackSent); n != 1 {
		t.Fatalf("fallbacks sent: %v", n)
	}
	msgs, err := e.st.Messages(ctx, message.Filter{AccountSID: "AC1", To: "Jo@example.com"})
	if err != nil || len(msgs) != 1 || msgs[0].Channel != message.Email || msgs[0].VerificationSID != v.SID || strings.Contains(msgs[0].Body, code) {
		t.Fatalf("the email in the log: %+v %v", msgs, err)
	}
}

// No email when the SMS was delivered, the verification was approved
// first, or it had all of its sends; each is counted.
func TestFallbackSkipped(t *testing.T) {
	e := newEnv(t, withEmail)
	e.fallbackService(t)
	delivered := e.sendFallback(t, "0790320012", "a@example.com")
	if err := e.st.RecordOutcome(ctx, message.Outcome{SID: delivered.MessageSID, Status: message.Delivered, At: e.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	e.sendFallback(t, "0790320013", "b@example.com")
	if got, err := e.check("0790320013", e.box.last(t)); err != nil || !got.Valid {
		t.Fatalf("check: %+v %v", got, err)
	}
	for i := range verification.MaxSends {
		e.sendFallback(t, "0790320014", "c@example.com")
		if i < verification.MaxSends-1 {
			e.clk.Add(time.Second)
		}
	}
	e.clk.Add(30 * time.Second)
	before := len(e.box.sent)
	e.fallBack(t, 3)
	if len(e.box.sent) != before {
		t.Fatalf("an email was sent: %q", e.box.sent[before:])
	}
	for result, want := range map[string]float64{verify.FallbackSkippedDelivered: 1, verify.FallbackSkippedResolved: 1, verify.FallbackRefused: 1, verify.FallbackSent: 0} {
		if n := e.fallbacks(t, result); n != want {
			t.Errorf("fallbacks %s: %v, want %v", result, n, want)
		}
	}
	e.fallBack(t, 0)
}

// FallbackTo is refused, naming the field, where no email can follow.
func TestFallbackToRefused(t *testing.T) {
	e := newEnv(t, withEmail)
	e.fallbackService(t)
	if _, _, err := e.svcs.Create(ctx, e.svcs.New("AC1", "plain")); err != nil {
		t.Fatal(err)
	}
	noEmail := newEnv(t)
	noEmail.fallbackService(t)
	for _, tc := range []struct {
		name    string
		e       *env
		req     verify.SendRequest
		problem string
	}{
		{"bad address", e, verify.SendRequest{To: "0790320012", FallbackTo: "jo@localhost"}, "localhost"},
		{"two addresses", e, verify.SendRequest{To: "0790320012", FallbackTo: "a@example.com, b@example.com"}, ""},
		{"an email's fallback", e, verify.SendRequest{To: "x@example.com", Channel: message.Email, FallbackTo: "a@example.com"}, "only a code by SMS"},
		{"a service without fallback", e, verify.SendRequest{Service: "plain", To: "0790320012", FallbackTo: "a@example.com"}, "FallbackChannel"},
		{"a server without email", noEmail, verify.SendRequest{To: "0790320012", FallbackTo: "a@example.com"}, "sends no email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.AccountSID, tc.req.From = "AC1", "MyApp"
			if tc.req.Service == "" {
				tc.req.Service = "login"
			}
			_, err := tc.e.v.Send(ctx, tc.req)
			oe := otpgate.AsError(err)
			if oe == nil || oe.Field != "fallback_to" || !strings.Contains(oe.Error(), tc.problem) {
				t.Fatalf("%v, want a fallback_to error saying %q", err, tc.problem)
			}
		})
	}
	if n := len(e.box.sent) + len(noEmail.box.sent); n != 0 {
		t.Fatalf("%d codes were sent", n)
	}
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(""), "otpgate_verify_sends_total"); err != nil {
		t.Error(err)
	}
}
