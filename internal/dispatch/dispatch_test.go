package dispatch_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := dispatch.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if dispatch.Backoff(1000) != 5*time.Minute {
		t.Errorf("Backoff is not capped")
	}
}

// plainOpener leaves payloads as they are.
type plainOpener struct{}

func (plainOpener) Open(_ string, b []byte) ([]byte, error) { return b, nil }

// scripted is a connector whose Send answers from a script per message.
type scripted struct {
	mu      sync.Mutex
	answers map[string][]error // popped in order; when empty, success
	sent    map[string][]string
}

func (c *scripted) Name() string { return "scripted" }

func (c *scripted) Send(_ context.Context, m sms.Message) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent[m.SID] = append(c.sent[m.SID], m.Body)
	if a := c.answers[m.SID]; len(a) > 0 {
		c.answers[m.SID] = a[1:]
		if a[0] != nil {
			return "", a[0]
		}
	}
	return "pid-" + m.SID, nil
}

func (c *scripted) bodies(sid string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.sent[sid]...)
}

func (c *scripted) count(sid string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent[sid])
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func setup(t *testing.T, conn *scripted, clk *clock) (*sqlite.Store, *dispatch.Dispatcher) {
	t.Helper()
	st, d, _ := setupRegistered(t, conn, clk)
	return st, d
}

// setupRegistered is setup with the dispatcher's metrics in a registry.
func setupRegistered(t *testing.T, conn *scripted, clk *clock) (*sqlite.Store, *dispatch.Dispatcher, *prometheus.Registry) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	d := dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Connectors: []sms.Connector{conn}, Clock: clk, Poll: 5 * time.Millisecond})
	reg := prometheus.NewPedanticRegistry()
	d.Register(reg)
	d.Start(context.Background())
	t.Cleanup(func() { d.Stop(); st.Close() })
	return st, d, reg
}

func enqueue(t *testing.T, st *sqlite.Store, sid string, now, expires time.Time) {
	t.Helper()
	m := message.Message{SID: sid, AccountSID: "AC1", Direction: message.OutboundAPI, From: "App", To: "+962790000000",
		Body: "masked", Status: message.Queued, Encoding: "GSM-7", Segments: 1, CreatedAt: now, UpdatedAt: now}
	o := message.Outbound{SID: sid, AccountSID: "AC1", From: "App", To: "+962790000000",
		Payload: []byte("real body " + sid), ExpiresAt: expires, CreatedAt: now}
	if err := st.InsertSend(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
}

func waitStatus(t *testing.T, st *sqlite.Store, sid string, want message.Status) message.Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, err := st.Message(context.Background(), "AC1", sid)
		if err == nil && m.Status == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %q (err %v), want %q", sid, m.Status, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDispatch(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	transient := errors.New("SMSC busy")
	conn := &scripted{answers: map[string][]error{
		"SMretry":   {transient, transient},
		"SMperm":    {sms.Permanent(11, errors.New("invalid destination"))},
		"SMexpires": {transient, transient, transient, transient},
	}, sent: map[string][]string{}}
	clk := &clock{now: t0}
	st, d, reg := setupRegistered(t, conn, clk)

	enqueue(t, st, "SMok", t0, time.Time{})
	enqueue(t, st, "SMretry", t0, time.Time{})
	enqueue(t, st, "SMperm", t0, time.Time{})
	enqueue(t, st, "SMexpires", t0, t0.Add(5*time.Second))
	d.Wake()

	ok := waitStatus(t, st, "SMok", message.Sent)
	if ok.ProviderID != "pid-SMok" || ok.Connector != "scripted" || ok.SentAt.IsZero() {
		t.Errorf("sent message = %+v", ok)
	}
	if b := conn.bodies("SMok"); len(b) != 1 || b[0] != "real body SMok" {
		t.Errorf("connector got bodies %q, want the opened payload once", b)
	}
	perm := waitStatus(t, st, "SMperm", message.Failed)
	if perm.ErrorCode != 11 || perm.ErrorMessage != "invalid destination" || conn.count("SMperm") != 1 {
		t.Errorf("permanent failure: %+v after %d sends, want code 11, one send", perm, conn.count("SMperm"))
	}

	// Transient failures wait for the backoff: 1 s, then 2 s.
	for range 50 {
		if conn.count("SMretry") == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Longer than the backlog's measure (250 ms): a message waiting for its retry
	// still counts, by the dispatcher's clock, not the wall's.
	time.Sleep(300 * time.Millisecond)
	if n := conn.count("SMretry"); n != 1 {
		t.Fatalf("retried before its backoff: %d sends", n)
	}
	clk.Add(1 * time.Second)
	// SMretry and SMexpires wait for their retries, taken a second ago.
	if n, age := metricstest.Value(t, reg, "otpgate_outbox_messages"), metricstest.Value(t, reg, "otpgate_outbox_oldest_age_seconds"); n != 2 || age != 1 {
		t.Errorf("outbox metrics while two wait: %v messages, oldest %v s; want 2, 1 s", n, age)
	}
	d.Wake()
	for deadline := time.Now().Add(5 * time.Second); conn.count("SMretry") < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	clk.Add(2 * time.Second)
	d.Wake()
	waitStatus(t, st, "SMretry", message.Sent)
	if n := conn.count("SMretry"); n != 3 {
		t.Errorf("SMretry sent %d times, want 3 (two transient failures, then success)", n)
	}
	// A message that cannot go before its code expires is failed, not retried uselessly.
	clk.Add(10 * time.Second)
	d.Wake()
	exp := waitStatus(t, st, "SMexpires", message.Failed)
	if exp.ErrorMessage == "" {
		t.Errorf("expired message without a reason: %+v", exp)
	}
	if _, err := st.NextDue(context.Background()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("outbox not empty after every message ended: %v", err)
	}
	// The metrics saw each outcome: SMok and SMretry sent; SMperm and
	// SMexpires failed; SMretry's two and SMexpires's transient failures
	// retried; nothing waits any more.
	for _, c := range []struct {
		outcome string
		min     float64
		max     float64
	}{{"sent", 2, 2}, {"failed", 2, 2}, {"retry", 3, 6}} {
		if v := metricstest.Value(t, reg, "otpgate_dispatch_outcomes_total", "outcome", c.outcome); v < c.min || v > c.max {
			t.Errorf("outcomes{outcome=%s} = %v, want %v-%v", c.outcome, v, c.min, c.max)
		}
	}
	if v := metricstest.Value(t, reg, "otpgate_dispatch_handoff_seconds"); v != 2 {
		t.Errorf("%v hand-offs timed, want 2", v)
	}
	// A store may show an outcome once it is written, before its sync
	// returns to the dispatcher (SQLite: in the WAL, during the fsync): the
	// backlog counts the message until then.
	v := metricstest.Value(t, reg, "otpgate_outbox_messages")
	for deadline := time.Now().Add(5 * time.Second); v != 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		v = metricstest.Value(t, reg, "otpgate_outbox_messages")
	}
	if v != 0 {
		t.Errorf("%v messages waiting after every message ended", v)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metric names: %v %v", problems, err)
	}
}

// A receipt that arrives before the send's outcome is recorded is not
// overwritten by the later "sent".
func TestReceiptBeforeSendOutcome(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: t0}
	var d *dispatch.Dispatcher
	conn := &receiptFirst{}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	d = dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Connectors: []sms.Connector{conn}, Clock: clk, Poll: 5 * time.Millisecond})
	conn.sink = d
	d.Start(context.Background())
	t.Cleanup(func() { d.Stop(); st.Close() })
	enqueue(t, st, "SM1", t0, time.Time{})
	d.Wake()
	m := waitStatus(t, st, "SM1", message.Delivered)
	time.Sleep(50 * time.Millisecond)
	m, _ = st.Message(context.Background(), "AC1", "SM1")
	if m.Status != message.Delivered || m.ProviderID != "p1" {
		t.Fatalf("message = %+v, want delivered with provider id p1", m)
	}
}

type receiptFirst struct{ sink sms.ReceiptSink }

func (c *receiptFirst) Name() string { return "rf" }
func (c *receiptFirst) Send(ctx context.Context, m sms.Message) (string, error) {
	if err := c.sink.HandleReceipt(ctx, sms.Receipt{MessageSID: m.SID, Status: message.Delivered}); err != nil {
		return "", err
	}
	return "p1", nil
}

// A receipt that names the SMSC's id before the dispatcher has recorded it
// (the SMSC answered submit_sm and sent the receipt at once) is kept, and
// applied when the send's outcome is recorded.
func TestReceiptBeforeIDsAreKnown(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: t0}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	conn := &earlyReceipt{}
	d := dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Connectors: []sms.Connector{conn}, Clock: clk, Poll: 5 * time.Millisecond})
	conn.sink = d
	d.Start(context.Background())
	t.Cleanup(func() { d.Stop(); st.Close() })
	enqueue(t, st, "SM1", t0, time.Time{})
	d.Wake()
	m := waitStatus(t, st, "SM1", message.Undelivered)
	if m.ProviderID != "0A1B" || m.ErrorCode != 34 {
		t.Fatalf("message = %+v, want undelivered (error 34) with provider id 0A1B", m)
	}
}

// earlyReceipt reports an undelivered receipt, by the SMSC's id in decimal,
// before Send returns that id in hex.
type earlyReceipt struct{ sink sms.ReceiptSink }

func (c *earlyReceipt) Name() string { return "early" }
func (c *earlyReceipt) Send(ctx context.Context, m sms.Message) (string, error) {
	if err := c.sink.HandleReceipt(ctx, sms.Receipt{Connector: "early", ProviderID: "2587", Status: message.Undelivered, ErrorCode: 34}); err != nil {
		return "", err
	}
	return "0A1B", nil
}

// down is a connector with no bind up.
type down struct{ scripted }

func (*down) Healthy() bool { return false }

// A code that waits for a connector that never comes up is failed once it
// expires, not sent late; waiting used no attempt.
func TestWaitingCodeFailsAtExpiry(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clk := &clock{now: t0}
	conn := &down{scripted{answers: map[string][]error{}, sent: map[string][]string{}}}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	d := dispatch.New(dispatch.Config{Store: st, Opener: plainOpener{}, Connectors: []sms.Connector{conn}, Clock: clk, Poll: 5 * time.Millisecond})
	d.Start(context.Background())
	t.Cleanup(func() { d.Stop(); st.Close() })
	enqueue(t, st, "SMcode", t0, t0.Add(3*time.Second))
	for range 3 {
		d.Wake()
		time.Sleep(30 * time.Millisecond)
		clk.Add(time.Second)
	}
	m := waitStatus(t, st, "SMcode", message.Failed)
	if !strings.Contains(m.ErrorMessage, "expired") || conn.count("SMcode") != 0 {
		t.Errorf("failed message %+v after %d sends; want failed as expired, never sent", m, conn.count("SMcode"))
	}
}

// An email waiting in the outbox of a server that has no route for email
// (restarted without its relay) fails, with why; it never reaches an SMS
// connector as a message to an address.
func TestEmailWithoutEmailRouteFails(t *testing.T) {
	conn := &scripted{answers: map[string][]error{}, sent: map[string][]string{}}
	clk := &clock{now: time.Now()}
	st, _ := setup(t, conn, clk)
	now := clk.Now()
	m := message.Message{SID: "SMemail1", AccountSID: "AC1", Direction: message.OutboundAPI, From: "otp@example.com", To: "user@example.com",
		Body: "masked", Status: message.Queued, Encoding: "UTF-8", Segments: 1, CreatedAt: now, UpdatedAt: now,
		Channel: message.Email, Subject: "Your code"}
	o := message.Outbound{SID: "SMemail1", AccountSID: "AC1", From: "otp@example.com", To: "user@example.com",
		Payload: []byte("Your code is 123456"), CreatedAt: now, Channel: message.Email, Subject: "Your code"}
	if err := st.InsertSend(context.Background(), m, o, nil); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, st, "SMemail1", message.Failed)
	if !strings.Contains(got.ErrorMessage, "--smtp") {
		t.Errorf("error_message %q does not say why", got.ErrorMessage)
	}
	if n := conn.count("SMemail1"); n != 0 {
		t.Fatalf("the SMS connector was handed the email %d times", n)
	}
}
