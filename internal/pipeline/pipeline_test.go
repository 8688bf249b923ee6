package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/keyring"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/routing"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

var ctx = context.Background()

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// delivery records what the pipeline hands off.
type delivery struct {
	mu     sync.Mutex
	leased []string
	taken  []message.Outbound
}

func (d *delivery) Lease(o *message.Outbound) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o.LeaseUntil = o.CreatedAt.Add(time.Minute)
	d.leased = append(d.leased, o.SID)
}

func (d *delivery) Take(_ context.Context, o message.Outbound) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.taken = append(d.taken, o)
}

type env struct {
	p     *pipeline.Pipeline
	st    *sqlite.Store
	keys  *keyring.Keys
	deliv *delivery
}

func newEnv(t *testing.T, set func(*pipeline.Config)) *env {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := keyring.New(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	phones, err := phone.NewParser("JO")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, keys: keys, deliv: &delivery{}}
	cfg := pipeline.Config{Store: st, Delivery: e.deliv, Phones: phones, Sealer: keys, Clock: fixedClock{t0}}
	if set != nil {
		set(&cfg)
	}
	if e.p, err = pipeline.New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

func wantFieldError(t *testing.T, what string, err error, field string, p otpgate.Problem, code int) {
	t.Helper()
	e := otpgate.AsError(err)
	if e == nil || e.Field != field || e.Problem != p || e.Code != code {
		t.Fatalf("%s: error %#v, want field %q problem %d code %d", what, err, field, p, code)
	}
	if strings.Contains(e.Message, "'"+field+"'") || strings.Contains(strings.ToLower(e.Message), "'"+field+"'") {
		t.Errorf("%s: the detail names the field itself (dialects do): %q", what, e.Message)
	}
}

func TestSendStoresAndHandsOff(t *testing.T) {
	e := newEnv(t, nil)
	res, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "079 032 0012", From: " MyApp ", Body: "مرحبا يا صديقي", StatusCallback: ""})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Message
	if m.To != "+962790320012" || m.From != "MyApp" || m.Status != message.Queued || m.Direction != message.OutboundAPI ||
		m.Encoding != "UCS-2" || m.Segments != 1 || m.Body != "مرحبا يا صديقي" || !m.CreatedAt.Equal(t0) {
		t.Errorf("message %+v", m)
	}
	if res.To.Operator != "Zain" {
		t.Errorf("operator %q, want Zain", res.To.Operator)
	}
	stored, err := e.st.Message(ctx, "AC1", m.SID)
	if err != nil || stored != m {
		t.Fatalf("stored %+v, %v; want %+v", stored, err, m)
	}
	// Leased before it was stored, taken after: the dispatcher has it, and
	// no poller claims it during the lease.
	if len(e.deliv.leased) != 1 || len(e.deliv.taken) != 1 || e.deliv.taken[0].SID != m.SID {
		t.Fatalf("leased %v, taken %+v", e.deliv.leased, e.deliv.taken)
	}
	if got, _ := e.st.ClaimOutbox(ctx, t0.Add(30*time.Second), t0.Add(time.Hour), 10); len(got) != 0 {
		t.Errorf("a handed-off message was claimed during its lease")
	}
	body, err := e.keys.Open(m.SID, e.deliv.taken[0].Payload)
	if err != nil || string(body) != "مرحبا يا صديقي" {
		t.Errorf("the sealed body opens to %q, %v", body, err)
	}
}

func TestNormaliseErrors(t *testing.T) {
	table, err := routing.New([]routing.Route{{Prefix: "+96279", Operator: "Zain", Connectors: []string{"zain"}, Senders: []string{"MyApp"}, DefaultSender: "MyApp"}}, []string{"zain"})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *pipeline.Config) { c.Senders = table })
	bare := newEnv(t, nil)
	tests := []struct {
		name    string
		p       *pipeline.Pipeline
		req     pipeline.Request
		field   string
		problem otpgate.Problem
		code    int
	}{
		{"missing to", bare.p, pipeline.Request{To: " ", From: "MyApp", Body: "x"}, "to", otpgate.MissingField, otpgate.CodeInvalidParameter},
		{"invalid to", bare.p, pipeline.Request{To: "12", From: "MyApp", Body: "x"}, "to", otpgate.InvalidField, otpgate.CodeInvalidParameter},
		{"landline", bare.p, pipeline.Request{To: "+96265000000", From: "MyApp", Body: "x"}, "to", otpgate.InvalidField, otpgate.CodeInvalidParameter},
		{"missing from, no route default", bare.p, pipeline.Request{To: "0790320012", Body: "x"}, "from", otpgate.MissingField, otpgate.CodeInvalidParameter},
		{"sender too long", bare.p, pipeline.Request{To: "0790320012", From: "MyVeryLongApp", Body: "x"}, "from", otpgate.InvalidField, otpgate.CodeInvalidParameter},
		{"sender not GSM", bare.p, pipeline.Request{To: "0790320012", From: "تطبيقي", Body: "x"}, "from", otpgate.InvalidField, otpgate.CodeInvalidParameter},
		{"sender not approved", e.p, pipeline.Request{To: "0790320012", From: "Other", Body: "x"}, "from", otpgate.NoProblem, otpgate.CodeSenderNotApproved},
		{"no route", e.p, pipeline.Request{To: "0770320012", From: "MyApp", Body: "x"}, "", otpgate.NoProblem, otpgate.CodeNoRoute},
		{"missing body", bare.p, pipeline.Request{To: "0790320012", From: "MyApp", Body: "  "}, "body", otpgate.MissingField, otpgate.CodeInvalidParameter},
		{"body too long", bare.p, pipeline.Request{To: "0790320012", From: "MyApp", Body: strings.Repeat("x", 1601)}, "body", otpgate.FieldTooLong, otpgate.CodeInvalidParameter},
		{"body not UTF-8", bare.p, pipeline.Request{To: "0790320012", From: "MyApp", Body: "\xff"}, "body", otpgate.InvalidField, otpgate.CodeInvalidParameter},
		{"body with NUL", bare.p, pipeline.Request{To: "0790320012", From: "MyApp", Body: "code\x00"}, "body", otpgate.InvalidField, otpgate.CodeInvalidParameter},
		{"callbacks not enabled", bare.p, pipeline.Request{To: "0790320012", From: "MyApp", Body: "x", StatusCallback: "https://example.com/"}, "status_callback", otpgate.InvalidField, otpgate.CodeInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.AccountSID = "AC1"
			_, err := tt.p.Send(ctx, tt.req)
			wantFieldError(t, tt.name, err, tt.field, tt.problem, tt.code)
		})
	}
	for _, env := range []*env{e, bare} {
		if msgs, err := env.st.Messages(ctx, message.Filter{AccountSID: "AC1"}); err != nil || len(msgs) != 0 {
			t.Errorf("refused sends stored %d messages (%v)", len(msgs), err)
		}
	}
	// The route's default sender fills an absent from.
	res, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", Body: "hello"})
	if err != nil || res.Message.From != "MyApp" {
		t.Errorf("default sender: %+v, %v", res.Message, err)
	}
}

type checker struct{ err error }

func (c checker) ValidateURL(context.Context, string) error { return c.err }

func TestStatusCallbackChecked(t *testing.T) {
	e := newEnv(t, func(c *pipeline.Config) { c.Callback = checker{errors.New("it resolves to a private address")} })
	_, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", From: "MyApp", Body: "x", StatusCallback: "http://10.0.0.1/"})
	wantFieldError(t, "private callback", err, "status_callback", otpgate.InvalidField, otpgate.CodeInvalidParameter)
	ok := newEnv(t, func(c *pipeline.Config) { c.Callback = checker{} })
	res, err := ok.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", From: "MyApp", Body: "x", StatusCallback: "https://example.com/s"})
	if err != nil || res.Message.StatusCallback != "https://example.com/s" || ok.deliv.taken[0].StatusCallback != "https://example.com/s" {
		t.Fatalf("send with a callback: %+v, %v", res.Message, err)
	}
}

func TestPolicyRefusesBeforeAnythingIsStored(t *testing.T) {
	refuse := otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeTooManyRequests, "slow down")
	var seen []string
	e := newEnv(t, func(c *pipeline.Config) {
		c.Policies = []pipeline.Policy{
			pipeline.PolicyFunc(func(_ context.Context, s pipeline.Send) error { seen = append(seen, s.To.E164+" "+s.From); return nil }),
			pipeline.PolicyFunc(func(context.Context, pipeline.Send) error { return refuse }),
		}
	})
	composed := false
	_, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", From: "MyApp",
		Compose: func(context.Context, pipeline.Send) (pipeline.Composed, error) {
			composed = true
			return pipeline.Composed{}, nil
		}})
	if !errors.Is(err, refuse) {
		t.Fatalf("Send = %v, want the policy's error", err)
	}
	if len(seen) != 1 || seen[0] != "+962790320012 MyApp" || composed {
		t.Errorf("policies saw %v (want the normalised send), composed %v (want not)", seen, composed)
	}
	if len(e.deliv.leased)+len(e.deliv.taken) != 0 {
		t.Errorf("a refused send was handed off")
	}
}

// conflictOnce fails the first InsertSend with a conflict, as when another
// send to the same number got there first.
type conflictOnce struct {
	pipeline.Store
	n int
}

func (c *conflictOnce) InsertSend(ctx context.Context, m message.Message, o message.Outbound, v *verification.Change, limits ...ratelimit.Limit) error {
	c.n++
	if c.n == 1 {
		return store.ErrConflict
	}
	return c.Store.InsertSend(ctx, m, o, v, limits...)
}

func TestComposeAgainAfterAConflict(t *testing.T) {
	var wrapped *conflictOnce
	e := newEnv(t, func(c *pipeline.Config) { wrapped = &conflictOnce{Store: c.Store}; c.Store = wrapped })
	calls := 0
	res, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", From: "MyApp",
		Compose: func(_ context.Context, s pipeline.Send) (pipeline.Composed, error) {
			calls++
			v := verification.Verification{SID: "VE1", AccountSID: "AC1", ServiceSID: "VA1", To: s.To.E164, From: s.From, Channel: "sms",
				Status: verification.Pending, SendAttempts: 1, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(time.Minute),
				Codes: []verification.Code{{Hash: bytes.Repeat([]byte{9}, 32), ExpiresAt: t0.Add(time.Minute)}}}
			return pipeline.Composed{Body: "code 123456", Shown: "code ******", ExpiresAt: t0.Add(time.Minute),
				Verification: &verification.Change{V: v, New: true}}, nil
		}})
	if err != nil || calls != 2 || wrapped.n != 2 {
		t.Fatalf("Send = %v after %d compositions and %d inserts; want success after 2 of each", err, calls, wrapped.n)
	}
	if res.Message.Body != "code ******" || res.Message.VerificationSID != "VE1" {
		t.Errorf("message %+v: want the masked body and the verification", res.Message)
	}
	body, _ := e.keys.Open(res.Message.SID, e.deliv.taken[0].Payload)
	if string(body) != "code 123456" || !e.deliv.taken[0].ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("outbound: body %q, expires %v", body, e.deliv.taken[0].ExpiresAt)
	}
	if v, err := e.st.LatestVerification(ctx, verification.Key{AccountSID: "AC1", ServiceSID: "VA1", To: "+962790320012"}); err != nil || v.SID != "VE1" {
		t.Errorf("verification stored with the SMS: %+v, %v", v, err)
	}
}

// conflictAlways fails every InsertSend with a conflict.
type conflictAlways struct {
	pipeline.Store
	n int
}

func (c *conflictAlways) InsertSend(context.Context, message.Message, message.Outbound, *verification.Change, ...ratelimit.Limit) error {
	c.n++
	return store.ErrConflict
}

// A code whose verification keeps changing under it is composed a bounded
// number of times (more than a verification's codes: each conflict is one
// of them stored first), then refused with a 429 to try again, not an
// internal error.
func TestComposeGivesUpWithATooMany(t *testing.T) {
	var wrapped *conflictAlways
	e := newEnv(t, func(c *pipeline.Config) { wrapped = &conflictAlways{Store: c.Store}; c.Store = wrapped })
	calls := 0
	_, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", From: "MyApp",
		Compose: func(_ context.Context, s pipeline.Send) (pipeline.Composed, error) {
			calls++
			v := verification.Verification{SID: "VE1", AccountSID: "AC1", ServiceSID: "VA1", To: s.To.E164, Status: verification.Pending, SendAttempts: 1}
			return pipeline.Composed{Body: "code 123456", Verification: &verification.Change{V: v, New: true}}, nil
		}})
	oe := otpgate.AsError(err)
	if oe == nil || oe.Kind != otpgate.KindTooMany || oe.Code != otpgate.CodeMaxSendAttempts || oe.RetryAfter != time.Second ||
		!strings.Contains(oe.Message, "+96279*****12") {
		t.Fatalf("Send after endless conflicts = %#v, want a 429 (60203) to try again in a second, naming the masked number", err)
	}
	if calls <= verification.MaxSends+1 || calls != wrapped.n || calls > 2*verification.MaxSends {
		t.Errorf("composed %d times, inserted %d: want more than MaxSends+1 (%d), each inserted, and a bound", calls, wrapped.n, verification.MaxSends+1)
	}
	if len(e.deliv.taken) != 0 {
		t.Errorf("a send never stored was handed off")
	}
}

// events records, in order, what happened to one send.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

// announcing is a store that announces a write (store.WhenWritten) before
// it returns, as SQLite does between its commit and its fsync, or, silent,
// never does, as PostgreSQL.
type announcing struct {
	pipeline.Store
	silent bool
	ev     *events
}

func (a announcing) InsertSend(ctx context.Context, m message.Message, o message.Outbound, v *verification.Change, limits ...ratelimit.Limit) error {
	written := store.Written(ctx)
	err := a.Store.InsertSend(store.WhenWritten(ctx, nil), m, o, v, limits...)
	if err == nil && !a.silent && written != nil {
		written()
	}
	a.ev.add("returned")
	return err
}

type loggedDelivery struct {
	*delivery
	ev *events
}

func (d loggedDelivery) Take(ctx context.Context, o message.Outbound) {
	d.ev.add("taken")
	d.delivery.Take(ctx, o)
}

// A store that announces a write hands the message to the delivery before
// it returns (the SMSC gets it during the fsync); one that does not, after.
// Either way the delivery takes it once.
func TestHandsOffOnceWritten(t *testing.T) {
	for _, silent := range []bool{false, true} {
		ev := &events{}
		e := newEnv(t, func(c *pipeline.Config) {
			c.Store = announcing{Store: c.Store, silent: silent, ev: ev}
			c.Delivery = loggedDelivery{delivery: c.Delivery.(*delivery), ev: ev}
		})
		if _, err := e.p.Send(ctx, pipeline.Request{AccountSID: "AC1", To: "0790320012", From: "MyApp", Body: "hello"}); err != nil {
			t.Fatal(err)
		}
		want := []string{"taken", "returned"}
		if silent {
			want = []string{"returned", "taken"}
		}
		if !slices.Equal(ev.log, want) || len(e.deliv.taken) != 1 {
			t.Errorf("silent store %v: %v, %d taken; want %v, 1 taken", silent, ev.log, len(e.deliv.taken), want)
		}
	}
}
