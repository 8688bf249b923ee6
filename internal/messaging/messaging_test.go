package messaging_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/keyring"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/sqlite"
)

var ctx = context.Background()

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// leaser holds every message it is given, as a dispatcher sending it does.
type leaser struct{ hold bool }

func (l leaser) Lease(o *message.Outbound) {
	if l.hold {
		o.LeaseUntil = o.CreatedAt.Add(time.Hour)
	}
}
func (leaser) Take(context.Context, message.Outbound) {}

func newService(t *testing.T, hold bool) (*messaging.Service, *sqlite.Store, *clock) {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, sid := range []string{"AC1", "AC2"} {
		if err := st.InsertAccount(ctx, account.Account{SID: sid, Name: sid, TokenHash: make([]byte, 32)}); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := keyring.New(bytes.Repeat([]byte{5}, 32))
	phones, _ := phone.NewParser("JO")
	clk := &clock{now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	p, err := pipeline.New(pipeline.Config{Store: st, Delivery: leaser{hold}, Phones: phones, Sealer: keys, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return messaging.New(messaging.Config{Store: st, SMS: p, Clock: clk}), st, clk
}

func wantCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	if e := otpgate.AsError(err); e == nil || e.Code != code {
		t.Fatalf("%s: %v, want code %d", what, err, code)
	}
}

func TestSendGetAndIsolation(t *testing.T) {
	svc, _, _ := newService(t, false)
	m, err := svc.Send(ctx, messaging.SendRequest{AccountSID: "AC1", From: "MyApp", To: "0771234567", Body: "مرحبا"})
	if err != nil || m.Status != message.Queued || m.To != "+962771234567" || m.Encoding != "UCS-2" {
		t.Fatalf("Send = %+v, %v", m, err)
	}
	got, err := svc.Get(ctx, "AC1", m.SID)
	if err != nil || got != m {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	_, err = svc.Get(ctx, "AC2", m.SID)
	wantCode(t, "another account's message", err, otpgate.CodeNotFound)
	for _, op := range []func() error{
		func() error { _, err := svc.Cancel(ctx, "AC2", m.SID); return err },
		func() error { _, err := svc.Redact(ctx, "AC2", m.SID); return err },
		func() error { return svc.Delete(ctx, "AC2", m.SID) },
	} {
		wantCode(t, "another account acting on a message", op(), otpgate.CodeNotFound)
	}
	if list, err := svc.List(ctx, message.Filter{AccountSID: "AC2"}); err != nil || len(list) != 0 {
		t.Errorf("AC2 lists %d messages, %v", len(list), err)
	}
}

func TestCancelWhileQueued(t *testing.T) {
	svc, st, clk := newService(t, false)
	m, err := svc.Send(ctx, messaging.SendRequest{AccountSID: "AC1", From: "MyApp", To: "0771234567", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Redact(ctx, "AC1", m.SID)
	wantCode(t, "redact while queued", err, messaging.CodeNotRedactable)
	clk.now = clk.now.Add(time.Second)
	c, err := svc.Cancel(ctx, "AC1", m.SID)
	if err != nil || c.Status != message.Canceled || !c.UpdatedAt.Equal(clk.now) {
		t.Fatalf("Cancel = %+v, %v", c, err)
	}
	if claimed, _ := st.ClaimOutbox(ctx, clk.now.Add(time.Hour), clk.now.Add(2*time.Hour), 10); len(claimed) != 0 {
		t.Fatal("a canceled message is still in the outbox")
	}
	_, err = svc.Cancel(ctx, "AC1", m.SID)
	wantCode(t, "cancel twice", err, messaging.CodeNotCancelable)
	r, err := svc.Redact(ctx, "AC1", m.SID)
	if err != nil || r.Body != "" || r.Status != message.Canceled {
		t.Fatalf("Redact of a canceled message = %+v, %v", r, err)
	}
	if err := svc.Delete(ctx, "AC1", m.SID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Get(ctx, "AC1", m.SID)
	wantCode(t, "get after delete", err, otpgate.CodeNotFound)
	wantCode(t, "delete twice", svc.Delete(ctx, "AC1", m.SID), otpgate.CodeNotFound)
}

func TestCancelRefusedWhileBeingSent(t *testing.T) {
	svc, _, _ := newService(t, true) // the dispatcher holds every message
	m, err := svc.Send(ctx, messaging.SendRequest{AccountSID: "AC1", From: "MyApp", To: "0771234567", Body: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Cancel(ctx, "AC1", m.SID)
	wantCode(t, "cancel while a dispatcher holds it", err, messaging.CodeNotCancelable)
	if e := otpgate.AsError(err); e == nil || e.Kind != otpgate.KindConflict {
		t.Errorf("kind %v, want a conflict", err)
	}
	if got, _ := svc.Get(ctx, "AC1", m.SID); got.Status != message.Queued {
		t.Errorf("status %s after a refused cancel, want queued", got.Status)
	}
}
