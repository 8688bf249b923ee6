package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/keyring"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
)

var ctx = context.Background()

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// outbox keeps what the pipeline hands off, to read the codes sent.
type outbox struct {
	mu   sync.Mutex
	keys *keyring.Keys
	sent []string // real bodies, in order
}

func (o *outbox) Lease(*message.Outbound) {}
func (o *outbox) Take(_ context.Context, m message.Outbound) {
	body, err := o.keys.Open(m.SID, m.Payload)
	if err != nil {
		panic(err)
	}
	o.mu.Lock()
	o.sent = append(o.sent, string(body))
	o.mu.Unlock()
}

var codeRE = regexp.MustCompile(`\d{4,10}`)

// last returns the code of the last SMS sent.
func (o *outbox) last(t *testing.T) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.sent) == 0 {
		t.Fatal("no SMS was sent")
	}
	return codeRE.FindString(o.sent[len(o.sent)-1])
}

type env struct {
	v     *verify.Service
	svcs  *verify.Services
	st    *sqlite.Store
	clk   *clock
	box   *outbox
	keys  *keyring.Keys
	event atomic.Int32
	reg   *prometheus.Registry
}

// newEnv makes a Service on a new SQLite store; opts change its pipeline's
// and its configuration first.
func newEnv(t *testing.T, opts ...func(*pipeline.Config, *verify.Config)) *env {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.InsertAccount(ctx, account.Account{SID: "AC1", Name: "test", TokenHash: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	keys, _ := keyring.New(bytes.Repeat([]byte{3}, 32))
	phones, _ := phone.NewParser("JO")
	e := &env{st: st, clk: &clock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}, keys: keys, box: &outbox{keys: keys}}
	pc := pipeline.Config{Store: st, Delivery: e.box, Phones: phones, Sealer: keys, Clock: e.clk}
	e.reg = prometheus.NewPedanticRegistry()
	if e.svcs, err = verify.NewServices(verify.ServicesConfig{Store: st, Clock: e.clk}); err != nil {
		t.Fatal(err)
	}
	vc := verify.Config{Store: st, Services: e.svcs, Keys: keys, Phones: phones, Clock: e.clk, AfterEvent: func() { e.event.Add(1) },
		Metrics: verify.NewMetrics(e.reg)}
	for _, o := range opts {
		o(&pc, &vc)
	}
	if vc.SMS, err = pipeline.New(pc); err != nil {
		t.Fatal(err)
	}
	e.v, err = verify.New(vc)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) send(t *testing.T, to string) verify.SendResult {
	t.Helper()
	res, err := e.v.Send(ctx, verify.SendRequest{AccountSID: "AC1", Service: "login", From: "MyApp", To: to})
	if err != nil {
		t.Fatalf("Send(%s): %v", to, err)
	}
	return res
}

func (e *env) check(to, code string) (verify.CheckResult, error) {
	return e.v.Check(ctx, verify.CheckRequest{AccountSID: "AC1", Service: "login", Number: to, Code: code})
}

func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	if e := otpgate.AsError(err); e == nil || e.Code != code {
		t.Fatalf("%s: %v, want code %d", what, err, code)
	}
}

func wrong(code string) string {
	if code[0] == '9' {
		return "0" + code[1:]
	}
	return string(code[0]+1) + code[1:]
}

func TestSendThenCheck(t *testing.T) {
	e := newEnv(t)
	res := e.send(t, "0790320012")
	v := res.Verification
	if v.Status != verification.Pending || v.SendAttempts != 1 || v.To != "+962790320012" || res.Operator != "Zain" || res.Service.Name != "login" {
		t.Fatalf("send result %+v", res)
	}
	code := e.box.last(t)
	if len(code) != verification.DefaultCodeLength {
		t.Fatalf("code %q, want %d digits", code, verification.DefaultCodeLength)
	}
	m, err := e.st.Message(ctx, "AC1", res.MessageSID)
	if err != nil || m.Body != "Your login verification code is: ******" || m.VerificationSID != v.SID {
		t.Fatalf("the message log shows %q (%v); the code must be masked", m.Body, err)
	}
	// Spelled another way, with Arabic-Indic digits in the code.
	arabic := []rune{}
	for _, d := range code {
		arabic = append(arabic, '٠'+(d-'0'))
	}
	got, err := e.check("+962 79 032 0012", string(arabic))
	if err != nil || !got.Valid || got.Verification.Status != verification.Approved || got.AttemptsRemaining != 0 {
		t.Fatalf("check with the right code: %+v, %v", got, err)
	}
	_, err = e.check("0790320012", code)
	wantCode(t, "a second check of an approved verification", err, otpgate.CodeNotFound)
}

func TestResendKeepsEveryCodeValidUpToMaxSends(t *testing.T) {
	e := newEnv(t)
	var codes []string
	for i := 1; i <= verification.MaxSends; i++ {
		res := e.send(t, "0790320012")
		if res.Verification.SendAttempts != i {
			t.Fatalf("send %d: send attempts %d", i, res.Verification.SendAttempts)
		}
		codes = append(codes, e.box.last(t))
		e.clk.Add(time.Second)
	}
	_, err := e.v.Send(ctx, verify.SendRequest{AccountSID: "AC1", Service: "login", From: "MyApp", To: "0790320012"})
	wantCode(t, "a sixth send", err, otpgate.CodeMaxSendAttempts)
	// The first code still works.
	got, err := e.check("0790320012", codes[0])
	if err != nil || !got.Valid {
		t.Fatalf("the first of %d codes: %+v, %v", len(codes), got, err)
	}
	// Once approved, a new send starts a new verification.
	res := e.send(t, "0790320012")
	if res.Verification.SendAttempts != 1 || res.Verification.SID == got.Verification.SID {
		t.Errorf("after approval: %+v, want a new verification", res.Verification)
	}
}

func TestWrongCodesLockTheVerification(t *testing.T) {
	e := newEnv(t)
	e.send(t, "0790320012")
	code := e.box.last(t)
	for i := 1; i <= verification.MaxChecks; i++ {
		got, err := e.check("0790320012", wrong(code))
		if err != nil || got.Valid || got.AttemptsRemaining != verification.MaxChecks-i {
			t.Fatalf("wrong code %d: %+v, %v", i, got, err)
		}
	}
	_, err := e.check("0790320012", code)
	wantCode(t, "the right code after 5 wrong ones", err, otpgate.CodeMaxCheckAttempts)
	_, err = e.v.Send(ctx, verify.SendRequest{AccountSID: "AC1", Service: "login", From: "MyApp", To: "0790320012"})
	wantCode(t, "a send while locked", err, otpgate.CodeMaxSendAttempts)
	// Locked until the codes expire; then a new verification starts.
	e.clk.Add(verification.DefaultTTL)
	res := e.send(t, "0790320012")
	if res.Verification.SendAttempts != 1 {
		t.Errorf("after expiry: %+v, want a new verification", res.Verification)
	}
}

func TestConcurrentWrongGuessesAreCapped(t *testing.T) {
	e := newEnv(t)
	e.send(t, "0790320012")
	code := e.box.last(t)
	var evaluated, locked atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			_, err := e.check("0790320012", wrong(code))
			switch oe := otpgate.AsError(err); {
			case err == nil:
				evaluated.Add(1)
			case oe != nil && oe.Code == otpgate.CodeMaxCheckAttempts:
				locked.Add(1)
			default:
				t.Errorf("check: %v", err)
			}
		})
	}
	wg.Wait()
	if evaluated.Load() != verification.MaxChecks || locked.Load() != 100-verification.MaxChecks {
		t.Fatalf("of 100 concurrent wrong guesses %d were evaluated and %d refused; want %d and %d",
			evaluated.Load(), locked.Load(), verification.MaxChecks, 100-verification.MaxChecks)
	}
}

func TestCodesExpire(t *testing.T) {
	e := newEnv(t)
	e.send(t, "0790320012")
	code := e.box.last(t)
	e.clk.Add(verification.DefaultTTL - time.Nanosecond)
	e.clk.Add(time.Nanosecond)
	_, err := e.check("0790320012", code)
	wantCode(t, "a check at the expiry", err, otpgate.CodeNotFound)
}

func TestEventsOnApprovalAndExpiry(t *testing.T) {
	e := newEnv(t)
	res := e.send(t, "0790320012")
	_, svc, err := e.svcs.Update(ctx, "AC1", res.Service.SID, func(svc *verification.Service) error {
		svc.EventsURL = "https://example.com/events"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.send(t, "0790320013")
	if _, err := e.check("0790320013", e.box.last(t)); err != nil {
		t.Fatal(err)
	}
	// 0790320012's verification expires; the sweep marks it and queues its event.
	e.clk.Add(verification.DefaultTTL)
	if n, err := e.v.ExpireDue(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue = %d, %v; want 1", n, err)
	}
	if n, err := e.v.ExpireDue(ctx); err != nil || n != 0 {
		t.Fatalf("second ExpireDue = %d, %v; want 0", n, err)
	}
	cbs, err := e.st.ClaimCallbacks(ctx, e.clk.Now(), e.clk.Now().Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range cbs {
		var ev callback.Event
		if err := json.Unmarshal([]byte(c.Body), &ev); err != nil || c.ContentType != callback.JSON || c.URL != svc.EventsURL {
			t.Fatalf("event %+v: %v", c, err)
		}
		types = append(types, ev.Type+" "+ev.To)
	}
	if fmt.Sprint(types) != "[verification.approved +962790320013 verification.expired +962790320012]" {
		t.Errorf("events %v", types)
	}
	if e.event.Load() != 2 {
		t.Errorf("AfterEvent called %d times, want 2", e.event.Load())
	}
}

func TestRequestErrors(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		name  string
		req   verify.SendRequest
		field string
	}{
		{"no service", verify.SendRequest{From: "MyApp", To: "0790320012"}, "service"},
		{"control character in service", verify.SendRequest{Service: "a\x00b", From: "MyApp", To: "0790320012"}, "service"},
		{"template without {code}", verify.SendRequest{Service: "s", From: "MyApp", To: "0790320012", Body: "hello"}, "body"},
		{"template with NUL", verify.SendRequest{Service: "s", From: "MyApp", To: "0790320012", Body: "code {code}\x00"}, "body"},
		{"bad number", verify.SendRequest{Service: "s", From: "MyApp", To: "12"}, "to"},
	} {
		tt.req.AccountSID = "AC1"
		_, err := e.v.Send(ctx, tt.req)
		if oe := otpgate.AsError(err); oe == nil || oe.Field != tt.field || oe.Code != otpgate.CodeInvalidParameter {
			t.Errorf("%s: %v, want an invalid %q", tt.name, err, tt.field)
		}
	}
	for _, tt := range []struct{ name, code, field string }{{"missing code", " ", "code"}, {"letters", "12ab56", "code"}, {"too long", "12345678901", "code"}} {
		_, err := e.v.Check(ctx, verify.CheckRequest{AccountSID: "AC1", Service: "s", Number: "0790320012", Code: tt.code})
		if oe := otpgate.AsError(err); oe == nil || oe.Field != tt.field {
			t.Errorf("%s: %v, want an invalid %q", tt.name, err, tt.field)
		}
	}
	if msgs, _ := e.st.Messages(ctx, message.Filter{AccountSID: "AC1"}); len(msgs) != 0 {
		t.Errorf("refused requests stored %d messages", len(msgs))
	}
	if _, err := e.st.Service(ctx, "AC1", "s"); err == nil {
		t.Error("a refused send created its service")
	}
}

// Sends and checks are counted by service and operator, so conversion
// (approved / new) shows per service and per operator.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.send(t, "0790320012") // Zain: new
	e.clk.Add(time.Minute)
	e.send(t, "0790320012") // resend
	zain := e.box.last(t)
	e.send(t, "0770320012") // Orange: new
	orange := e.box.last(t)
	if got, err := e.check("0790320012", zain); err != nil || !got.Valid {
		t.Fatalf("check: %+v, %v", got, err)
	}
	for range verification.MaxChecks {
		e.check("0770320012", wrong(orange))
	}
	e.check("0770320012", orange) // refused: no attempts left
	want := `
# HELP otpgate_verify_checks_total Codes checked, by service, operator and result: approved, wrong (an attempt used), or refused (no attempts left).
# TYPE otpgate_verify_checks_total counter
otpgate_verify_checks_total{operator="Orange",result="refused",service="login"} 1
otpgate_verify_checks_total{operator="Orange",result="wrong",service="login"} 5
otpgate_verify_checks_total{operator="Zain",result="approved",service="login"} 1
# HELP otpgate_verify_sends_total Codes sent (accepted for delivery), by service, the destination's operator, and whether it started a verification (new) or resent within one (resend).
# TYPE otpgate_verify_sends_total counter
otpgate_verify_sends_total{kind="new",operator="Orange",service="login"} 1
otpgate_verify_sends_total{kind="new",operator="Zain",service="login"} 1
otpgate_verify_sends_total{kind="resend",operator="Zain",service="login"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want), "otpgate_verify_checks_total", "otpgate_verify_sends_total"); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(e.reg); err != nil || len(problems) > 0 {
		t.Errorf("metric names: %v %v", problems, err)
	}
}

// An app ends a verification without a code (Verify v2's Status): an
// approval owes the service's event, a cancellation none; either ends it
// (its codes stop verifying), and one that is no longer pending, or of
// another service, is not found.
func TestConclude(t *testing.T) {
	e := newEnv(t)
	first := e.send(t, "0790320012")
	if _, _, err := e.svcs.Update(ctx, "AC1", first.Service.SID, func(svc *verification.Service) error {
		svc.EventsURL = "https://example.com/events"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	code := e.box.last(t)
	v, err := e.v.Conclude(ctx, "AC1", first.Service.SID, first.Verification.SID, verification.Canceled)
	if err != nil || v.Status != verification.Canceled || !v.UpdatedAt.Equal(e.clk.Now()) {
		t.Fatalf("Conclude canceled: %+v, %v", v, err)
	}
	if _, err := e.check("0790320012", code); otpgate.AsError(err) == nil || otpgate.AsError(err).Code != otpgate.CodeNotFound {
		t.Fatalf("the code of a canceled verification: %v; want not found", err)
	}
	if _, err := e.v.Conclude(ctx, "AC1", first.Service.SID, first.Verification.SID, verification.Approved); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Conclude of a canceled verification: %v; want store.ErrNotFound", err)
	}
	second := e.send(t, "0790320013")
	if _, err := e.v.Conclude(ctx, "AC1", "VA0", second.Verification.SID, verification.Approved); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Conclude under another service: %v; want store.ErrNotFound", err)
	}
	if _, err := e.v.Conclude(ctx, "AC1", second.Service.SID, second.Verification.SID, verification.Expired); err == nil {
		t.Fatal("Conclude took the status expired")
	}
	if e.event.Load() != 0 {
		t.Fatalf("AfterEvent called %d times before an approval", e.event.Load())
	}
	if v, err := e.v.Conclude(ctx, "AC1", second.Service.SID, second.Verification.SID, verification.Approved); err != nil || v.Status != verification.Approved {
		t.Fatalf("Conclude approved: %+v, %v", v, err)
	}
	if e.event.Load() != 1 {
		t.Fatalf("AfterEvent called %d times after an approval, want 1", e.event.Load())
	}
	cbs, err := e.st.ClaimCallbacks(ctx, e.clk.Now(), e.clk.Now().Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cbs) != 1 || !strings.Contains(cbs[0].Body, `"verification.approved"`) || !strings.Contains(cbs[0].Body, second.Verification.SID) {
		t.Fatalf("events after a cancel and an approval: %+v; want the approval's only", cbs)
	}
}
