package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/smpp"
	"github.com/otpgate/otpgate/internal/smpptest"
	"github.com/otpgate/otpgate/internal/smscsim"
	"github.com/otpgate/otpgate/internal/smsenc"
)

// mustServeSMPP starts otpgate with the given --smpp URLs.
// Its abuse guard is off: these tests are about delivery, and bursts of
// codes to sequential numbers, never checked, are what it blocks.
func mustServeSMPP(tb testing.TB, urls ...string) *testServer {
	tb.Helper()
	return mustServeWith(tb, nil, func(c *ServeConfig) { c.SMPP = urls; c.NoAbuseGuard = true })
}

// mustServeWith starts otpgate with the test defaults changed by set; its
// log is dropped.
func mustServeWith(tb testing.TB, clock *fakeClock, set func(*ServeConfig)) *testServer {
	tb.Helper()
	return mustServeLogging(tb, clock, io.Discard, set)
}

// mustServeLogging starts otpgate in-process on a free loopback port with
// a temporary data directory, the test defaults changed by set (clock may
// be nil), and its log, at level warn unless set says otherwise, written
// to logs. It is closed when the test ends.
func mustServeLogging(tb testing.TB, clock *fakeClock, logs io.Writer, set func(*ServeConfig)) *testServer {
	tb.Helper()
	var out bytes.Buffer
	cfg := ServeConfig{
		Addr: "127.0.0.1:0", DataDir: tb.TempDir(), Region: "JO", CodeLength: 6, CodeTTL: 10 * time.Minute,
		LogLevel: "warn", LogFormat: "text",
	}
	set(&cfg)
	m := &Main{Config: cfg, Stdout: &out, LogOutput: logs}
	if clock != nil {
		m.Clock = clock
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		tb.Fatalf("start otpgate: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	sm := firstAccountRE.FindStringSubmatch(out.String())
	if sm == nil {
		tb.Fatalf("first start printed no account:\n%s", out.String())
	}
	return &testServer{Main: m, URL: "http://" + m.Addr(), SID: sm[1], Token: sm[2], stdout: &out}
}

// waitBound waits for the server's first SMPP connector to bind. A code
// sent before it is parked for a second of the server's clock, which a
// test's fake clock may never reach.
func (s *testServer) waitBound(tb testing.TB) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.smpp[0].Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("the SMPP connector did not bind")
		}
	}
}

func (s *testServer) waitMessage(tb testing.TB, sid string, status message.Status) message.Message {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := s.store.Message(context.Background(), s.SID, sid)
		if err == nil && m.Status == status {
			return m
		}
		if time.Now().After(deadline) {
			tb.Fatalf("message %s: status %q (err %v), want %q", sid, m.Status, err, status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The seed's flow through an independent SMSC: /2fa/send from "MyApp" to a
// Zain number reaches node-smpp as a submit_sm with TON 5 / NPI 0 and the
// code in the text; the receipt makes the message delivered; the code verifies.
func TestSeedFlowThroughSMPP(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+peer.Addr+"?name=zain")
	r := call(t, "POST", s.URL+"/2fa/send", s.SID, s.Token, "application/json",
		`{ "service" : "Restcomm", "from" : "MyApp", "to" : "962790320012", "body": "Your verification code is: {code}" }`)
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	sub := peer.WaitSubmits(t, 1, 10*time.Second)[0]
	text := string(sub.ShortMessage)
	if sub.SourceTON != 5 || sub.SourceNPI != 0 || sub.Source != "MyApp" || sub.Dest != "962790320012" || sub.DataCoding != 0 ||
		!strings.HasPrefix(text, "Your verification code is: ") {
		t.Fatalf("submit_sm = %+v (text %q)", sub, text)
	}
	code := codeRE.FindString(text)
	msg := s.waitMessage(t, r.str("message_sid"), message.Sent)
	if msg.ProviderID != sub.MessageID || msg.Connector != "zain" || strings.Contains(msg.Body, code) {
		t.Fatalf("message log: %+v", msg)
	}
	peer.Receipt(t, sub.MessageID, "DELIVRD", "000")
	s.waitMessage(t, r.str("message_sid"), message.Delivered)
	if v := s.check(t, "Restcomm", "0790320012", code); v.Status != 200 || v.str("status") != "approved" {
		t.Fatalf("verify: %d %s", v.Status, v.Raw)
	}
}

func TestReceiptUndelivered(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+peer.Addr+"?name=orange")
	r := s.send(t, "app", "0771234567")
	sub := peer.WaitSubmits(t, 1, 10*time.Second)[0]
	s.waitMessage(t, r.str("message_sid"), message.Sent)
	peer.Receipt(t, sub.MessageID, "UNDELIV", "011")
	m := s.waitMessage(t, r.str("message_sid"), message.Undelivered)
	if m.ErrorCode != 11 {
		t.Fatalf("undelivered message: %+v, want error code 11", m)
	}
}

// The SMSC drops every connection in the middle of a burst of 1,000 sends:
// every message still reaches it.
func TestSMSCDropsMidBurst(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+peer.Addr+"?name=zain&window=50")
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	dropped := false
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if r := s.send(t, "burst", fmt.Sprintf("+96279%07d", 2000000+i)); r.Status != 201 {
				t.Errorf("send %d: %d %s", i, r.Status, r.Raw)
			}
			mu.Lock()
			defer mu.Unlock()
			if !dropped && len(peer.Submits()) > 300 {
				dropped = true
				peer.Drop(t)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen := map[string]bool{}
		for _, sub := range peer.Submits() {
			seen[sub.Dest] = true
		}
		if len(seen) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the drop, %d of %d numbers reached the SMSC", len(seen), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !dropped {
		t.Fatal("the connections were never dropped")
	}
}

// With two connectors and the first down, the second sends.
func TestFailoverToSecondConnector(t *testing.T) {
	second := smpptest.Start(t, smpptest.Options{})
	s := mustServeSMPP(t, "smpp://otpgate:secret@127.0.0.1:1?name=down", "smpp://otpgate:secret@"+second.Addr+"?name=backup")
	r := s.send(t, "app", "0791234567")
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	second.WaitSubmits(t, 1, 10*time.Second)
	if m := s.waitMessage(t, r.str("message_sid"), message.Sent); m.Connector != "backup" {
		t.Fatalf("message went through %q, want backup", m.Connector)
	}
}

func writeConfig(tb testing.TB, body string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "otpgate.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func mustServeConfig(tb testing.TB, configFile string) *testServer {
	tb.Helper()
	var out bytes.Buffer
	m := &Main{Config: ServeConfig{
		Addr: "127.0.0.1:0", DataDir: tb.TempDir(), Region: "JO", CodeLength: 6, CodeTTL: 10 * time.Minute,
		LogLevel: "warn", LogFormat: "text", ConfigFile: configFile,
	}, Stdout: &out, LogOutput: io.Discard}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		tb.Fatalf("start otpgate: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	sm := firstAccountRE.FindStringSubmatch(out.String())
	return &testServer{Main: m, URL: "http://" + m.Addr(), SID: sm[1], Token: sm[2], stdout: &out}
}

// A sender the route's operator has not approved is refused up front; a
// send without a sender gets the route's default.
func TestSenderApproval(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	cfg := writeConfig(t, `{
  "connectors": [{"name": "zain", "url": "smpp://otpgate:secret@`+peer.Addr+`"}],
  "routes": [{"prefix": "+96279", "operator": "Zain", "connectors": ["zain"], "senders": ["MyApp"], "default_sender": "MyApp"}]
}`)
	s := mustServeConfig(t, cfg)
	// Any country, so that a UK number meets the routes (not the geo permissions).
	if err := s.store.SetAccountCountries(t.Context(), s.SID, "*"); err != nil {
		t.Fatal(err)
	}
	r := s.postJSON(t, "/2fa/send", map[string]string{"service": "app", "from": "OtherApp", "to": "0790320012"})
	if r.Status != 400 || r.num("code") != 21212 || !strings.Contains(r.str("message"), `"OtherApp"`) || !strings.Contains(r.str("message"), "Zain") {
		t.Fatalf("unapproved sender: %d %s", r.Status, r.Raw)
	}
	r = s.postJSON(t, "/2fa/send", map[string]string{"service": "app", "to": "0790320012"})
	if r.Status != 201 || r.str("from") != "MyApp" {
		t.Fatalf("send without from: %d %s", r.Status, r.Raw)
	}
	if sub := peer.WaitSubmits(t, 1, 10*time.Second)[0]; sub.Source != "MyApp" || sub.SourceTON != 5 {
		t.Fatalf("submit_sm source %q TON %d, want MyApp TON 5", sub.Source, sub.SourceTON)
	}
	// No route for a UK number: refused with a clear error, not queued.
	r = s.postJSON(t, "/2fa/send", map[string]string{"service": "app", "from": "MyApp", "to": "+447400123456"})
	if r.Status != 400 || r.num("code") != 21612 {
		t.Fatalf("destination without a route: %d %s", r.Status, r.Raw)
	}
}

func TestJordanExampleConfig(t *testing.T) {
	fc, err := LoadFileConfig(filepath.Join("..", "..", "examples", "jordan.json"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range fc.Connectors {
		if _, err := smpp.ParseURL(c.URL, func(string) (string, bool) { return "pw", true }); err != nil {
			t.Fatalf("connector %s: %v", c.Name, err)
		}
		names = append(names, c.Name)
	}
	table, err := routing.New(fc.Routes, names)
	if err != nil {
		t.Fatal(err)
	}
	for to, want := range map[string]string{"+962790320012": "zain", "+962771234567": "orange", "+962781234567": "umniah"} {
		if got := table.Connectors(to); len(got) == 0 || got[0] != want {
			t.Errorf("%s goes to %v, want %s first", to, got, want)
		}
	}
}

// The SMSC throttles every second submit_sm: every message still ends delivered.
func TestThrottlingEndsDelivered(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+peer.Addr+"?name=zain")
	peer.Throttle(t, 2)
	peer.AutoReceipt(t, "DELIVRD", 20*time.Millisecond)
	var sids []string
	for i := range 10 {
		r := s.send(t, "app", fmt.Sprintf("+96279%07d", 3000000+i))
		if r.Status != 201 {
			t.Fatalf("send: %d %s", r.Status, r.Raw)
		}
		sids = append(sids, r.str("message_sid"))
	}
	for _, sid := range sids {
		s.waitMessage(t, sid, message.Delivered)
	}
	throttled := 0
	for _, sub := range peer.Submits() {
		if sub.CommandStatus == 0x58 {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("the SMSC never throttled")
	}
}

// Mobile-originated messages are stored (acknowledged only after), a long
// UCS-2 one reassembled from its parts.
func TestInboundStored(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{})
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+peer.Addr+"?name=zain")
	peer.WaitBinds(t, 1, 10*time.Second)
	peer.MO(t, "962790320012", "MyApp", 0, []byte("STOP"), nil)
	arabic := "مرحبا، أريد إلغاء الاشتراك من فضلك. شكرا جزيلا لكم على الخدمة الممتازة"
	enc, err := smsenc.Encode(arabic, smsenc.UCS2)
	if err != nil {
		t.Fatal(err)
	}
	half := len(enc) / 2 &^ 1
	peer.MO(t, "962790320012", "MyApp", 8, enc[half:], smsenc.UDH(7, 2, 2, false)) // the second part first
	peer.MO(t, "962790320012", "MyApp", 8, enc[:half], smsenc.UDH(7, 2, 1, false))
	acks := peer.WaitDeliverAcks(t, 3, 10*time.Second)
	for _, a := range acks {
		if a.CommandStatus != 0 {
			t.Fatalf("deliver_sm answered %#x", a.CommandStatus)
		}
	}
	var bodies []string
	rows, err := s.store.Messages(context.Background(), message.Filter{}) // the unassigned ones: no inbound config
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rows {
		if m.Direction != "inbound" || m.Status != "received" || m.From != "+962790320012" || m.Connector != "zain" {
			t.Errorf("inbound message %+v", m)
		}
		bodies = append(bodies, m.Body)
	}
	if len(bodies) != 2 || !slices.Contains(bodies, "STOP") || !slices.Contains(bodies, arabic) {
		t.Fatalf("inbound bodies %q, want STOP and the reassembled Arabic text", bodies)
	}
}

// A long Arabic message goes as 3 UDH parts; it is delivered when the
// receipts of all 3 are in, and the SMSC's ids may be hex in submit_sm_resp
// and decimal in the receipt text.
func TestMultipartReceiptsHexAndDecimal(t *testing.T) {
	peer := smpptest.Start(t, smpptest.Options{HexIDs: true, FirstID: 1000})
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+peer.Addr+"?name=zain")
	body := strings.Repeat("رمز التحقق الخاص بك هو {code} ", 5)
	r := s.postJSON(t, "/2fa/send", map[string]string{"service": "app", "from": "MyApp", "to": "0790320012", "body": body})
	if r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	subs := peer.WaitSubmits(t, 3, 10*time.Second)
	sid := r.str("message_sid")
	s.waitMessage(t, sid, message.Sent)
	for i, sub := range subs {
		dec, err := strconv.ParseUint(sub.MessageID, 16, 64)
		if err != nil {
			t.Fatalf("hex id %q: %v", sub.MessageID, err)
		}
		peer.SendReceipt(t, smpptest.ReceiptSpec{MessageID: sub.MessageID, TextID: strconv.FormatUint(dec, 10), NoTLVs: true, Stat: "DELIVRD"})
		if i < 2 {
			time.Sleep(100 * time.Millisecond)
			if m, _ := s.store.Message(context.Background(), s.SID, sid); m.Status != message.Sent {
				t.Fatalf("after %d of 3 receipts the message is %q, want still sent", i+1, m.Status)
			}
		}
	}
	s.waitMessage(t, sid, message.Delivered)
}

// While no connector is bound the message waits in the outbox; it goes when
// the SMSC comes up.
func TestMessageWaitsForBind(t *testing.T) {
	addr := freeAddr(t)
	s := mustServeSMPP(t, "smpp://otpgate:secret@"+addr+"?name=late")
	r := s.send(t, "app", "0791234567")
	if r.Status != 201 {
		t.Fatalf("send with the SMSC down: %d %s", r.Status, r.Raw)
	}
	time.Sleep(1500 * time.Millisecond)
	if m := s.waitMessage(t, r.str("message_sid"), message.Queued); m.ErrorMessage != "" {
		t.Fatalf("queued message carries an error: %+v", m)
	}
	sim := smscsim.New(smscsim.Config{})
	if _, err := sim.Start(addr); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	s.waitMessage(t, r.str("message_sid"), message.Sent)
	if subs := sim.Submits(); len(subs) != 1 || subs[0].Dest != "962791234567" {
		t.Fatalf("the simulator got %+v", subs)
	}
}

// When a route cannot send what waits within --max-backlog (here: its SMSC
// is down and its TPS limit is 1), new sends get 429 with code 20429 and a
// Retry-After, in each dialect's shape; what was accepted stays queued.
func TestBacklogRefusesWithRetryAfter(t *testing.T) {
	s := mustServeWith(t, nil, func(c *ServeConfig) {
		c.SMPP = []string{"smpp://otpgate:secret@" + freeAddr(t) + "?name=down&tps=1"}
		c.MaxBacklog = 5 * time.Second
		c.NoAbuseGuard = true // 150 codes to one prefix, never checked: pumping, to the guard
	})
	accepted := 0
	var refused response
	for i := range 150 {
		r := s.send(t, "app", fmt.Sprintf("07912%05d", i))
		if r.Status == 201 {
			accepted++
			continue
		}
		refused = r
		break
	}
	if accepted != 100 || refused.Status != 429 || refused.num("code") != 20429 {
		t.Fatalf("accepted %d, then %d %s; want 100 accepted, then 429 with code 20429", accepted, refused.Status, refused.Raw)
	}
	if ra, err := strconv.Atoi(refused.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want whole seconds", refused.Header.Get("Retry-After"))
	}
	if msg := refused.str("message"); !strings.Contains(msg, "100") || !strings.Contains(msg, "try again") {
		t.Errorf("message %q does not say how many wait and when to try again", msg)
	}
	tw := s.postForm(t, "/2010-04-01/Accounts/"+s.SID+"/Messages.json", url.Values{"To": {"0791299999"}, "From": {"MyApp"}, "Body": {"hi"}})
	if tw.Status != 429 || tw.num("code") != 20429 || tw.Header.Get("Retry-After") == "" {
		t.Fatalf("messages API: %d %s, want 429/20429 with Retry-After", tw.Status, tw.Raw)
	}
}
