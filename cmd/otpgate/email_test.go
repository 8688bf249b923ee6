package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/smtptest"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// relayURL is --smtp for relay r: its password, when it has one, read
// from the environment variable OTPGATE_TEST_SMTP_PASS.
func relayURL(t *testing.T, r *smtptest.Relay, user, pass string) string {
	u := "smtp://"
	if user != "" {
		t.Setenv("OTPGATE_TEST_SMTP_PASS", pass)
		u += user + ":$OTPGATE_TEST_SMTP_PASS@"
	}
	u += r.Addr() + "?timeout=5s"
	if r.CAFile != "" {
		u += "&ca=" + url.QueryEscape(r.CAFile)
	}
	return u
}

// eachStore runs f on SQLite and, when OTPGATE_TEST_PG is set, PostgreSQL.
func eachStore(t *testing.T, f func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "") })
	t.Run("postgres", func(t *testing.T) { f(t, pgSchemaURL(t)) })
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// codeOf is the code in an email's text/plain part, which must be UTF-8.
func codeOf(t *testing.T, m smtptest.Message) (code, text string) {
	t.Helper()
	text, cs, err := m.Text()
	if err != nil || !strings.EqualFold(cs, "utf-8") {
		t.Fatalf("%s: text/plain part %q, charset %q, %v", m.Name, text, cs, err)
	}
	return sixDigits.FindString(text), text
}

// A code by email, end to end through a real relay (aiosmtpd) that offers
// STARTTLS and wants AUTH: Verify v2 with Channel=email to an IDN address
// and locale ar, the email in Arabic UTF-8 text/plain with an Arabic
// subject, approved by a check To the address; /2fa/send with "channel":
// "email"; a 550 fails the message with the reply; bad addresses and
// channels are refused naming the field; and the log shows neither the
// full address nor the relay's password.
func TestEmailCodesThroughRelay(t *testing.T) {
	eachStore(t, func(t *testing.T, db string) {
		relay := smtptest.Start(t, smtptest.Options{TLS: true, User: "relay", Pass: "relay-pw-9431"})
		logs := &syncbuf.Buffer{}
		s := mustServeLogging(t, nil, logs, func(c *ServeConfig) {
			c.DB, c.LogLevel = db, "debug"
			c.SMTP, c.SMTPFrom = relayURL(t, relay, "relay", "relay-pw-9431"), "codes@otpgate.example"
		})
		form := func(path string, v url.Values) response {
			t.Helper()
			return s.postForm(t, path, v)
		}
		svc := form("/v2/Services", url.Values{"FriendlyName": {"Acme"}})
		if svc.Status != 201 {
			t.Fatalf("create service: %d %s", svc.Status, svc.Raw)
		}
		base := "/v2/Services/" + svc.str("sid")
		v := form(base+"/Verifications", url.Values{"To": {"Jo.Smith@Bücher.example"}, "Channel": {"email"}, "Locale": {"ar"}})
		attempts, _ := v.Body["send_code_attempts"].([]any)
		if v.Status != 201 || v.str("channel") != "email" || v.str("to") != "Jo.Smith@xn--bcher-kva.example" || len(attempts) != 1 ||
			attempts[0].(map[string]any)["channel"] != "email" {
			t.Fatalf("Channel=email: %d %s", v.Status, v.Raw)
		}
		ms := relay.Wait(1, 10*time.Second)
		if len(ms) != 1 {
			t.Fatalf("the relay has %d messages (relay: %s)", len(ms), relay.Stderr())
		}
		m := ms[0]
		if !m.TLS || !m.Auth || m.MailFrom != "codes@otpgate.example" || strings.Join(m.RcptTos, ",") != "Jo.Smith@xn--bcher-kva.example" {
			t.Fatalf("envelope: tls %v, auth %v, from %q, to %v", m.TLS, m.Auth, m.MailFrom, m.RcptTos)
		}
		code, text := codeOf(t, m)
		if code == "" || !strings.Contains(text, "رمز التحقق الخاص بك في Acme هو "+code) {
			t.Fatalf("the Arabic text: %q", text)
		}
		if subj := m.Subject(); subj != "رمز التحقق الخاص بك في Acme" || strings.Contains(subj, code) {
			t.Fatalf("Subject: %q", subj)
		}
		if r := form(base+"/VerificationCheck", url.Values{"To": {"Jo.Smith@bücher.example"}, "Code": {wrongCode(code)}}); r.Status != 200 || r.str("status") != "pending" {
			t.Fatalf("a wrong code: %d %s", r.Status, r.Raw)
		}
		if r := form(base+"/VerificationCheck", url.Values{"To": {"Jo.Smith@bücher.example"}, "Code": {code}}); r.Status != 200 || r.str("status") != "approved" || r.str("channel") != "email" {
			t.Fatalf("the right code: %d %s", r.Status, r.Raw)
		}

		// The 2FA API.
		r := s.postJSON(t, "/2fa/send", map[string]string{"service": "login", "channel": "email", "to": "ali@example.com"})
		if r.Status != 201 || r.str("channel") != "email" || r.str("to") != "ali@example.com" {
			t.Fatalf("/2fa/send channel email: %d %s", r.Status, r.Raw)
		}
		ms = relay.Wait(2, 10*time.Second)
		if len(ms) != 2 {
			t.Fatalf("the relay has %d messages", len(ms))
		}
		code, text = codeOf(t, ms[1])
		if !strings.Contains(text, "Your login verification code is: "+code) || ms[1].Subject() != "Your login verification code" {
			t.Fatalf("the English email: %q, subject %q", text, ms[1].Subject())
		}
		if r := s.check(t, "login", "ali@example.com", code); r.Status != 200 || r.str("status") != "approved" {
			t.Fatalf("/2fa/verify by address: %d %s", r.Status, r.Raw)
		}
		msg := s.waitMessage(t, r2fa(t, s, "reject.me@example.com"), message.Failed)
		if msg.Channel != message.Email || !strings.Contains(msg.ErrorMessage, "550") || msg.Connector != "smtp" ||
			strings.Contains(strings.ToLower(msg.ErrorMessage), "reject.me@") {
			t.Fatalf("a 550 from the relay (quoting the address in upper case): %+v", msg)
		}

		// Refusals name the field.
		for _, tc := range []struct {
			to, channel, field string
		}{
			{"Jo <jo@example.com>", "email", "'to'"},
			{"jo@localhost", "email", "'to'"},
			{strings.Repeat("a", 65) + "@example.com", "email", "'to'"},
			{"jo@example.com", "fax", "'channel'"},
		} {
			r := s.postJSON(t, "/2fa/send", map[string]string{"service": "login", "channel": tc.channel, "to": tc.to})
			if r.Status != 400 || !strings.Contains(r.str("message"), tc.field) {
				t.Errorf("to %q channel %q: %d %s", tc.to, tc.channel, r.Status, r.Raw)
			}
		}
		out := strings.ToLower(logs.String())
		for _, secret := range []string{"jo.smith@", "ali@example.com", "reject.me@", "relay-pw-9431", code} {
			if strings.Contains(out, secret) {
				t.Errorf("the log shows %q", secret)
			}
		}
		if !strings.Contains(out, "a***@example.com") {
			t.Errorf("the log names no masked address:\n%s", out)
		}
	})
}

// r2fa sends a code by email through /2fa/send and returns its message SID.
func r2fa(t *testing.T, s *testServer, to string) string {
	t.Helper()
	r := s.postJSON(t, "/2fa/send", map[string]string{"service": "login", "channel": "email", "to": to})
	if r.Status != 201 || r.str("message_sid") == "" {
		t.Fatalf("/2fa/send to %s: %d %s", to, r.Status, r.Raw)
	}
	return r.str("message_sid")
}

// With sandbox delivery and no --smtp, an email lands in the sandbox inbox,
// found by its address, with its subject; its code verifies.
func TestEmailSandbox(t *testing.T) {
	eachStore(t, func(t *testing.T, db string) {
		s := mustServeWith(t, nil, func(c *ServeConfig) { c.DB = db })
		r := s.postJSON(t, "/2fa/send", map[string]string{"service": "shop", "channel": "email", "to": "User@Example.com", "locale": "ar"})
		if r.Status != 201 || r.str("to") != "User@example.com" || r.str("channel") != "email" {
			t.Fatalf("send: %d %s", r.Status, r.Raw)
		}
		var inbox response
		var msgs []any
		for deadline := time.Now().Add(5 * time.Second); len(msgs) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			inbox = call(t, "GET", s.URL+"/sandbox/messages?to="+url.QueryEscape("User@EXAMPLE.com"), s.SID, s.Token, "", "")
			msgs, _ = inbox.Body["messages"].([]any)
		}
		if inbox.Status != 200 || len(msgs) != 1 {
			t.Fatalf("the sandbox inbox: %d %s", inbox.Status, inbox.Raw)
		}
		e := msgs[0].(map[string]any)
		body, _ := e["body"].(string)
		code := sixDigits.FindString(body)
		if e["channel"] != "email" || e["subject"] != "رمز التحقق الخاص بك في shop" || e["from"] != sandboxEmailFrom || code == "" {
			t.Fatalf("the sandbox entry: %v", e)
		}
		other := call(t, "GET", s.URL+"/sandbox/messages?to=user@example.com", s.SID, s.Token, "", "")
		if n, _ := other.Body["messages"].([]any); len(n) != 0 {
			t.Fatalf("another local part sees the email: %s", other.Raw)
		}
		if r := s.check(t, "shop", "User@example.com", code); r.Status != 200 || r.str("status") != "approved" {
			t.Fatalf("check: %d %s", r.Status, r.Raw)
		}
		// An account cannot write its own email under the server's sender.
		if r := s.postJSON(t, "/2fa/send", map[string]string{"service": "shop", "channel": "email", "to": "other@example.com", "body": "Click http://evil.example {code}"}); r.Status != 400 || !strings.Contains(r.Raw, "body") {
			t.Fatalf("an email with the request's body: %d %s", r.Status, r.Raw)
		}
		if r := call(t, "GET", s.URL+"/sandbox/messages?to=no-at-all.example", s.SID, s.Token, "", ""); r.Status != 400 {
			t.Fatalf("a bad to: %d %s", r.Status, r.Raw)
		}
		// The message log (Twilio's Messages list) finds it by its address.
		log := call(t, "GET", s.URL+"/2010-04-01/Accounts/"+s.SID+"/Messages.json?To="+url.QueryEscape("User@EXAMPLE.com"), s.SID, s.Token, "", "")
		if ms, _ := log.Body["messages"].([]any); log.Status != 200 || len(ms) != 1 || ms[0].(map[string]any)["to"] != "User@example.com" {
			t.Fatalf("the message log by address: %d %s", log.Status, log.Raw)
		}
		if bad := call(t, "GET", s.URL+"/2010-04-01/Accounts/"+s.SID+"/Messages.json?To="+url.QueryEscape("Jo <jo@example.com>"), s.SID, s.Token, "", ""); bad.Status != 400 || !strings.Contains(bad.Raw, "To") {
			t.Fatalf("a bad To filter: %d %s", bad.Status, bad.Raw)
		}
	})
}

// sidOf reads the message SID out of an email's Message-ID.
var messageIDRE = regexp.MustCompile(`<(SM[0-9a-f]{32})@`)

// sendBurst sends n code emails at once through /2fa/send, calling mid
// after half were acknowledged, and returns the acknowledged message SIDs.
func sendBurst(t *testing.T, s *testServer, n int, mid func()) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]bool{}
	var once sync.Once
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.postJSON(t, "/2fa/send", map[string]string{"service": "burst", "channel": "email", "to": fmt.Sprintf("user%d@example.com", i)})
			if r.Status != 201 {
				t.Errorf("send %d: %d %s", i, r.Status, r.Raw)
				return
			}
			mu.Lock()
			acked[r.str("message_sid")] = true
			half := len(acked) == n/2
			mu.Unlock()
			if half && mid != nil {
				once.Do(mid)
			}
		}()
	}
	wg.Wait()
	return acked
}

// waitDelivered waits until the relay has an email of every acknowledged
// SID, and fails naming those missing.
func waitDelivered(t *testing.T, relay *smtptest.Relay, acked map[string]bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := map[string]bool{}
		for _, m := range relay.Messages() {
			if sm := messageIDRE.FindStringSubmatch(m.Parsed.Header.Get("Message-Id")); sm != nil {
				got[sm[1]] = true
			}
		}
		var missing []string
		for sid := range acked {
			if !got[sid] {
				missing = append(missing, sid)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged emails never reached the relay, e.g. %s", len(missing), len(acked), missing[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The relay goes away in the middle of a burst and comes back: every email
// acknowledged with a 201 reaches it (at least once), none is lost.
func TestEmailRelayGoesAwayMidBurst(t *testing.T) {
	eachStore(t, func(t *testing.T, db string) {
		relay := smtptest.Start(t, smtptest.Options{TLS: true})
		s := mustServeWith(t, nil, func(c *ServeConfig) {
			c.DB, c.NoAbuseGuard = db, true
			c.SMTP, c.SMTPFrom = relayURL(t, relay, "", ""), "codes@otpgate.example"
		})
		acked := sendBurst(t, s, 80, relay.Stop)
		time.Sleep(1500 * time.Millisecond) // sends fail meanwhile, and are retried
		relay.Restart()
		waitDelivered(t, relay, acked, 60*time.Second)
		// The relay was away for part of the burst: some sends failed and
		// were tried again (the test would prove nothing otherwise).
		retried := metricstest.Value(t, s.registry, "otpgate_dispatch_channel_outcomes_total", "channel", "email", "outcome", "retry")
		sent := metricstest.Value(t, s.registry, "otpgate_dispatch_channel_outcomes_total", "channel", "email", "outcome", "sent")
		if retried < 1 || sent < float64(len(acked)) {
			t.Fatalf("email sends: %v retried, %v sent, for %d acknowledged", retried, sent, len(acked))
		}
	})
}

// kill -9 of otpgate right after a burst of 201s: after a restart every
// acknowledged email is delivered.
func TestEmailKill9AfterAcknowledgedSends(t *testing.T) {
	relay := smtptest.Start(t, smtptest.Options{TLS: true})
	dataDir, addr := t.TempDir(), freeAddr(t)
	start := func() *child {
		c := &child{url: "http://" + addr}
		c.cmd = exec.Command(mustBuild(t), "serve", "--abuse-guard=off", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn",
			"--smtp", relayURL(t, relay, "", ""), "--smtp-from", "codes@otpgate.example")
		return startCmd(t, c)
	}
	c := start()
	s := c.server(t)
	relay.Stop() // nothing leaves before the kill: every email is in the outbox
	acked := sendBurst(t, s, 100, nil)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	relay.Restart()
	start()
	waitDelivered(t, relay, acked, 60*time.Second)
	if n := len(relay.Messages()); n < len(acked) {
		t.Fatalf("%d emails for %d acknowledged sends", n, len(acked))
	}
}

// --smtp without --smtp-from, and a bad --smtp, stop the server with an
// error that names the flag and never the password.
func TestEmailFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		smtp, from, says string
	}{
		{"smtp://u:hunter2-pw@127.0.0.1:2525", "", "--smtp-from"},
		{"smtp://u:hunter2-pw@127.0.0.1:2525?bogus=1", "codes@example.com", "--smtp: unknown parameter"},
		{"smtp://u:hunter2-pw@127.0.0.1:2525", "Codes <codes@example.com>", "--smtp-from"},
		{"", "codes@example.com", "--smtp-from is set but --smtp is not"},
		{"http://127.0.0.1:2525", "codes@example.com", "--smtp: scheme"},
	} {
		var out bytes.Buffer
		m := &Main{Config: ServeConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Region: "JO", CodeLength: 6, CodeTTL: time.Minute,
			LogLevel: "warn", LogFormat: "text", SMTP: tc.smtp, SMTPFrom: tc.from}, Stdout: &out, LogOutput: &out}
		err := m.Run(t.Context())
		m.Close()
		if err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error()+out.String(), "hunter2") {
			t.Errorf("--smtp %q --smtp-from %q: %v; want an error saying %q", tc.smtp, tc.from, err, tc.says)
		}
	}
}
