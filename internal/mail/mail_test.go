package mail_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/mail"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/smtptest"
)

func TestParseURL(t *testing.T) {
	env := map[string]string{"SMTP_PASS": "s3cr:et@/x", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := mail.ParseURL("smtp://relay-user:$SMTP_PASS@mail.example.com?auth=login&conns=2", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "mail.example.com" || c.Port != 587 || c.SSL || c.Username != "relay-user" || c.Password != "s3cr:et@/x" || c.Auth != "login" || c.Conns != 2 {
		t.Errorf("ParseURL = %+v", c)
	}
	if r := c.Redacted(); strings.Contains(r, "s3cr") || r != "smtp://relay-user:***@mail.example.com:587" {
		t.Errorf("Redacted = %q", r)
	}
	c, err = mail.ParseURL("smtps://mail.example.com", lookup)
	if err != nil || !c.SSL || c.Port != 465 {
		t.Errorf("smtps: %+v, %v", c, err)
	}
	for in, says := range map[string]string{
		"http://mail.example.com":               "scheme",
		"smtp://:587":                           "no host",
		"smtp://u:$NOPE@mail.example.com":       "$NOPE, which is not set",
		"smtp://u:$EMPTY@mail.example.com":      "$EMPTY, which is empty",
		"smtp://mail.example.com:99999":         "port",
		"smtp://mail.example.com?auth=cram":     "plain or login",
		"smtp://mail.example.com?colour=blue":   "unknown parameter",
		"smtp://u:hunter2@mail.example.com?x=1": "unknown parameter",
		"smtp://mail.example.com?tls=maybe":     "required",
	} {
		_, err := mail.ParseURL(in, lookup)
		if err == nil || !strings.Contains(err.Error(), says) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) = %v; want an error saying %q (and no password)", in, err, says)
		}
	}
}

func connector(t *testing.T, r *smtptest.Relay, scheme, user string) *mail.Connector {
	t.Helper()
	u := scheme + "://"
	if user != "" {
		u += user + "@"
	}
	u += "127.0.0.1:" + strconv.Itoa(r.Port) + "?timeout=5s"
	if r.CAFile != "" {
		u += "&ca=" + r.CAFile
	}
	return connectorAt(t, u)
}

// connectorAt is the connector of the relay URL u, sending from
// codes@otpgate.example.
func connectorAt(t *testing.T, u string) *mail.Connector {
	t.Helper()
	cfg, err := mail.ParseURL(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.From = "codes@otpgate.example"
	c, err := mail.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func email(sid, to string) sms.Message {
	return sms.Message{SID: sid, AccountSID: "AC1", To: to, Channel: message.Email,
		Subject: "رمز التحقق الخاص بك في Acme", Body: "رمز التحقق الخاص بك في Acme هو 482913"}
}

// An email goes over STARTTLS with AUTH, as UTF-8 text/plain with the
// Arabic subject and text intact.
func TestSendSTARTTLSWithAuth(t *testing.T) {
	r := smtptest.Start(t, smtptest.Options{TLS: true, User: "relay", Pass: "pw-42"})
	c := connector(t, r, "smtp", "relay:pw-42")
	id, err := c.Send(context.Background(), email("SM1", "jo@example.com"))
	if err != nil {
		t.Fatalf("Send: %v (relay: %s)", err, r.Stderr())
	}
	ms := r.Wait(1, 5*time.Second)
	if len(ms) != 1 {
		t.Fatalf("the relay has %d messages", len(ms))
	}
	m := ms[0]
	if !m.TLS || !m.Auth || m.MailFrom != "codes@otpgate.example" || len(m.RcptTos) != 1 || m.RcptTos[0] != "jo@example.com" {
		t.Errorf("envelope: tls %v auth %v from %q to %v", m.TLS, m.Auth, m.MailFrom, m.RcptTos)
	}
	text, cs, err := m.Text()
	if err != nil || !strings.EqualFold(cs, "utf-8") || !strings.Contains(text, "هو 482913") {
		t.Errorf("text/plain = %q (charset %q, %v)", text, cs, err)
	}
	if s := m.Subject(); s != "رمز التحقق الخاص بك في Acme" {
		t.Errorf("Subject = %q", s)
	}
	if got := m.Parsed.Header.Get("Message-Id"); got != id || !strings.Contains(id, "SM1@otpgate.example") {
		t.Errorf("Message-ID %q, Send returned %q", got, id)
	}
}

// A relay that offers no STARTTLS (or one whose offer someone on the way
// stripped) gets no code in clear text, unless the operator said
// ?tls=opportunistic.
func TestSendRefusesClearText(t *testing.T) {
	r := smtptest.Start(t, smtptest.Options{})
	_, err := connector(t, r, "smtp", "").Send(context.Background(), email("SM1", "jo@example.com"))
	if err == nil {
		t.Fatal("an email went to a relay without STARTTLS")
	}
	if ms := r.Messages(); len(ms) != 0 {
		t.Fatalf("the relay got %d messages in clear text", len(ms))
	}
	c := connectorAt(t, "smtp://"+r.Addr()+"?timeout=5s&tls=opportunistic")
	if _, err := c.Send(context.Background(), email("SM2", "jo@example.com")); err != nil {
		t.Fatalf("with tls=opportunistic: %v", err)
	}
	if ms := r.Wait(1, 5*time.Second); len(ms) != 1 || ms[0].TLS {
		t.Fatalf("the relay has %+v", ms)
	}
}

// Emails share a connection: one connector connection sends one email
// after another without a new handshake; a relay that went away and came
// back meanwhile costs one new connection, not a failed email.
func TestSendKeepsTheConnection(t *testing.T) {
	r := smtptest.Start(t, smtptest.Options{TLS: true, User: "relay", Pass: "pw-7"})
	c := connectorAt(t, "smtp://relay:pw-7@"+r.Addr()+"?timeout=5s&conns=1&ca="+r.CAFile)
	defer c.Close()
	ctx := context.Background()
	for i := range 5 {
		if _, err := c.Send(ctx, email(fmt.Sprintf("SM%d", i), "jo@example.com")); err != nil {
			t.Fatalf("email %d: %v", i, err)
		}
	}
	peers := map[string]bool{}
	for _, m := range r.Wait(5, 5*time.Second) {
		peers[m.Peer] = true
	}
	if len(peers) != 1 {
		t.Fatalf("5 emails over %d connections, want 1: %v", len(peers), peers)
	}
	r.Stop()
	r.Restart()
	if _, err := c.Send(ctx, email("SM9", "jo@example.com")); err != nil {
		t.Fatalf("the first email after the relay came back: %v", err)
	}
	if ms := r.Wait(6, 5*time.Second); len(ms) != 6 || !ms[len(ms)-1].Auth || !ms[len(ms)-1].TLS {
		t.Fatalf("after the restart the relay has %d messages", len(ms))
	}
}

func TestSendImplicitTLS(t *testing.T) {
	r := smtptest.Start(t, smtptest.Options{TLS: true, Implicit: true})
	c := connector(t, r, "smtps", "")
	if _, err := c.Send(context.Background(), email("SM1", "jo@example.com")); err != nil {
		t.Fatalf("Send: %v (relay: %s)", err, r.Stderr())
	}
	if ms := r.Wait(1, 5*time.Second); len(ms) != 1 || !ms[0].TLS {
		t.Fatalf("the relay has %+v", ms)
	}
}

// 550 on RCPT is permanent, with the reply, the address masked; 451 and a
// relay that is down are transient; a wrong password shows nowhere.
func TestSendFailures(t *testing.T) {
	r := smtptest.Start(t, smtptest.Options{TLS: true})
	c := connector(t, r, "smtp", "")
	ctx := context.Background()
	_, err := c.Send(ctx, email("SM1", "reject.me@example.com"))
	p, perm := sms.IsPermanent(err)
	if !perm || p.Code != 550 || !strings.Contains(err.Error(), "550") || strings.Contains(strings.ToLower(err.Error()), "reject.me@") {
		t.Errorf("a 550 on RCPT: %v (permanent %v)", err, perm)
	}
	_, err = c.Send(ctx, email("SM2", "later@example.com"))
	if _, perm := sms.IsPermanent(err); err == nil || perm || !strings.Contains(err.Error(), "451") {
		t.Errorf("a 451 on RCPT: %v (permanent %v)", err, perm)
	}
	r.Stop()
	_, err = c.Send(ctx, email("SM3", "jo@example.com"))
	if _, perm := sms.IsPermanent(err); err == nil || perm {
		t.Errorf("a relay that is down: %v (permanent %v)", err, perm)
	}
	r.Restart()
	a := smtptest.Start(t, smtptest.Options{TLS: true, User: "relay", Pass: "right"})
	_, err = connector(t, a, "smtp", "relay:wrong-pw-77").Send(ctx, email("SM4", "jo@example.com"))
	if err == nil || strings.Contains(err.Error(), "wrong-pw-77") {
		t.Errorf("a wrong password: %v", err)
	}
	if n := len(r.Messages()) + len(a.Messages()); n != 0 {
		t.Errorf("%d messages were accepted", n)
	}
}
