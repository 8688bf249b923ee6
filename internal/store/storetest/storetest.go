// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a new, empty
// store and closes it in t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return mustOpen(t) })
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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/store"
)

// Run runs the suite. open must return a new, empty store for each call and
// close it when the test ends (the suite itself closes some stores, and Close
// twice must be fine).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Accounts", accountTests},
		{"Update", updateTests},
		{"Services", serviceTests},
		{"Verifications", verificationTests},
		{"Messages", messageTests},
		{"Outbox", outboxTests},
		{"Sandbox", sandboxTests},
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
	run  func(t *testing.T, s store.Store)
}

// base has nanoseconds that a microsecond-precision backend would lose; zone
// is not UTC, so a backend must convert what it is given.
var (
	base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	zone = time.FixedZone("UTC+05:30", 5*3600+30*60)
	ctx  = context.Background()
)

// at returns base+d, in zone.
func at(d time.Duration) time.Time { return base.Add(d).In(zone) }

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func newAccount(sid string) store.Account {
	return store.Account{SID: sid, Name: "Account " + sid, TokenHash: hash("token " + sid), CreatedAt: at(-48 * time.Hour)}
}

func newService(accountSID, sid, name string) store.Service {
	return store.Service{SID: sid, AccountSID: accountSID, Name: name, CodeLength: 6, TTL: 10 * time.Minute, CreatedAt: at(-24 * time.Hour)}
}

func newVerification(accountSID, serviceSID, sid, to string, created time.Time) store.Verification {
	return store.Verification{
		SID: sid, AccountSID: accountSID, ServiceSID: serviceSID, To: to, From: "otpgate", Channel: "sms",
		Status: store.StatusPending, Codes: []store.Code{{Hash: hash("code " + sid), ExpiresAt: created.Add(10 * time.Minute)}},
		SendAttempts: 1, CreatedAt: created, UpdatedAt: created, ExpiresAt: created.Add(10 * time.Minute),
	}
}

func newMessage(accountSID, sid string) store.Message {
	return store.Message{
		SID: sid, AccountSID: accountSID, VerificationSID: "VE" + sid, Direction: "outbound-api",
		From: "otpgate", To: "+447700900123", Body: "Your code is ******", Status: store.MsgQueued,
		Encoding: "gsm7", Segments: 1, CreatedAt: at(-time.Minute), UpdatedAt: at(-time.Minute),
	}
}

func newOutboxItem(accountSID, messageSID string, due time.Time) store.OutboxItem {
	return store.OutboxItem{
		MessageSID: messageSID, AccountSID: accountSID, From: "otpgate", To: "+447700900123",
		Payload: hash("sealed " + messageSID), NextAttemptAt: due, ExpiresAt: at(time.Hour), CreatedAt: at(-10 * time.Minute),
	}
}

// MustInsertAccount inserts a and fails the test if that fails.
func MustInsertAccount(tb testing.TB, s store.Store, a store.Account) {
	tb.Helper()
	if err := s.InsertAccount(ctx, a); err != nil {
		tb.Fatalf("InsertAccount(%s): %v", a.SID, err)
	}
}

// MustUpdate runs fn in s.Update and fails the test if that fails.
func MustUpdate(tb testing.TB, s store.Store, fn func(store.Tx) error) {
	tb.Helper()
	if err := s.Update(ctx, fn); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

// mustSetup inserts an account "AC1" with a service "SV1" named "login".
func mustSetup(tb testing.TB, s store.Store) (store.Account, store.Service) {
	tb.Helper()
	a, svc := newAccount("AC1"), newService("AC1", "SV1", "login")
	MustInsertAccount(tb, s, a)
	MustUpdate(tb, s, func(tx store.Tx) error { return tx.InsertService(svc) })
	return a, svc
}

func mustClaim(tb testing.TB, s store.Store, now, leaseUntil time.Time, limit int) []store.OutboxItem {
	tb.Helper()
	items, err := s.ClaimOutbox(ctx, now, leaseUntil, limit)
	if err != nil {
		tb.Fatalf("ClaimOutbox(%v, %v, %d): %v", now, leaseUntil, limit, err)
	}
	return items
}

func sids(items []store.OutboxItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.MessageSID
	}
	return out
}

func wantNotFound(tb testing.TB, what string, err error) {
	tb.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		tb.Errorf("%s: err = %v, want store.ErrNotFound", what, err)
	}
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
	}
	if !reflect.DeepEqual(got.Interface(), want.Interface()) {
		return []string{fmt.Sprintf("%s = %#v, want %#v", path, got.Interface(), want.Interface())}
	}
	return nil
}

var accountTests = []testCase{
	{"InsertThenRead", func(t *testing.T, s store.Store) {
		a1, a2 := newAccount("AC1"), newAccount("AC2")
		a2.CreatedAt = at(time.Nanosecond)
		MustInsertAccount(t, s, a1)
		MustInsertAccount(t, s, a2)
		for _, want := range []store.Account{a1, a2} {
			got, err := s.Account(ctx, want.SID)
			if err != nil {
				t.Fatalf("Account(%s): %v", want.SID, err)
			}
			assertEqual(t, "Account("+want.SID+")", got, want)
		}
		all, err := s.Accounts(ctx)
		if err != nil {
			t.Fatalf("Accounts: %v", err)
		}
		sort.Slice(all, func(i, j int) bool { return all[i].SID < all[j].SID })
		assertEqual(t, "Accounts", all, []store.Account{a1, a2})
	}},
	{"UnknownIsNotFound", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		_, err := s.Account(ctx, "AC2")
		wantNotFound(t, "Account(AC2)", err)
	}},
	{"EmptyAccounts", func(t *testing.T, s store.Store) {
		all, err := s.Accounts(ctx)
		if err != nil || len(all) != 0 {
			t.Errorf("Accounts of an empty store = %v, %v; want none, nil", all, err)
		}
	}},
	{"VersionChangesOnlyOnInsert", func(t *testing.T, s store.Store) {
		version := func() int64 {
			t.Helper()
			v, err := s.AccountsVersion(ctx)
			if err != nil {
				t.Fatalf("AccountsVersion: %v", err)
			}
			return v
		}
		v0 := version()
		if v := version(); v != v0 {
			t.Errorf("AccountsVersion changed from %d to %d with no write", v0, v)
		}
		MustInsertAccount(t, s, newAccount("AC1"))
		v1 := version()
		if v1 == v0 {
			t.Errorf("AccountsVersion = %d after an insert, unchanged", v1)
		}
		// Other writes, and an insert that fails, leave it alone.
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertService(newService("AC1", "SV1", "login")) })
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertMessage(newMessage("AC1", "SM1")) })
		if err := s.InsertAccount(ctx, newAccount("AC1")); err == nil {
			t.Error("second InsertAccount(AC1) succeeded")
		}
		if v := version(); v != v1 {
			t.Errorf("AccountsVersion changed from %d to %d without an account added", v1, v)
		}
		MustInsertAccount(t, s, newAccount("AC2"))
		if v := version(); v == v1 || v == v0 {
			t.Errorf("AccountsVersion = %d after a second insert, want a new value (had %d, then %d)", v, v0, v1)
		}
	}},
	{"DuplicateSIDFails", func(t *testing.T, s store.Store) {
		first := newAccount("AC1")
		MustInsertAccount(t, s, first)
		second := first
		second.Name, second.TokenHash, second.CreatedAt = "Impostor", hash("other token"), at(time.Hour)
		if err := s.InsertAccount(ctx, second); err == nil {
			t.Fatal("InsertAccount with a duplicate SID succeeded")
		}
		got, err := s.Account(ctx, "AC1")
		if err != nil {
			t.Fatalf("Account(AC1): %v", err)
		}
		assertEqual(t, "Account(AC1)", got, first)
		if all, err := s.Accounts(ctx); err != nil || len(all) != 1 {
			t.Errorf("Accounts = %d accounts, %v; want 1", len(all), err)
		}
	}},
}

// writeAll writes one record of every kind for index i.
func writeAll(tx store.Tx, accountSID string, i int) error {
	svc := newService(accountSID, fmt.Sprintf("SV%03d", i), fmt.Sprintf("svc-%03d", i))
	if err := tx.InsertService(svc); err != nil {
		return err
	}
	if err := tx.InsertVerification(newVerification(accountSID, svc.SID, fmt.Sprintf("VE%03d", i), "+447700900123", at(0))); err != nil {
		return err
	}
	if err := tx.InsertMessage(newMessage(accountSID, fmt.Sprintf("SM%03d", i))); err != nil {
		return err
	}
	return tx.Enqueue(newOutboxItem(accountSID, fmt.Sprintf("SM%03d", i), at(0)))
}

// present reports which of writeAll's records for i exist; all or none must.
func present(t *testing.T, s store.Store, accountSID string, i int, outbox map[string]bool) (found, missing []string) {
	t.Helper()
	var unexpected []error
	note := func(what string, err error) {
		switch {
		case err == nil:
			found = append(found, what)
		case errors.Is(err, store.ErrNotFound):
			missing = append(missing, what)
		default:
			unexpected = append(unexpected, fmt.Errorf("reading %s: %w", what, err))
		}
	}
	MustUpdate(t, s, func(tx store.Tx) error {
		_, err := tx.Service(accountSID, fmt.Sprintf("svc-%03d", i))
		note("service", err)
		_, err = tx.LatestVerification(accountSID, fmt.Sprintf("SV%03d", i), "+447700900123")
		note("verification", err)
		_, err = tx.Message(fmt.Sprintf("SM%03d", i))
		note("message", err)
		return nil
	})
	_, err := s.Message(ctx, accountSID, fmt.Sprintf("SM%03d", i))
	note("message (Store.Message)", err)
	if err := errors.Join(unexpected...); err != nil {
		t.Fatal(err)
	}
	if outbox[fmt.Sprintf("SM%03d", i)] {
		found = append(found, "outbox item")
	} else {
		missing = append(missing, "outbox item")
	}
	return found, missing
}

// allOutbox claims every item in the outbox and returns their SIDs.
func allOutbox(t *testing.T, s store.Store) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, it := range mustClaim(t, s, at(1000*time.Hour), at(2000*time.Hour), 100000) {
		out[it.MessageSID] = true
	}
	return out
}

var updateTests = []testCase{
	{"ErrorLeavesNothing", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		boom := errors.New("boom")
		calls := 0
		err := s.Update(ctx, func(tx store.Tx) error {
			calls++
			if err := writeAll(tx, "AC1", 1); err != nil {
				return err
			}
			if err := tx.InsertSandboxMessage(store.SandboxMessage{SID: "SM001", AccountSID: "AC1", To: "+447700900123", CreatedAt: at(0)}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want the error fn returned", err)
		}
		if calls != 1 {
			t.Errorf("fn ran %d times, want 1", calls)
		}
		if found, _ := present(t, s, "AC1", 1, allOutbox(t, s)); len(found) > 0 {
			t.Errorf("after a failed Update these rows exist: %v", found)
		}
		if msgs, err := s.SandboxMessages(ctx, "AC1", "+447700900123", 10); err != nil || len(msgs) != 0 {
			t.Errorf("SandboxMessages after a failed Update = %v, %v; want none", msgs, err)
		}
		if _, err := s.NextDue(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NextDue after a failed Update = %v, want store.ErrNotFound", err)
		}
	}},
	{"FailuresDoNotRollBackOthers", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		const n = 50
		errs := make([]error, n)
		sentinels := make([]error, n)
		var calls [n]atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			if i%5 == 4 {
				sentinels[i] = fmt.Errorf("op %d fails", i)
			}
			wg.Go(func() {
				<-start
				errs[i] = s.Update(ctx, func(tx store.Tx) error {
					calls[i].Add(1)
					if err := writeAll(tx, "AC1", i); err != nil {
						return err
					}
					return sentinels[i]
				})
			})
		}
		close(start)
		wg.Wait()
		outbox := allOutbox(t, s)
		for i := range n {
			if c := calls[i].Load(); c != 1 {
				t.Errorf("op %d: fn ran %d times, want 1", i, c)
			}
			found, missing := present(t, s, "AC1", i, outbox)
			if sentinels[i] != nil {
				if !errors.Is(errs[i], sentinels[i]) {
					t.Errorf("op %d: Update = %v, want %v", i, errs[i], sentinels[i])
				}
				if len(found) > 0 {
					t.Errorf("op %d failed but these rows exist: %v", i, found)
				}
				continue
			}
			if errs[i] != nil {
				t.Errorf("op %d: Update = %v, want nil", i, errs[i])
			}
			if len(missing) > 0 {
				t.Errorf("op %d succeeded but these rows are missing: %v", i, missing)
			}
		}
	}},
	{"SerializableReadModifyWrite", func(t *testing.T, s store.Store) {
		_, svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", "+447700900123", at(0))
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertVerification(v) })
		const n = 100
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				err := s.Update(ctx, func(tx store.Tx) error {
					cur, err := tx.LatestVerification("AC1", svc.SID, v.To)
					if err != nil {
						return err
					}
					cur.CheckAttempts++
					return tx.UpdateVerification(cur)
				})
				if err != nil {
					t.Errorf("Update: %v", err)
				}
			})
		}
		wg.Wait()
		MustUpdate(t, s, func(tx store.Tx) error {
			got, err := tx.LatestVerification("AC1", svc.SID, v.To)
			if err != nil {
				return err
			}
			if got.CheckAttempts != n {
				t.Errorf("CheckAttempts = %d after %d concurrent increments", got.CheckAttempts, n)
			}
			return nil
		})
	}},
}

var serviceTests = []testCase{
	{"RoundTripAndScope", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		login := newService("AC1", "SV1", "login")
		other := newService("AC1", "SV2", "payments")
		other.CodeLength, other.TTL = 8, 90*time.Second+123*time.Nanosecond
		sameName := newService("AC2", "SV3", "login")
		sameName.CodeLength, sameName.TTL = 4, time.Hour
		MustUpdate(t, s, func(tx store.Tx) error {
			for _, svc := range []store.Service{login, other, sameName} {
				if err := tx.InsertService(svc); err != nil {
					return err
				}
			}
			return nil
		})
		tests := []struct {
			account, name string
			want          *store.Service
		}{
			{"AC1", "login", &login},
			{"AC1", "payments", &other},
			{"AC2", "login", &sameName},
			{"AC2", "payments", nil},
			{"AC1", "unknown", nil},
			{"AC3", "login", nil},
		}
		MustUpdate(t, s, func(tx store.Tx) error {
			for _, tt := range tests {
				what := fmt.Sprintf("Service(%s, %s)", tt.account, tt.name)
				got, err := tx.Service(tt.account, tt.name)
				if tt.want == nil {
					wantNotFound(t, what, err)
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				assertEqual(t, what, got, *tt.want)
			}
			return nil
		})
	}},
}

var verificationTests = []testCase{
	{"InsertThenLatest", func(t *testing.T, s store.Store) {
		_, svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", "+447700900123", at(0))
		v.Codes = append(v.Codes, store.Code{Hash: hash("second"), ExpiresAt: at(11*time.Minute + 7)})
		v.SendAttempts, v.CheckAttempts, v.UpdatedAt = 2, 1, at(time.Second+1)
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertVerification(v) })
		MustUpdate(t, s, func(tx store.Tx) error {
			got, err := tx.LatestVerification("AC1", svc.SID, v.To)
			if err != nil {
				return err
			}
			assertEqual(t, "LatestVerification", got, v)
			return nil
		})
	}},
	{"LatestIsNewest", func(t *testing.T, s store.Store) {
		_, svc := mustSetup(t, s)
		const to = "+447700900123"
		inserts := [][]store.Verification{
			{newVerification("AC1", svc.SID, "VE1", to, at(0))},
			{newVerification("AC1", svc.SID, "VE2", to, at(time.Second))},
			// Same created_at as VE2, inserted later: it wins.
			{newVerification("AC1", svc.SID, "VE3", to, at(time.Second))},
			// Older, inserted last: it does not.
			{newVerification("AC1", svc.SID, "VE4", to, at(-time.Hour))},
			// Equal times within one Update: the later insert wins.
			{newVerification("AC1", svc.SID, "VE5", to, at(time.Minute)), newVerification("AC1", svc.SID, "VE6", to, at(time.Minute))},
		}
		wantAfter := []string{"VE1", "VE2", "VE3", "VE3", "VE6"}
		for i, batch := range inserts {
			MustUpdate(t, s, func(tx store.Tx) error {
				for _, v := range batch {
					if err := tx.InsertVerification(v); err != nil {
						return err
					}
				}
				return nil
			})
			MustUpdate(t, s, func(tx store.Tx) error {
				got, err := tx.LatestVerification("AC1", svc.SID, to)
				if err != nil {
					return err
				}
				if got.SID != wantAfter[i] {
					t.Errorf("after inserting %s: LatestVerification = %s, want %s", batch[len(batch)-1].SID, got.SID, wantAfter[i])
				}
				return nil
			})
		}
	}},
	{"LatestIsScoped", func(t *testing.T, s store.Store) {
		_, svc := mustSetup(t, s)
		MustInsertAccount(t, s, newAccount("AC2"))
		svc2, svc3 := newService("AC1", "SV2", "other"), newService("AC2", "SV3", "login")
		const to, to2 = "+447700900123", "+447700900456"
		mine := newVerification("AC1", svc.SID, "VE1", to, at(0))
		decoys := []store.Verification{
			newVerification("AC1", svc2.SID, "VE2", to, at(time.Minute)),   // another service
			newVerification("AC1", svc.SID, "VE3", to2, at(time.Minute)),   // another number
			newVerification("AC2", svc3.SID, "VE4", to, at(time.Minute)),   // another account
			newVerification("AC2", svc.SID, "VE5", to2, at(2*time.Minute)), // another account, same service SID
		}
		MustUpdate(t, s, func(tx store.Tx) error {
			for _, svc := range []store.Service{svc2, svc3} {
				if err := tx.InsertService(svc); err != nil {
					return err
				}
			}
			for _, v := range append([]store.Verification{mine}, decoys...) {
				if err := tx.InsertVerification(v); err != nil {
					return err
				}
			}
			return nil
		})
		tests := []struct{ account, service, to, want string }{
			{"AC1", svc.SID, to, "VE1"},
			{"AC1", svc2.SID, to, "VE2"},
			{"AC1", svc.SID, to2, "VE3"},
			{"AC2", svc3.SID, to, "VE4"},
			{"AC2", svc.SID, to2, "VE5"},
			{"AC2", svc.SID, to, ""},
			{"AC1", svc3.SID, to, ""},
			{"AC1", svc.SID, "+447700900789", ""},
		}
		MustUpdate(t, s, func(tx store.Tx) error {
			for _, tt := range tests {
				what := fmt.Sprintf("LatestVerification(%s, %s, %s)", tt.account, tt.service, tt.to)
				got, err := tx.LatestVerification(tt.account, tt.service, tt.to)
				switch {
				case tt.want == "":
					wantNotFound(t, what, err)
				case err != nil:
					t.Errorf("%s: %v", what, err)
				case got.SID != tt.want:
					t.Errorf("%s = %s, want %s", what, got.SID, tt.want)
				}
			}
			return nil
		})
	}},
	{"UpdateRoundTrip", func(t *testing.T, s store.Store) {
		_, svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", "+447700900123", at(0))
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertVerification(v) })
		steps := []func(v *store.Verification){
			func(v *store.Verification) {
				v.Codes = append(v.Codes, store.Code{Hash: hash("c2"), ExpiresAt: at(20*time.Minute + 1)},
					store.Code{Hash: hash("c3"), ExpiresAt: at(30*time.Minute + 999)})
				v.SendAttempts, v.UpdatedAt, v.ExpiresAt = 3, at(5*time.Minute+3), at(30*time.Minute+999)
			},
			func(v *store.Verification) {
				v.Status, v.CheckAttempts, v.UpdatedAt = store.StatusMaxAttempts, 5, at(6*time.Minute+5)
			},
			func(v *store.Verification) {
				v.Status, v.Codes, v.UpdatedAt = store.StatusApproved, nil, at(7*time.Minute)
			},
		}
		for i, step := range steps {
			step(&v)
			MustUpdate(t, s, func(tx store.Tx) error { return tx.UpdateVerification(v) })
			MustUpdate(t, s, func(tx store.Tx) error {
				got, err := tx.LatestVerification("AC1", svc.SID, v.To)
				if err != nil {
					return err
				}
				assertEqual(t, fmt.Sprintf("after update %d: verification", i+1), got, v)
				return nil
			})
		}
	}},
	{"UpdateUnknownIsNotFound", func(t *testing.T, s store.Store) {
		_, svc := mustSetup(t, s)
		MustUpdate(t, s, func(tx store.Tx) error {
			return tx.InsertVerification(newVerification("AC1", svc.SID, "VE1", "+447700900123", at(0)))
		})
		var inner error
		err := s.Update(ctx, func(tx store.Tx) error {
			inner = tx.UpdateVerification(newVerification("AC1", svc.SID, "VE2", "+447700900123", at(0)))
			return inner
		})
		wantNotFound(t, "UpdateVerification(VE2)", inner)
		wantNotFound(t, "Update returning it", err)
	}},
}

var messageTests = []testCase{
	{"InsertThenRead", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		m := store.Message{
			SID: "SM1", AccountSID: "AC1", VerificationSID: "VE1", Direction: "outbound-api",
			From: "otpgate", To: "+447700900123", Body: "Ваш код ****** 🙂", Status: store.MsgSent,
			Encoding: "ucs2", Segments: 2, Connector: "smpp-1", ProviderID: "p-42", ErrorCode: 30003,
			ErrorMessage: "unreachable", CreatedAt: at(0), UpdatedAt: at(time.Second + 1), SentAt: at(time.Second + 2),
		}
		bare := newMessage("AC1", "SM2") // empty optional fields, zero SentAt
		MustUpdate(t, s, func(tx store.Tx) error {
			for _, m := range []store.Message{m, bare} {
				if err := tx.InsertMessage(m); err != nil {
					return err
				}
				got, err := tx.Message(m.SID)
				if err != nil {
					return fmt.Errorf("Tx.Message(%s) in the inserting Update: %w", m.SID, err)
				}
				assertEqual(t, "Tx.Message in the inserting Update", got, m)
			}
			return nil
		})
		for _, want := range []store.Message{m, bare} {
			MustUpdate(t, s, func(tx store.Tx) error {
				got, err := tx.Message(want.SID)
				if err != nil {
					return err
				}
				assertEqual(t, "Tx.Message("+want.SID+")", got, want)
				return nil
			})
			got, err := s.Message(ctx, "AC1", want.SID)
			if err != nil {
				t.Fatalf("Store.Message(AC1, %s): %v", want.SID, err)
			}
			assertEqual(t, "Store.Message("+want.SID+")", got, want)
		}
	}},
	{"ScopedAndNotFound", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertMessage(newMessage("AC1", "SM1")) })
		for _, tt := range []struct{ account, sid string }{{"AC2", "SM1"}, {"AC1", "SM2"}, {"", "SM1"}} {
			_, err := s.Message(ctx, tt.account, tt.sid)
			wantNotFound(t, fmt.Sprintf("Store.Message(%q, %q)", tt.account, tt.sid), err)
		}
		MustUpdate(t, s, func(tx store.Tx) error {
			_, err := tx.Message("SM2")
			wantNotFound(t, "Tx.Message(SM2)", err)
			return nil
		})
	}},
	{"UpdateRoundTrip", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		m := newMessage("AC1", "SM1")
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertMessage(m) })
		steps := []func(m *store.Message){
			func(m *store.Message) {
				m.Status, m.Connector, m.ProviderID = store.MsgSent, "smpp-1", "0a1b2c"
				m.UpdatedAt, m.SentAt = at(time.Second+1), at(time.Second+1)
			},
			func(m *store.Message) {
				m.Status, m.ErrorCode, m.ErrorMessage, m.UpdatedAt = store.MsgUndelivered, 30005, "unknown destination", at(time.Minute+7)
			},
			func(m *store.Message) {
				m.Status, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage = store.MsgFailed, "", "", 0, ""
				m.UpdatedAt, m.SentAt = at(2*time.Minute), time.Time{}
			},
		}
		for i, step := range steps {
			step(&m)
			MustUpdate(t, s, func(tx store.Tx) error { return tx.UpdateMessage(m) })
			got, err := s.Message(ctx, "AC1", "SM1")
			if err != nil {
				t.Fatalf("Store.Message: %v", err)
			}
			assertEqual(t, fmt.Sprintf("after update %d: message", i+1), got, m)
		}
	}},
	{"UpdateUnknownIsNotFound", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		var inner error
		err := s.Update(ctx, func(tx store.Tx) error {
			inner = tx.UpdateMessage(newMessage("AC1", "SM1"))
			return inner
		})
		wantNotFound(t, "UpdateMessage(SM1)", inner)
		wantNotFound(t, "Update returning it", err)
	}},
}

// mustEnqueue enqueues items, each due at its time; their SIDs sort in the
// opposite order from their due times, so an order by SID shows.
func mustEnqueue(t *testing.T, s store.Store, due ...time.Time) []store.OutboxItem {
	t.Helper()
	items := make([]store.OutboxItem, len(due))
	for i, d := range due {
		items[i] = newOutboxItem("AC1", fmt.Sprintf("SM%03d", 999-i), d)
		items[i].Attempts, items[i].LastError = i, fmt.Sprintf("error %d", i)
		if i%2 == 1 {
			items[i].ExpiresAt = time.Time{}
		}
	}
	MustUpdate(t, s, func(tx store.Tx) error {
		for _, it := range items {
			if err := tx.Enqueue(it); err != nil {
				return err
			}
		}
		return nil
	})
	return items
}

// assertClaimed checks that got are want's items in want's order, intact
// except for NextAttemptAt, which a claim may set to the lease.
func assertClaimed(t *testing.T, what string, got, want []store.OutboxItem) {
	t.Helper()
	if !reflect.DeepEqual(sids(got), sids(want)) {
		t.Errorf("%s claimed %v, want %v", what, sids(got), sids(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		g.NextAttemptAt, w.NextAttemptAt = time.Time{}, time.Time{}
		assertEqual(t, what+" item "+g.MessageSID, g, w)
	}
}

var outboxTests = append(claimDueTests(1, 3, 4, 10), []testCase{
	{"LeaseHoldsThenExpires", func(t *testing.T, s store.Store) {
		items := mustEnqueue(t, s, at(-time.Second))
		lease := at(time.Minute)
		assertClaimed(t, "first claim", mustClaim(t, s, at(0), lease, 10), items)
		for _, now := range []time.Time{at(0), at(30 * time.Second), lease.Add(-time.Nanosecond)} {
			if got := mustClaim(t, s, now, now.Add(time.Minute), 10); len(got) != 0 {
				t.Errorf("claim at %v, before the lease ends at %v, got %v", now.Sub(base), lease.Sub(base), sids(got))
			}
		}
		// The claimer crashed: the lease runs out and the item comes back as it was.
		assertClaimed(t, "claim when the lease ends", mustClaim(t, s, lease, at(2*time.Minute), 10), items)
		if got := mustClaim(t, s, at(90*time.Second), at(3*time.Minute), 10); len(got) != 0 {
			t.Errorf("claim during the second lease got %v", sids(got))
		}
	}},
	{"RescheduleReleasesClaim", func(t *testing.T, s store.Store) {
		items := mustEnqueue(t, s, at(0))
		mustClaim(t, s, at(0), at(time.Hour), 10)
		next := at(10*time.Second + 1)
		MustUpdate(t, s, func(tx store.Tx) error { return tx.RescheduleOutbox(items[0].MessageSID, 3, next, "connector timeout") })
		if got, err := s.NextDue(ctx); err != nil || !got.Equal(next) {
			t.Errorf("NextDue = %v, %v; want %v", got, err, next)
		}
		if got := mustClaim(t, s, next.Add(-time.Nanosecond), at(time.Hour), 10); len(got) != 0 {
			t.Errorf("claim before the new due time got %v", sids(got))
		}
		want := items[0]
		want.Attempts, want.LastError = 3, "connector timeout"
		// Due again at next, well before the old lease ends.
		assertClaimed(t, "claim at the new due time", mustClaim(t, s, next, at(time.Hour), 10), []store.OutboxItem{want})
		err := s.Update(ctx, func(tx store.Tx) error { return tx.RescheduleOutbox("SM000", 1, next, "x") })
		wantNotFound(t, "RescheduleOutbox of an unknown item", err)
	}},
	{"Delete", func(t *testing.T, s store.Store) {
		items := mustEnqueue(t, s, at(0), at(time.Second))
		mustClaim(t, s, at(0), at(time.Minute), 1)
		MustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteOutbox(items[0].MessageSID) })
		err := s.Update(ctx, func(tx store.Tx) error { return tx.DeleteOutbox(items[0].MessageSID) })
		wantNotFound(t, "second DeleteOutbox", err)
		assertClaimed(t, "claim after delete", mustClaim(t, s, at(time.Hour), at(2*time.Hour), 10), items[1:])
		MustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteOutbox(items[1].MessageSID) })
		if _, err := s.NextDue(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NextDue with an empty outbox = %v, want store.ErrNotFound", err)
		}
	}},
	{"ReleaseLeases", func(t *testing.T, s store.Store) {
		now := at(0)
		items := mustEnqueue(t, s, at(-5*time.Second), at(-4*time.Second), at(-3*time.Second), at(-2*time.Second), at(time.Hour))
		claimed := mustClaim(t, s, now, at(time.Hour), 3)
		if len(claimed) != 3 {
			t.Fatalf("claimed %d items, want 3", len(claimed))
		}
		n, err := s.ReleaseLeases(ctx)
		if err != nil || n != 3 {
			t.Fatalf("ReleaseLeases = %d, %v; want 3, nil", n, err)
		}
		got := mustClaim(t, s, now, at(time.Hour), 10)
		gotSIDs := sids(got)
		sort.Strings(gotSIDs)
		wantSIDs := sids(items[:4])
		sort.Strings(wantSIDs)
		if !reflect.DeepEqual(gotSIDs, wantSIDs) {
			t.Errorf("claim after ReleaseLeases got %v, want %v", gotSIDs, wantSIDs)
		}
		if n, err := s.ReleaseLeases(ctx); err != nil || n != 4 {
			t.Errorf("second ReleaseLeases = %d, %v; want 4, nil", n, err)
		}
		if n, err := s.ReleaseLeases(ctx); err != nil || n != 0 {
			t.Errorf("ReleaseLeases with nothing claimed = %d, %v; want 0, nil", n, err)
		}
	}},
	{"NextDue", func(t *testing.T, s store.Store) {
		if _, err := s.NextDue(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NextDue with an empty outbox = %v, want store.ErrNotFound", err)
		}
		items := mustEnqueue(t, s, at(5*time.Minute), at(time.Minute+1), at(3*time.Minute))
		check := func(want time.Time) {
			t.Helper()
			got, err := s.NextDue(ctx)
			if err != nil {
				t.Fatalf("NextDue: %v", err)
			}
			assertEqual(t, "NextDue", got, want)
		}
		check(at(time.Minute + 1))
		MustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteOutbox(items[1].MessageSID) })
		check(at(3 * time.Minute))
	}},
	{"ConcurrentClaimersShareNothing", func(t *testing.T, s store.Store) {
		const n, claimers, batch = 500, 20, 7
		MustUpdate(t, s, func(tx store.Tx) error {
			for i := range n {
				if err := tx.Enqueue(newOutboxItem("AC1", fmt.Sprintf("SM%04d", i), at(-time.Duration(i)*time.Millisecond))); err != nil {
					return err
				}
			}
			return nil
		})
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range claimers {
			wg.Go(func() {
				for {
					items, err := s.ClaimOutbox(ctx, at(0), at(time.Hour), batch)
					if err != nil {
						t.Errorf("ClaimOutbox: %v", err)
						return
					}
					if len(items) > batch {
						t.Errorf("ClaimOutbox(limit %d) returned %d items", batch, len(items))
					}
					if len(items) == 0 {
						return
					}
					mu.Lock()
					for _, it := range items {
						seen[it.MessageSID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != n {
			t.Errorf("claimers got %d distinct items, want %d", len(seen), n)
		}
		for sid, c := range seen {
			if c != 1 {
				t.Errorf("%s was claimed %d times", sid, c)
			}
		}
	}},
}...)

// claimDueTests claims with each limit from a fresh store.
func claimDueTests(limits ...int) []testCase {
	var out []testCase
	for _, limit := range limits {
		out = append(out, testCase{fmt.Sprintf("ClaimDueOldestFirst_limit%d", limit), func(t *testing.T, s store.Store) {
			now := at(0)
			// Due at -1m, -3m, now, -2m, now+1ns, now+1h.
			all := mustEnqueue(t, s, at(-time.Minute), at(-3*time.Minute), now, at(-2*time.Minute), at(time.Nanosecond), at(time.Hour))
			due := []store.OutboxItem{all[1], all[3], all[0], all[2]}
			got := mustClaim(t, s, now, at(time.Minute), limit)
			assertClaimed(t, fmt.Sprintf("ClaimOutbox(limit %d)", limit), got, due[:min(limit, len(due))])
		}})
	}
	return out
}

var sandboxTests = []testCase{
	{"InsertTwiceKeepsOne", func(t *testing.T, s store.Store) {
		m := store.SandboxMessage{SID: "SM1", AccountSID: "AC1", From: "otpgate", To: "+447700900123",
			Body: "Your code is 123456", Segments: 1, Encoding: "gsm7", CreatedAt: at(1)}
		for i := range 2 {
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertSandboxMessage(m) }); err != nil {
				t.Fatalf("InsertSandboxMessage #%d: %v", i+1, err)
			}
		}
		MustUpdate(t, s, func(tx store.Tx) error {
			if err := tx.InsertSandboxMessage(m); err != nil {
				return err
			}
			return tx.InsertSandboxMessage(m)
		})
		got, err := s.SandboxMessages(ctx, "AC1", m.To, 10)
		if err != nil {
			t.Fatalf("SandboxMessages: %v", err)
		}
		assertEqual(t, "SandboxMessages", got, []store.SandboxMessage{m})
	}},
	{"ListNewestFirstScoped", func(t *testing.T, s store.Store) {
		const to, to2 = "+447700900123", "+447700900456"
		msg := func(sid, account, to string, created time.Time) store.SandboxMessage {
			return store.SandboxMessage{SID: sid, AccountSID: account, From: "otpgate", To: to,
				Body: "code for " + sid, Segments: 1, Encoding: "gsm7", CreatedAt: created}
		}
		mine := []store.SandboxMessage{ // newest first
			msg("SM5", "AC1", to, at(5*time.Second+5)),
			msg("SM4", "AC1", to, at(4*time.Second)),
			msg("SM3", "AC1", to, at(3*time.Second)),
			msg("SM2", "AC1", to, at(2*time.Second)),
			msg("SM1", "AC1", to, at(time.Second)),
		}
		others := []store.SandboxMessage{msg("SM6", "AC2", to, at(time.Hour)), msg("SM7", "AC1", to2, at(time.Hour))}
		for _, i := range []int{2, 0, 4, 1, 3} { // inserted out of order, one per Update
			MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertSandboxMessage(mine[i]) })
		}
		MustUpdate(t, s, func(tx store.Tx) error {
			for _, m := range others {
				if err := tx.InsertSandboxMessage(m); err != nil {
					return err
				}
			}
			return nil
		})
		tests := []struct {
			account, to string
			limit       int
			want        []store.SandboxMessage
		}{
			{"AC1", to, 3, mine[:3]},
			{"AC1", to, 10, mine},
			{"AC1", to, 1, mine[:1]},
			{"AC1", to2, 10, others[1:]},
			{"AC2", to, 10, others[:1]},
			{"AC2", to2, 10, nil},
			{"AC3", to, 10, nil},
		}
		for _, tt := range tests {
			what := fmt.Sprintf("SandboxMessages(%s, %s, %d)", tt.account, tt.to, tt.limit)
			got, err := s.SandboxMessages(ctx, tt.account, tt.to, tt.limit)
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			assertEqual(t, what, got, tt.want)
		}
	}},
}

var closeTests = []testCase{
	{"UpdateAfterClose", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		ran := false
		err := s.Update(ctx, func(tx store.Tx) error { ran = true; return nil })
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("Update after Close = %v, want store.ErrClosed", err)
		}
		if ran {
			t.Error("Update after Close ran fn")
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}},
	{"CloseDuringUpdates", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertMessage(newMessage("AC1", fmt.Sprintf("SM%03d", i))) })
				if err != nil && !errors.Is(err, store.ErrClosed) {
					t.Errorf("Update during Close = %v, want nil or store.ErrClosed", err)
				}
			})
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	}},
}
