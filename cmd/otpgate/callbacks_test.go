package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	twclient "github.com/twilio/twilio-go/client"

	"github.com/otpgate/otpgate/internal/smpptest"
	_ "modernc.org/sqlite" // to read callback attempts from the database file
)

// receiver is a status callback endpoint that can fail for a while.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	failLeft int
	got      []callbackHit
	failures int
}

type callbackHit struct {
	params    url.Values
	signature string
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failLeft: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		params, _ := url.ParseQuery(string(body))
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.failLeft > 0 {
			r.failLeft--
			r.failures++
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		r.got = append(r.got, callbackHit{params, req.Header.Get("X-Twilio-Signature")})
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) wait(t *testing.T, n int, timeout time.Duration) []callbackHit {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		got := append([]callbackHit(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d status callbacks received, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Status callbacks through a real SMPP delivery: sent, then delivered, in
// order, signed as Twilio signs (checked with twilio-go's own validator), and
// retried while the receiver fails.
func TestStatusCallbacks(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	rcv := newReceiver(t, 3)
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.SMPP = []string{"smpp://otpgate:secret@" + peer.Addr + "?name=zain"}
		c.WebhookAllowPrivate = true
		c.CallbackRetry = 50 * time.Millisecond
	})
	r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{
		"To": {"0790320012"}, "From": {"MyApp"}, "Body": {"hello"}, "StatusCallback": {rcv.srv.URL + "/status?x=1"},
	})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	sub := peer.WaitSubmits(t, 1, 10*time.Second)[0]
	s.waitMessage(t, r.str("sid"), "sent")
	peer.Receipt(t, sub.MessageID, "DELIVRD", "000")
	hits := rcv.wait(t, 2, 15*time.Second)
	validator := twclient.NewRequestValidator(s.Token)
	for i, want := range []string{"sent", "delivered"} {
		p := hits[i].params
		if p.Get("MessageStatus") != want || p.Get("MessageSid") != r.str("sid") || p.Get("AccountSid") != s.SID ||
			p.Get("To") != "+962790320012" || p.Get("From") != "MyApp" || p.Get("SmsStatus") != want {
			t.Fatalf("callback %d: %v, want status %s", i+1, p, want)
		}
		flat := map[string]string{}
		for k := range p {
			flat[k] = p.Get(k)
		}
		if !validator.Validate(rcv.srv.URL+"/status?x=1", flat, hits[i].signature) {
			t.Fatalf("callback %d: twilio-go's validator refuses signature %q", i+1, hits[i].signature)
		}
	}
	// The attempt is recorded just after the receiver answered: wait for it.
	var codes []int
	fails, oks := 0, 0
	for deadline := time.Now().Add(5 * time.Second); oks < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		codes = attemptCodes(t, s, r.str("sid"))
		fails, oks = 0, 0
		for _, c := range codes {
			if c == 503 {
				fails++
			} else if c == 200 {
				oks++
			}
		}
	}
	if fails != 3 || oks != 2 {
		t.Fatalf("attempts recorded: %d failed, %d succeeded; want 3 and 2: %v", fails, oks, codes)
	}
}

// attemptCodes reads the HTTP statuses of the callback attempts recorded for
// a message, from the database file (no API reads them).
func attemptCodes(tb testing.TB, s *testServer, messageSID string) []int {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.Config.DataDir, "otpgate.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT status_code FROM callback_attempts WHERE message_sid = ? ORDER BY at`, messageSID)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var c int
		if err := rows.Scan(&c); err != nil {
			tb.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// A callback target on a private address is refused unless allowed.
func TestStatusCallbackPrivateRefused(t *testing.T) {
	s := mustServe(t, nil)
	for _, cb := range []string{"http://127.0.0.1:9/cb", "http://169.254.169.254/latest", "http://10.0.0.1/", "ftp://example.com/"} {
		r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{
			"To": {"0790320012"}, "From": {"MyApp"}, "Body": {"hello"}, "StatusCallback": {cb},
		})
		if r.Status != 400 || r.num("code") != 21609 || !strings.Contains(r.str("message"), "StatusCallback") {
			t.Fatalf("StatusCallback %s: %d %s, want 400 code 21609", cb, r.Status, r.Raw)
		}
	}
}

// Callbacks pending when otpgate is killed (-9) are delivered after it restarts.
func TestStatusCallbacksSurviveRestart(t *testing.T) {
	rcv := newReceiver(t, 1000) // failing until told otherwise
	dataDir, addr := t.TempDir(), freeAddr(t)
	start := func() *child {
		c := &child{url: "http://" + addr}
		c.cmd = exec.Command(mustBuild(t), "serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn",
			"--webhook-allow-private", "--callback-retry", "100ms")
		return startCmd(t, c)
	}
	c := start()
	s := c.server(t)
	r := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{
		"To": {"0790320012"}, "From": {"MyApp"}, "Body": {"hello"}, "StatusCallback": {rcv.srv.URL + "/status"},
	})
	if r.Status != 201 {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rcv.mu.Lock()
		f := rcv.failures
		rcv.mu.Unlock()
		if f >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the callback was never attempted")
		}
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	rcv.mu.Lock()
	rcv.failLeft = 0
	rcv.mu.Unlock()
	start()
	hits := rcv.wait(t, 1, 15*time.Second)
	if p := hits[0].params; p.Get("MessageStatus") != "delivered" || p.Get("MessageSid") != r.str("sid") {
		t.Fatalf("callback after restart: %v", p)
	}
}

// An inbound SMS (injected through the sandbox) is listed by the messages
// API as inbound and POSTed to the account's SMS URL with Twilio's inbound
// parameters, signed.
func TestInboundWebhook(t *testing.T) {
	rcv := newReceiver(t, 1)
	s := mustServeWith(t, nil, func(c *ServeConfig) { c.WebhookAllowPrivate = true; c.CallbackRetry = 50 * time.Millisecond })
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"accounts", "set", "--sid", s.SID, "--sms-url", rcv.srv.URL + "/sms", "--webhook-allow-private", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatalf("accounts set: %v %s", err, errOut.String())
	}
	r := s.postForm(t, "/sandbox/inbound", url.Values{"From": {"0790320012"}, "To": {"MyApp"}, "Body": {"STOP مرحبا"}})
	if r.Status != 201 || r.str("direction") != "inbound" || r.str("status") != "received" || r.str("from") != "+962790320012" {
		t.Fatalf("sandbox inbound: %d %s", r.Status, r.Raw)
	}
	tw := twilioClient(t, s)
	got, err := tw.Api.FetchMessage(r.str("sid"), nil)
	if err != nil || *got.Direction != "inbound" || *got.Body != "STOP مرحبا" {
		t.Fatalf("fetch inbound: %v %v", err, got)
	}
	hit := rcv.wait(t, 1, 10*time.Second)[0]
	p := hit.params
	if p.Get("Body") != "STOP مرحبا" || p.Get("From") != "+962790320012" || p.Get("To") != "MyApp" || p.Get("MessageSid") != r.str("sid") ||
		p.Get("AccountSid") != s.SID || p.Get("SmsStatus") != "received" || p.Get("NumMedia") != "0" {
		t.Fatalf("inbound webhook params: %v", p)
	}
	flat := map[string]string{}
	for k := range p {
		flat[k] = p.Get(k)
	}
	v := twclient.NewRequestValidator(s.Token)
	if !v.Validate(rcv.srv.URL+"/sms", flat, hit.signature) {
		t.Fatal("twilio-go's validator refuses the inbound webhook's signature")
	}
}

// jsonReceiver records JSON events with the URL they were posted to.
type jsonHit struct {
	url, signature string
	body           []byte
}

func TestVerificationEvents(t *testing.T) {
	var mu sync.Mutex
	var hits []jsonHit
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, jsonHit{"http://" + r.Host + r.URL.RequestURI(), r.Header.Get("X-Twilio-Signature"), body})
		mu.Unlock()
	}))
	defer srv.Close()
	clock := &fakeClock{now: time.Now().UTC()}
	s := mustServeWith(t, clock, func(c *ServeConfig) { c.WebhookAllowPrivate = true; c.CallbackRetry = 50 * time.Millisecond })
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"services", "set", "--account", s.SID, "--service", "shop", "--events-url", srv.URL + "/events",
		"--webhook-allow-private", "--data-dir", s.Config.DataDir}, &out, &errOut); err != nil {
		t.Fatalf("services set: %v %s", err, errOut.String())
	}
	// approved
	s.send(t, "shop", "0791000001")
	code := s.codes(t, "0791000001", 1)[0]
	s.check(t, "shop", "0791000001", code)
	// max attempts
	s.send(t, "shop", "0791000002")
	bad := wrongCode(s.codes(t, "0791000002", 1)[0])
	for range 5 {
		s.check(t, "shop", "0791000002", bad)
	}
	// expired: the sweep (every 2 s) finds it once its code's time is over
	s.send(t, "shop", "0791000003")
	clock.Advance(11 * time.Minute)
	want := map[string]string{"+962791000001": "verification.approved", "+962791000002": "verification.max_attempts_reached", "+962791000003": "verification.expired"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(hits)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 3 {
		t.Fatalf("%d events, want 3", len(hits))
	}
	v := twclient.NewRequestValidator(s.Token)
	for _, h := range hits {
		var ev map[string]any
		if err := json.Unmarshal(h.body, &ev); err != nil {
			t.Fatalf("event body %q: %v", h.body, err)
		}
		if ev["type"] != want[ev["to"].(string)] || ev["service"] != "shop" || ev["account_sid"] != s.SID {
			t.Fatalf("event %v", ev)
		}
		if !v.ValidateBody(h.url, h.body, h.signature) {
			t.Fatalf("twilio-go refuses the event's signature (url %s)", h.url)
		}
	}
}
