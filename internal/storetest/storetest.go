// Package storetest is the conformance suite every otpgate store must pass:
// every method of every interface otpgate's parts declare for a store
// (pipeline.Store, verify.Store, verify.ServiceStore, messaging.Store, dispatch.Store,
// inbound.Store, webhook.Store, sandbox.Store, inbox.Store, account.Store,
// and what the command line uses), against their documented contracts. A
// backend's test calls Run with a function that opens a new, empty store and
// closes it in t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store { return MustOpenTemp(t) })
//	}
//
// Backend-specific behaviour (durability across a restart, migrations) is
// tested next to the backend.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/backend"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// Store is every operation otpgate needs of a store: backend.Store, which
// cmd/otpgate opens.
type Store = backend.Store

// Run runs the suite. open must return a new, empty store on each call and
// close it when the test ends (some tests close it first: Close twice must
// be fine).
func Run(t *testing.T, open func(t *testing.T) Store) {
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Accounts", accountTests},
		{"Services", serviceTests},
		{"Sends", sendTests},
		{"Limits", limitTests},
		{"Races", raceTests},
		{"Checks", checkTests},
		{"Expiry", expiryTests},
		{"Fallbacks", fallbackTests},
		{"Messages", messageTests},
		{"Outbox", outboxTests},
		{"Outcomes", outcomeTests},
		{"Callbacks", callbackTests},
		{"Inbound", inboundTests},
		{"Sandbox", sandboxTests},
		{"Guard", guardTests},
		{"Console", consoleTests},
		{"Audit", auditTests},
		{"Secret", secretTests},
		{"Factors", factorTests},
		{"Close", closeTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
			}
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, s Store)
}

// base has nanoseconds that a microsecond-precision column would lose; zone
// is not UTC, so a backend must convert the times it is given.
var (
	base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	zone = time.FixedZone("UTC+05:30", 5*3600+30*60)
	ctx  = context.Background()
)

const to, to2 = "+447700900123", "+447700900456"

// at returns base+d, in zone.
func at(d time.Duration) time.Time { return base.Add(d).In(zone) }

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func newAccount(sid string) account.Account {
	return account.Account{SID: sid, Name: "Account " + sid, TokenHash: hash("token " + sid), CreatedAt: at(-48 * time.Hour)}
}

func newService(accountSID, sid, name string) verification.Service {
	return verification.Service{SID: sid, AccountSID: accountSID, Name: name, CodeLength: 6, TTL: 10 * time.Minute, CreatedAt: at(-24 * time.Hour)}
}

func newVerification(accountSID, serviceSID, sid, to string, created time.Time) verification.Verification {
	return verification.Verification{
		SID: sid, AccountSID: accountSID, ServiceSID: serviceSID, To: to, From: "otpgate", Channel: "sms",
		Status: verification.Pending, Codes: []verification.Code{{Hash: hash("code " + sid), ExpiresAt: created.Add(10 * time.Minute)}},
		SendAttempts: 1, CreatedAt: created, UpdatedAt: created, ExpiresAt: created.Add(10 * time.Minute),
	}
}

func newMessage(accountSID, sid string, created time.Time) message.Message {
	return message.Message{
		SID: sid, AccountSID: accountSID, Direction: message.OutboundAPI,
		From: "otpgate", To: to, Body: "Your code is ******", Status: message.Queued,
		Encoding: "GSM-7", Segments: 1, CreatedAt: created, UpdatedAt: created, Channel: message.SMS,
	}
}

func newOutbound(m message.Message) message.Outbound {
	return message.Outbound{
		SID: m.SID, AccountSID: m.AccountSID, From: m.From, To: m.To, Payload: hash("sealed " + m.SID),
		ExpiresAt: m.CreatedAt.Add(time.Hour), CreatedAt: m.CreatedAt, StatusCallback: m.StatusCallback,
		Channel: m.Channel, Subject: m.Subject,
	}
}

// mustSend stores a queued message (due at its creation) with its outbox entry.
func mustSend(tb testing.TB, s Store, m message.Message) message.Outbound {
	tb.Helper()
	o := newOutbound(m)
	check(tb, "InsertSend("+m.SID+")", s.InsertSend(ctx, m, o, nil))
	return o
}

// mustQueue stores queued messages of AC1, each due at its time.
func mustQueue(tb testing.TB, s Store, due ...time.Time) []message.Outbound {
	tb.Helper()
	var out []message.Outbound
	for i, d := range due {
		out = append(out, mustSend(tb, s, newMessage("AC1", fmt.Sprintf("SM%03d", i), d)))
	}
	return out
}

// MustInsertAccount inserts a and fails the test if that fails.
func MustInsertAccount(tb testing.TB, s Store, a account.Account) {
	tb.Helper()
	if err := s.InsertAccount(ctx, a); err != nil {
		tb.Fatalf("InsertAccount(%s): %v", a.SID, err)
	}
}

// mustSetup inserts an account "AC1" with a service "SV1" named "login".
func mustSetup(tb testing.TB, s Store) verification.Service {
	tb.Helper()
	MustInsertAccount(tb, s, newAccount("AC1"))
	svc, err := s.CreateService(ctx, newService("AC1", "SV1", "login"))
	check(tb, "CreateService", err)
	return svc
}

func latest(tb testing.TB, s Store, accountSID, serviceSID, to string) (verification.Verification, error) {
	tb.Helper()
	return s.LatestVerification(ctx, verification.Key{AccountSID: accountSID, ServiceSID: serviceSID, To: to})
}

// mustStartVerification stores v as a new verification, with a code SMS.
func mustStartVerification(tb testing.TB, s Store, v verification.Verification) {
	tb.Helper()
	m := newMessage(v.AccountSID, "SM"+v.SID, v.CreatedAt)
	m.VerificationSID = v.SID
	err := s.InsertSend(ctx, m, newOutbound(m), &verification.Change{V: v, New: true})
	check(tb, "InsertSend(new verification "+v.SID+")", err)
}

func mustClaim(tb testing.TB, s Store, now, leaseUntil time.Time, limit int) []message.Outbound {
	tb.Helper()
	items, err := s.ClaimOutbox(ctx, now, leaseUntil, limit)
	check(tb, fmt.Sprintf("ClaimOutbox(%v, %v, %d)", now.Sub(base), leaseUntil.Sub(base), limit), err)
	return items
}

func sids(items []message.Outbound) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.SID
	}
	return out
}

// claimAllCallbacks takes every callback due by now (repeatedly, finishing
// each, so a subject's later callbacks come too) and returns them in the
// order they came.
func claimAllCallbacks(tb testing.TB, s Store, now time.Time) []callback.Callback {
	tb.Helper()
	var out []callback.Callback
	for range 100 {
		cbs, err := s.ClaimCallbacks(ctx, now, now.Add(time.Minute), 100)
		check(tb, "ClaimCallbacks", err)
		if len(cbs) == 0 {
			return out
		}
		for _, c := range cbs {
			check(tb, "FinishCallback", s.FinishCallback(ctx, c, callback.Attempt{CallbackSID: c.SID, Attempt: 1, Subject: c.Subject, URL: c.URL, At: now, StatusCode: 200}))
		}
		out = append(out, cbs...)
	}
	tb.Fatal("callbacks kept coming")
	return nil
}

// check fails the test now if err is not nil.
func check(tb testing.TB, what string, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func wantErr(tb testing.TB, what string, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Errorf("%s: err = %v, want %v", what, err, want)
	}
}

func wantNotFound(tb testing.TB, what string, err error) {
	tb.Helper()
	wantErr(tb, what, err, store.ErrNotFound)
}

// assertEqual compares got with want field by field. A time must be equal to
// the nanosecond and in UTC (a zero time must stay zero); nil and empty
// slices are equal.
func assertEqual(tb testing.TB, what string, got, want any) {
	tb.Helper()
	if d := diff(what, reflect.ValueOf(got), reflect.ValueOf(want)); len(d) > 0 {
		tb.Errorf("%s", strings.Join(d, "\n"))
	}
}

var timeType = reflect.TypeFor[time.Time]()

func diff(path string, got, want reflect.Value) []string {
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		switch {
		case w.IsZero() && !g.IsZero():
			return []string{fmt.Sprintf("%s = %v, want zero time", path, g)}
		case !w.IsZero() && (!g.Equal(w) || g.Location() != time.UTC):
			return []string{fmt.Sprintf("%s = %v, want %v", path, g, w.UTC())}
		}
		return nil
	}
	switch got.Kind() {
	case reflect.Struct:
		var out []string
		for i := range got.NumField() {
			out = append(out, diff(path+"."+got.Type().Field(i).Name, got.Field(i), want.Field(i))...)
		}
		return out
	case reflect.Slice:
		if got.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				return []string{fmt.Sprintf("%s = %x, want %x", path, got.Bytes(), want.Bytes())}
			}
			return nil
		}
		if got.Len() != want.Len() {
			return []string{fmt.Sprintf("%s has %d elements, want %d: got %+v, want %+v", path, got.Len(), want.Len(), got, want)}
		}
		var out []string
		for i := range got.Len() {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i))...)
		}
		return out
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				return []string{fmt.Sprintf("%s = %v, want %v", path, got, want)}
			}
			return nil
		}
		return diff(path, got.Elem(), want.Elem())
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return []string{fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface())}
	}
	return nil
}
