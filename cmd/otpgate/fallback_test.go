package main

import (
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/smpptest"
	"github.com/otpgate/otpgate/internal/smtptest"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// fallbackServer is otpgate sending SMS to a node-smpp SMSC that sends no
// receipt of its own (the test sends each one) and email to aiosmtpd, on
// a fake clock, with a service "Acme" that falls back to email after 5 s.
type fallbackServer struct {
	*testServer
	peer  *smpptest.Peer
	relay *smtptest.Relay
	clock *fakeClock
	logs  *syncbuf.Buffer
	base  string // the service's Verify v2 path
}

func startFallback(t *testing.T, db string) *fallbackServer {
	f := &fallbackServer{peer: smpptest.Start(t, smpptest.Options{}), relay: smtptest.Start(t, smtptest.Options{TLS: true}),
		clock: &fakeClock{now: time.Now()}, logs: &syncbuf.Buffer{}}
	f.testServer = mustServeLogging(t, f.clock, f.logs, func(c *ServeConfig) {
		c.DB, c.LogLevel, c.NoAbuseGuard = db, "debug", true
		c.SMPP = []string{"smpp://otpgate:secret@" + f.peer.Addr + "?name=zain"}
		c.SMTP, c.SMTPFrom = relayURL(t, f.relay, "", ""), "codes@otpgate.example"
	})
	f.waitBound(t) // the clock stands still: a code parked for want of a bind would never go
	svc := f.postForm(t, "/v2/Services", url.Values{"FriendlyName": {"Acme"}, "FallbackChannel": {"email"}, "FallbackAfter": {"5"}})
	if svc.Status != 201 || svc.str("fallback_channel") != "email" || svc.Body["fallback_after"] != 5.0 {
		t.Fatalf("create service: %d %s", svc.Status, svc.Raw)
	}
	f.base = "/v2/Services/" + svc.str("sid")
	return f
}

// send sends a code SMS with a fallback to address (Verify v2, or the 2FA
// API), waits for its submit_sm, and returns its message's SID, its code
// and the verification's SID.
func (f *fallbackServer) send(t *testing.T, v2 bool, to, address, locale string) (sid, code, vsid string) {
	t.Helper()
	n := len(f.peer.Submits())
	if v2 {
		r := f.postForm(t, f.base+"/Verifications", url.Values{"To": {to}, "Channel": {"sms"}, "FallbackTo": {address}, "Locale": {locale}})
		if r.Status != 201 {
			t.Fatalf("Verify v2 send to %s: %d %s", to, r.Status, r.Raw)
		}
		vsid = r.str("sid")
	} else {
		r := f.postJSON(t, "/2fa/send", map[string]string{"service": "Acme", "from": "Acme", "to": to, "fallback_to": address, "locale": locale})
		if r.Status != 201 {
			t.Fatalf("/2fa/send to %s: %d %s", to, r.Status, r.Raw)
		}
		vsid = r.str("sid")
	}
	sub := f.peer.WaitSubmits(t, n+1, 10*time.Second)[n]
	msgs := f.waitMessages(t, to)
	return msgs[0].SID, sixDigits.FindString(string(sub.ShortMessage)), vsid
}

// waitMessages waits for the message to number to be sent, and returns
// the messages to it, newest first.
func (f *fallbackServer) waitMessages(t *testing.T, to string) []message.Message {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ms, err := f.store.Messages(t.Context(), message.Filter{AccountSID: f.SID, To: to})
		if err == nil && len(ms) > 0 && ms[0].ProviderID != "" {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMS to %s was sent: %v %v", to, ms, err)
		}
	}
}

func (f *fallbackServer) get(t *testing.T, path string) response {
	t.Helper()
	return call(t, "GET", f.URL+path, f.SID, f.Token, "", "")
}

// emailTo waits up to timeout for the n-th email and says it went to
// address, its text saying intro then the code; it returns the code.
func (f *fallbackServer) emailTo(t *testing.T, n int, address, intro string, timeout time.Duration) string {
	t.Helper()
	ms := f.relay.Wait(n, timeout)
	if len(ms) != n {
		t.Fatalf("the relay has %d emails, want %d (one to %s)", len(ms), n, address)
	}
	if got := strings.Join(ms[n-1].RcptTos, ","); got != address {
		t.Fatalf("email #%d went to %s, want %s", n, got, address)
	}
	code, text := codeOf(t, ms[n-1])
	if code == "" || !strings.Contains(text, intro+code) {
		t.Fatalf("the fallback email: %q", text)
	}
	return code
}

// A code SMS with a fallback to email, end to end through node-smpp and
// aiosmtpd: an SMS the handset reports undelivered falls back at once; one
// delivered, or whose verification was approved, never does; one never
// delivered falls back after the service's FallbackAfter (5 s on the
// server's clock), and its emailed code approves a check by the number;
// send_code_attempts says sms then email. Bad FallbackTo and FallbackAfter
// are refused naming the parameter.
func TestFallbackToEmail(t *testing.T) {
	eachStore(t, func(t *testing.T, db string) {
		f := startFallback(t, db)

		// Undelivered: the email follows at once, the clock unmoved.
		failedSID, _, _ := f.send(t, true, "+962790380001", "failed@example.com", "ar")
		sub := f.peer.Submits()[0]
		f.peer.Receipt(t, sub.MessageID, "UNDELIV", "011")
		f.waitMessage(t, failedSID, message.Undelivered)
		f.emailTo(t, 1, "failed@example.com", "رمز التحقق الخاص بك في Acme هو ", 5*time.Second) // in the SMS's language

		// Delivered, and approved: no email is owed.
		deliveredSID, _, _ := f.send(t, false, "+962790380002", "delivered@example.com", "")
		f.peer.Receipt(t, f.peer.Submits()[1].MessageID, "DELIVRD", "000")
		f.waitMessage(t, deliveredSID, message.Delivered)
		_, code, _ := f.send(t, false, "+962790380003", "approved@example.com", "")
		if r := f.check(t, "Acme", "+962790380003", code); r.Status != 200 || r.str("status") != "approved" {
			t.Fatalf("the SMS code: %d %s", r.Status, r.Raw)
		}

		// Never delivered: nothing before FallbackAfter, the email after.
		_, _, vsid := f.send(t, true, "+962790380004", "Silent@Example.com", "")
		time.Sleep(1500 * time.Millisecond) // the loop runs every second
		if n := len(f.relay.Messages()); n != 1 {
			t.Fatalf("%d emails before the fallback was due, want 1", n)
		}
		f.clock.Advance(5 * time.Second)
		code = f.emailTo(t, 2, "Silent@example.com", "Your Acme verification code is: ", 7*time.Second)
		v := f.get(t, f.base+"/Verifications/"+vsid)
		attempts, _ := v.Body["send_code_attempts"].([]any)
		if v.Status != 200 || v.str("channel") != "sms" || len(attempts) != 2 ||
			attempts[0].(map[string]any)["channel"] != "sms" || attempts[1].(map[string]any)["channel"] != "email" {
			t.Fatalf("the verification: %d %s", v.Status, v.Raw)
		}
		r := f.postForm(t, f.base+"/VerificationCheck", url.Values{"To": {"+962790380004"}, "Code": {code}})
		if r.Status != 200 || r.str("status") != "approved" {
			t.Fatalf("the emailed code checked by the number: %d %s", r.Status, r.Raw)
		}

		time.Sleep(1500 * time.Millisecond)
		if n := len(f.relay.Messages()); n != 2 {
			t.Fatalf("%d emails, want 2 (none for the delivered SMS or the approved verification)", n)
		}
		for result, want := range map[string]float64{"sent": 2, "skipped_delivered": 1, "skipped_resolved": 1, "refused": 0} {
			if got := metricstest.Value(t, f.registry, "otpgate_verify_fallbacks_total", "result", result); got != want {
				t.Errorf("fallbacks %s: %v, want %v", result, got, want)
			}
		}
		f.refusals(t)
		for _, secret := range []string{"failed@example.com", "Silent@", code} {
			if strings.Contains(f.logs.String(), secret) {
				t.Errorf("the log shows %q", secret)
			}
		}
	})
}

// refusals: bad fallback settings and addresses are refused naming the
// parameter, and write nothing.
func (f *fallbackServer) refusals(t *testing.T) {
	t.Helper()
	plain := f.postForm(t, "/v2/Services", url.Values{"FriendlyName": {"Plain"}})
	for _, tc := range []struct {
		path  string
		form  url.Values
		field string
	}{
		{f.base, url.Values{"FallbackAfter": {"4"}}, "'FallbackAfter'"},
		{f.base, url.Values{"FallbackAfter": {"601"}}, "'FallbackAfter'"},
		{f.base, url.Values{"FallbackChannel": {"voice"}}, "'FallbackChannel'"},
		{f.base + "/Verifications", url.Values{"To": {"+962790380005"}, "Channel": {"sms"}, "FallbackTo": {"jo@localhost"}}, "'FallbackTo'"},
		{f.base + "/Verifications", url.Values{"To": {"a@example.com"}, "Channel": {"email"}, "FallbackTo": {"b@example.com"}}, "'FallbackTo'"},
		{"/v2/Services/" + plain.str("sid") + "/Verifications", url.Values{"To": {"+962790380005"}, "Channel": {"sms"}, "FallbackTo": {"b@example.com"}}, "'FallbackTo'"},
	} {
		if r := f.postForm(t, tc.path, tc.form); r.Status != 400 || !strings.Contains(r.str("message"), tc.field) {
			t.Errorf("%s %v: %d %s", tc.path, tc.form, r.Status, r.Raw)
		}
	}
	if r := f.postJSON(t, "/2fa/send", map[string]string{"service": "Acme", "from": "Acme", "to": "+962790380005", "fallback_to": "not an address"}); r.Status != 400 ||
		!strings.Contains(r.str("message"), "'fallback_to'") {
		t.Errorf("/2fa/send with a bad fallback_to: %d %s", r.Status, r.Raw)
	}
	if svc := f.get(t, f.base); svc.Body["fallback_after"] != 5.0 || svc.str("fallback_channel") != "email" {
		t.Errorf("the service after refused changes: %s", svc.Raw)
	}
	if ms, _ := f.store.Messages(t.Context(), message.Filter{AccountSID: f.SID, To: "+962790380005"}); len(ms) != 0 {
		t.Errorf("a refused send wrote %d messages", len(ms))
	}
}

// Three nodes on one PostgreSQL database, each running the fallback loop:
// every SMS left undelivered past FallbackAfter gets exactly one email.
func TestClusterFallbackSentOnce(t *testing.T) {
	peer, relay := smpptest.Start(t, smpptest.Options{}), smtptest.Start(t, smtptest.Options{TLS: true})
	c := newCluster(t, 3, func(_ int, cfg *ServeConfig) {
		cfg.NoAbuseGuard, cfg.SMPP = true, []string{"smpp://otpgate:secret@" + peer.Addr + "?name=zain"}
		cfg.SMTP, cfg.SMTPFrom = relayURL(t, relay, "", ""), "codes@otpgate.example"
	})
	svc := c.nodes[0].postForm(t, "/v2/Services", url.Values{"FriendlyName": {"Acme"}, "FallbackChannel": {"email"}, "FallbackAfter": {"5"}})
	if svc.Status != 201 {
		t.Fatalf("create service: %d %s", svc.Status, svc.Raw)
	}
	const n = 9
	for i := range n {
		r := c.nodes[i%3].postForm(t, "/v2/Services/"+svc.str("sid")+"/Verifications", url.Values{
			"To": {fmt.Sprintf("+9627903800%02d", i)}, "Channel": {"sms"}, "FallbackTo": {fmt.Sprintf("user%d@example.com", i)}})
		if r.Status != 201 {
			t.Fatalf("send %d: %d %s", i, r.Status, r.Raw)
		}
	}
	peer.WaitSubmits(t, n, 10*time.Second)
	if ms := relay.Wait(n, 15*time.Second); len(ms) != n {
		t.Fatalf("%d emails, want %d", len(ms), n)
	}
	time.Sleep(2 * time.Second) // every node's loop ran again since
	seen := map[string]int{}
	for _, m := range relay.Messages() {
		seen[strings.Join(m.RcptTos, ",")]++
	}
	if len(seen) != n || len(relay.Messages()) != n {
		t.Fatalf("emails by recipient: %v, want one to each of %d", seen, n)
	}
	sent := 0.0
	for _, node := range c.nodes {
		sent += metricstest.Value(t, node.registry, "otpgate_verify_fallbacks_total", "result", "sent")
	}
	if sent != n {
		t.Fatalf("the nodes counted %v fallbacks sent, want %d", sent, n)
	}
}

// kill -9 of otpgate right after a code SMS with a fallback was
// acknowledged: after a restart the fallback is still owed, and its email
// goes out once the SMS is overdue.
func TestFallbackKill9(t *testing.T) {
	peer, relay := smpptest.Start(t, smpptest.Options{}), smtptest.Start(t, smtptest.Options{TLS: true})
	dataDir, addr := t.TempDir(), freeAddr(t)
	start := func() *child {
		c := &child{url: "http://" + addr}
		c.cmd = exec.Command(mustBuild(t), "serve", "--abuse-guard=off", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn",
			"--smpp", "smpp://otpgate:secret@"+peer.Addr+"?name=zain", "--smtp", relayURL(t, relay, "", ""), "--smtp-from", "codes@otpgate.example")
		return startCmd(t, c)
	}
	c := start()
	s := c.server(t)
	svc := s.postForm(t, "/v2/Services", url.Values{"FriendlyName": {"Acme"}, "FallbackChannel": {"email"}, "FallbackAfter": {"5"}})
	r := s.postForm(t, "/v2/Services/"+svc.str("sid")+"/Verifications", url.Values{"To": {"+962790380001"}, "Channel": {"sms"}, "FallbackTo": {"jo@example.com"}})
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	start()
	ms := relay.Wait(1, 15*time.Second)
	if len(ms) != 1 || strings.Join(ms[0].RcptTos, ",") != "jo@example.com" {
		t.Fatalf("after the restart the relay has %d emails", len(ms))
	}
	code, _ := codeOf(t, ms[0])
	if r := s.postForm(t, "/v2/Services/"+svc.str("sid")+"/VerificationCheck", url.Values{"To": {"+962790380001"}, "Code": {code}}); r.Status != 200 || r.str("status") != "approved" {
		t.Fatalf("the emailed code: %d %s", r.Status, r.Raw)
	}
}
