// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a new, empty
// store and closes it in t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return MustOpenTemp(t) })
//	}
//
// Backend-specific behaviour (durability across a restart, migrations) is
// tested next to the backend.
package storetest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/store"
)

// Run runs the suite. open must return a new, empty store on each call and
// close it when the test ends (some tests close it first: Close twice must
// be fine).
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
		{"SMPP", smppTests},
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
		From: "otpgate", To: to, Body: "Your code is ******", Status: store.MsgQueued,
		Encoding: "gsm7", Segments: 1, CreatedAt: at(-time.Minute), UpdatedAt: at(-time.Minute),
	}
}

func newOutboxItem(accountSID, messageSID string, due time.Time) store.OutboxItem {
	return store.OutboxItem{
		MessageSID: messageSID, AccountSID: accountSID, From: "otpgate", To: to,
		Payload: hash("sealed " + messageSID), NextAttemptAt: due, ExpiresAt: at(time.Hour), CreatedAt: at(-10 * time.Minute),
	}
}

func newSandboxMessage(sid, accountSID, to string, created time.Time) store.SandboxMessage {
	return store.SandboxMessage{SID: sid, AccountSID: accountSID, From: "otpgate", To: to,
		Body: "Your code is 123456 (" + sid + ")", Segments: 1, Encoding: "gsm7", CreatedAt: created}
}

// MustInsertAccount inserts a and fails the test if that fails.
func MustInsertAccount(tb testing.TB, s store.Store, a store.Account) {
	tb.Helper()
	if err := s.InsertAccount(ctx, a); err != nil {
		tb.Fatalf("InsertAccount(%s): %v", a.SID, err)
	}
}

// MustUpdate runs fn in s.Update and fails the test if that fails. fn may
// run on another goroutine: it must report with Errorf, not Fatalf.
func MustUpdate(tb testing.TB, s store.Store, fn func(store.Tx) error) {
	tb.Helper()
	if err := s.Update(ctx, fn); err != nil {
		tb.Fatalf("Update: %v", err)
	}
}

// each calls f on every item and stops at the first error.
func each[T any](items []T, f func(T) error) error {
	for _, it := range items {
		if err := f(it); err != nil {
			return err
		}
	}
	return nil
}

// read returns what f reads in an Update of its own.
func read[T any](tb testing.TB, s store.Store, f func(store.Tx) (T, error)) (v T, err error) {
	tb.Helper()
	MustUpdate(tb, s, func(tx store.Tx) error { v, err = f(tx); return nil })
	return v, err
}

func latest(tb testing.TB, s store.Store, accountSID, serviceSID, to string) (store.Verification, error) {
	tb.Helper()
	return read(tb, s, func(tx store.Tx) (store.Verification, error) {
		return tx.LatestVerification(accountSID, serviceSID, to)
	})
}

// mustSetup inserts an account "AC1" with a service "SV1" named "login".
func mustSetup(tb testing.TB, s store.Store) store.Service {
	tb.Helper()
	svc := newService("AC1", "SV1", "login")
	MustInsertAccount(tb, s, newAccount("AC1"))
	MustUpdate(tb, s, func(tx store.Tx) error { return tx.InsertService(svc) })
	return svc
}

func mustClaim(tb testing.TB, s store.Store, now, leaseUntil time.Time, limit int) []store.OutboxItem {
	tb.Helper()
	items, err := s.ClaimOutbox(ctx, now, leaseUntil, limit)
	check(tb, fmt.Sprintf("ClaimOutbox(%v, %v, %d)", now, leaseUntil, limit), err)
	return items
}

func sids(items []store.OutboxItem) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.MessageSID
	}
	return out
}

// check fails the test now if err is not nil.
func check(tb testing.TB, what string, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func wantNotFound(tb testing.TB, what string, err error) {
	tb.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		tb.Errorf("%s: err = %v, want store.ErrNotFound", what, err)
	}
}

// wantUpdateNotFound runs op in an Update that returns op's error, and
// checks that both op and Update report store.ErrNotFound.
func wantUpdateNotFound(tb testing.TB, s store.Store, what string, op func(store.Tx) error) {
	tb.Helper()
	var inner error
	err := s.Update(ctx, func(tx store.Tx) error { inner = op(tx); return inner })
	wantNotFound(tb, what, inner)
	wantNotFound(tb, "Update returning "+what+"'s error", err)
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
	{"InsertThenReadAndUnknown", func(t *testing.T, s store.Store) {
		if all, err := s.Accounts(ctx); err != nil || len(all) != 0 {
			t.Errorf("Accounts of an empty store = %v, %v; want none, nil", all, err)
		}
		a1, a2 := newAccount("AC1"), newAccount("AC2")
		a2.CreatedAt = at(time.Nanosecond)
		MustInsertAccount(t, s, a1)
		MustInsertAccount(t, s, a2)
		for _, want := range []store.Account{a1, a2} {
			got, err := s.Account(ctx, want.SID)
			check(t, fmt.Sprintf("Account(%s)", want.SID), err)
			assertEqual(t, "Account("+want.SID+")", got, want)
		}
		all, err := s.Accounts(ctx)
		check(t, "Accounts", err)
		slices.SortFunc(all, func(a, b store.Account) int { return cmp.Compare(a.SID, b.SID) })
		assertEqual(t, "Accounts", all, []store.Account{a1, a2})
		_, err = s.Account(ctx, "AC3")
		wantNotFound(t, "Account of an unknown SID", err)
	}},
	{"VersionChangesOnlyOnInsert", func(t *testing.T, s store.Store) {
		version := func() int64 {
			t.Helper()
			v, err := s.AccountsVersion(ctx)
			check(t, "AccountsVersion", err)
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
		MustUpdate(t, s, func(tx store.Tx) error {
			return errors.Join(tx.InsertService(newService("AC1", "SV1", "login")), tx.InsertMessage(newMessage("AC1", "SM1")))
		})
		if err := s.InsertAccount(ctx, newAccount("AC1")); err == nil {
			t.Error("second InsertAccount(AC1) succeeded")
		}
		if v := version(); v != v1 {
			t.Errorf("AccountsVersion changed from %d to %d with no account added", v1, v)
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
		check(t, "Account(AC1)", err)
		assertEqual(t, "Account(AC1)", got, first)
		if all, err := s.Accounts(ctx); err != nil || len(all) != 1 {
			t.Errorf("Accounts = %d accounts, %v; want 1", len(all), err)
		}
	}},
}

// writeAll writes a service, verification, message and outbox item for op i.
func writeAll(tx store.Tx, i int) error {
	svc := newService("AC1", fmt.Sprintf("SV%03d", i), fmt.Sprintf("svc-%03d", i))
	sid := fmt.Sprintf("SM%03d", i)
	if err := tx.InsertService(svc); err != nil {
		return err
	}
	if err := tx.InsertVerification(newVerification("AC1", svc.SID, fmt.Sprintf("VE%03d", i), to, at(0))); err != nil {
		return err
	}
	if err := tx.InsertMessage(newMessage("AC1", sid)); err != nil {
		return err
	}
	return tx.Enqueue(newOutboxItem("AC1", sid, at(0))) // after its message, above
}

// written reports which of writeAll's records for op i exist, given the
// SIDs in the outbox.
func written(t *testing.T, s store.Store, i int, outbox map[string]bool) (found, missing []string) {
	t.Helper()
	sid := fmt.Sprintf("SM%03d", i)
	var errs [5]error
	MustUpdate(t, s, func(tx store.Tx) error {
		_, errs[0] = tx.Service("AC1", fmt.Sprintf("svc-%03d", i))
		_, errs[1] = tx.LatestVerification("AC1", fmt.Sprintf("SV%03d", i), to)
		_, errs[2] = tx.Message(sid)
		return nil
	})
	_, errs[3] = s.Message(ctx, "AC1", sid)
	if !outbox[sid] {
		errs[4] = store.ErrNotFound
	}
	for j, what := range []string{"service", "verification", "message", "message (Store.Message)", "outbox item"} {
		switch err := errs[j]; {
		case err == nil:
			found = append(found, what)
		case errors.Is(err, store.ErrNotFound):
			missing = append(missing, what)
		default:
			t.Fatalf("reading %s: %v", what, err)
		}
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
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := writeAll(tx, 1); err != nil {
				return err
			}
			if err := tx.InsertSandboxMessage(newSandboxMessage("SM001", "AC1", to, at(0))); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want the error fn returned", err)
		}
		if found, _ := written(t, s, 1, allOutbox(t, s)); len(found) > 0 {
			t.Errorf("after a failed Update these rows exist: %v", found)
		}
		if msgs, err := s.SandboxMessages(ctx, "AC1", to, 10); err != nil || len(msgs) != 0 {
			t.Errorf("SandboxMessages after a failed Update = %v, %v; want none", msgs, err)
		}
		if _, err := s.NextDue(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NextDue after a failed Update = %v, want store.ErrNotFound", err)
		}
	}},
	{"FailuresDoNotRollBackOthers", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		const n = 50 // every 5th fails after writing
		errs, sentinels := make([]error, n), make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			if i%5 == 4 {
				sentinels[i] = fmt.Errorf("op %d fails", i)
			}
			wg.Go(func() {
				<-start
				errs[i] = s.Update(ctx, func(tx store.Tx) error {
					if err := writeAll(tx, i); err != nil {
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
			found, missing := written(t, s, i, outbox)
			switch {
			case sentinels[i] != nil && !errors.Is(errs[i], sentinels[i]):
				t.Errorf("op %d: Update = %v, want %v", i, errs[i], sentinels[i])
			case sentinels[i] != nil && len(found) > 0:
				t.Errorf("op %d failed but these rows exist: %v", i, found)
			case sentinels[i] == nil && errs[i] != nil:
				t.Errorf("op %d: Update = %v, want nil", i, errs[i])
			case sentinels[i] == nil && len(missing) > 0:
				t.Errorf("op %d succeeded but these rows are missing: %v", i, missing)
			}
		}
	}},
	{"SerializableReadModifyWrite", func(t *testing.T, s store.Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertVerification(v) })
		const n = 100
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				err := s.Update(ctx, func(tx store.Tx) error {
					cur, err := tx.LatestVerification("AC1", svc.SID, to)
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
		if got, err := latest(t, s, "AC1", svc.SID, to); err != nil || got.CheckAttempts != n {
			t.Errorf("CheckAttempts = %d (%v) after %d concurrent increments", got.CheckAttempts, err, n)
		}
	}},
}

var serviceTests = []testCase{
	{"RoundTripAndScope", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		login, other, sameName := newService("AC1", "SV1", "login"), newService("AC1", "SV2", "payments"), newService("AC2", "SV3", "login")
		other.CodeLength, other.TTL = 8, 90*time.Second+123*time.Nanosecond
		sameName.CodeLength, sameName.TTL = 4, time.Hour
		MustUpdate(t, s, func(tx store.Tx) error { return each([]store.Service{login, other, sameName}, tx.InsertService) })
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
		for _, tt := range tests {
			what := fmt.Sprintf("Service(%s, %s)", tt.account, tt.name)
			got, err := read(t, s, func(tx store.Tx) (store.Service, error) { return tx.Service(tt.account, tt.name) })
			switch {
			case tt.want == nil:
				wantNotFound(t, what, err)
			case err != nil:
				t.Errorf("%s: %v", what, err)
			default:
				assertEqual(t, what, got, *tt.want)
			}
		}
	}},
}

var verificationTests = []testCase{
	{"DueExpirationsAndRecordCheck", func(t *testing.T, s store.Store) {
		svc := mustSetup(t, s)
		MustUpdate(t, s, func(tx store.Tx) error {
			for i, sid := range []string{"VE1", "VE2", "VE3", "VE4"} {
				v := newVerification("AC1", svc.SID, sid, fmt.Sprintf("+4477009001%02d", i), at(time.Duration(i)*time.Minute))
				if sid == "VE3" {
					v.Status = store.StatusApproved
				}
				if err := tx.InsertVerification(v); err != nil {
					return err
				}
			}
			return nil
		})
		// Expiries at +10m, +11m, (+12m approved), +13m; the window (+10m, +12m30s] holds VE2 only.
		due, err := read(t, s, func(tx store.Tx) ([]store.Verification, error) {
			return tx.DueExpirations(at(10*time.Minute), at(12*time.Minute+30*time.Second), 10)
		})
		if err != nil || len(due) != 1 || due[0].SID != "VE2" {
			t.Fatalf("DueExpirations = %v, %v; want VE2", due, err)
		}
		v := due[0]
		v.Status, v.CheckAttempts, v.UpdatedAt = store.StatusExpired, 3, at(20*time.Minute)
		MustUpdate(t, s, func(tx store.Tx) error { return tx.RecordCheck(v) })
		got, err := latest(t, s, "AC1", svc.SID, v.To)
		if err != nil || got.Status != store.StatusExpired || got.CheckAttempts != 3 || !got.UpdatedAt.Equal(at(20*time.Minute)) ||
			!got.ExpiresAt.Equal(v.ExpiresAt) || len(got.Codes) != 1 {
			t.Fatalf("after RecordCheck: %+v, %v", got, err)
		}
		due, err = read(t, s, func(tx store.Tx) ([]store.Verification, error) {
			return tx.DueExpirations(at(0), at(time.Hour), 10)
		})
		if err != nil || len(due) != 2 || due[0].SID != "VE1" || due[1].SID != "VE4" {
			t.Fatalf("DueExpirations over the hour = %v, %v; want VE1, VE4 (VE2 expired, VE3 approved)", due, err)
		}
	}},
	{"InsertThenLatest", func(t *testing.T, s store.Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		v.Codes = append(v.Codes, store.Code{Hash: hash("second"), ExpiresAt: at(11*time.Minute + 7)})
		v.SendAttempts, v.CheckAttempts, v.UpdatedAt = 2, 1, at(time.Second+1)
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertVerification(v) })
		got, err := latest(t, s, "AC1", svc.SID, to)
		check(t, "LatestVerification", err)
		assertEqual(t, "LatestVerification", got, v)
	}},
	{"LatestIsNewest", func(t *testing.T, s store.Store) {
		svc := mustSetup(t, s)
		ve := func(sid string, created time.Duration) store.Verification {
			return newVerification("AC1", svc.SID, sid, to, at(created))
		}
		tests := []struct {
			insert []store.Verification // in one Update
			want   string
		}{
			{[]store.Verification{ve("VE1", 0)}, "VE1"},
			{[]store.Verification{ve("VE2", time.Second)}, "VE2"},
			{[]store.Verification{ve("VE3", time.Second)}, "VE3"},                         // same created_at, inserted later: it wins
			{[]store.Verification{ve("VE4", -time.Hour)}, "VE3"},                          // older, inserted last: it does not
			{[]store.Verification{ve("VE5", time.Minute), ve("VE6", time.Minute)}, "VE6"}, // same time, same Update
		}
		for _, tt := range tests {
			MustUpdate(t, s, func(tx store.Tx) error { return each(tt.insert, tx.InsertVerification) })
			got, err := latest(t, s, "AC1", svc.SID, to)
			if err != nil || got.SID != tt.want {
				t.Errorf("after inserting %s: LatestVerification = %s (%v), want %s", tt.insert[len(tt.insert)-1].SID, got.SID, err, tt.want)
			}
		}
	}},
	{"LatestIsScoped", func(t *testing.T, s store.Store) {
		svc := mustSetup(t, s)
		MustInsertAccount(t, s, newAccount("AC2"))
		svc2, svc3 := newService("AC1", "SV2", "other"), newService("AC2", "SV3", "login")
		MustUpdate(t, s, func(tx store.Tx) error {
			return errors.Join(each([]store.Service{svc2, svc3}, tx.InsertService), each([]store.Verification{
				newVerification("AC1", svc.SID, "VE1", to, at(0)),
				newVerification("AC1", svc2.SID, "VE2", to, at(time.Minute)),   // another service
				newVerification("AC1", svc.SID, "VE3", to2, at(time.Minute)),   // another number
				newVerification("AC2", svc3.SID, "VE4", to, at(time.Minute)),   // another account
				newVerification("AC2", svc.SID, "VE5", to2, at(2*time.Minute)), // another account, same service SID
			}, tx.InsertVerification))
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
		for _, tt := range tests {
			what := fmt.Sprintf("LatestVerification(%s, %s, %s)", tt.account, tt.service, tt.to)
			got, err := latest(t, s, tt.account, tt.service, tt.to)
			switch {
			case tt.want == "":
				wantNotFound(t, what, err)
			case err != nil || got.SID != tt.want:
				t.Errorf("%s = %s, %v; want %s", what, got.SID, err, tt.want)
			}
		}
	}},
	{"UpdateRoundTrip", func(t *testing.T, s store.Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertVerification(v) })
		steps := []struct {
			name   string
			change func(v *store.Verification)
		}{
			{"resend", func(v *store.Verification) {
				v.Codes = append(v.Codes, store.Code{Hash: hash("c2"), ExpiresAt: at(20*time.Minute + 1)},
					store.Code{Hash: hash("c3"), ExpiresAt: at(30*time.Minute + 999)})
				v.SendAttempts, v.UpdatedAt, v.ExpiresAt = 3, at(5*time.Minute+3), at(30*time.Minute+999)
			}},
			{"max attempts", func(v *store.Verification) {
				v.Status, v.CheckAttempts, v.UpdatedAt = store.StatusMaxAttempts, 5, at(6*time.Minute+5)
			}},
			{"approved, codes cleared", func(v *store.Verification) {
				v.Status, v.Codes, v.UpdatedAt = store.StatusApproved, nil, at(7*time.Minute)
			}},
		}
		for _, step := range steps {
			step.change(&v)
			MustUpdate(t, s, func(tx store.Tx) error { return tx.UpdateVerification(v) })
			got, err := latest(t, s, "AC1", svc.SID, to)
			check(t, fmt.Sprintf("%s: LatestVerification", step.name), err)
			assertEqual(t, step.name+": verification", got, v)
		}
	}},
	{"UpdateUnknownIsNotFound", func(t *testing.T, s store.Store) {
		svc := mustSetup(t, s)
		MustUpdate(t, s, func(tx store.Tx) error {
			return tx.InsertVerification(newVerification("AC1", svc.SID, "VE1", to, at(0)))
		})
		wantUpdateNotFound(t, s, "UpdateVerification(VE2)", func(tx store.Tx) error {
			return tx.UpdateVerification(newVerification("AC1", svc.SID, "VE2", to, at(0)))
		})
	}},
}

var messageTests = []testCase{
	{"InsertThenRead", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		full := store.Message{
			SID: "SM1", AccountSID: "AC1", VerificationSID: "VE1", Direction: "outbound-api",
			From: "otpgate", To: to, Body: "Ваш код ****** 🙂", Status: store.MsgSent,
			Encoding: "ucs2", Segments: 2, Connector: "smpp-1", ProviderID: "p-42", ErrorCode: 30003,
			ErrorMessage: "unreachable", CreatedAt: at(0), UpdatedAt: at(time.Second + 1), SentAt: at(time.Second + 2),
		}
		bare := newMessage("AC1", "SM2") // empty optional fields, zero SentAt
		msgs := []store.Message{full, bare}
		MustUpdate(t, s, func(tx store.Tx) error { return each(msgs, tx.InsertMessage) })
		for _, want := range msgs {
			got, err := read(t, s, func(tx store.Tx) (store.Message, error) { return tx.Message(want.SID) })
			check(t, fmt.Sprintf("Tx.Message(%s)", want.SID), err)
			assertEqual(t, "Tx.Message("+want.SID+")", got, want)
			got, err = s.Message(ctx, "AC1", want.SID)
			check(t, "Store.Message(AC1, "+want.SID+")", err)
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
		_, err := read(t, s, func(tx store.Tx) (store.Message, error) { return tx.Message("SM2") })
		wantNotFound(t, "Tx.Message(SM2)", err)
	}},
	{"Advance", func(t *testing.T, s store.Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		m := newMessage("AC1", "SM1")
		MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertMessage(m) })
		early := []string{store.MsgQueued, store.MsgSent}
		steps := []struct {
			name    string
			u       store.MessageUpdate
			applies bool // the status changes
		}{
			{"sent", store.MessageUpdate{Status: store.MsgSent, From: early[:1], Connector: "smpp-1", ProviderID: "p-1",
				SentAt: at(time.Second + 1), UpdatedAt: at(time.Second + 1)}, true},
			{"delivered keeps connector and sent time", store.MessageUpdate{Status: store.MsgDelivered, From: early, UpdatedAt: at(2 * time.Second)}, true},
			{"late failure does not apply", store.MessageUpdate{Status: store.MsgFailed, From: early, ErrorCode: 30003,
				ErrorMessage: "unreachable", UpdatedAt: at(3 * time.Second)}, false},
			{"late send outcome sets its fields only", store.MessageUpdate{Status: store.MsgSent, From: early[:1], Connector: "smpp-2",
				ProviderID: "p-2", SentAt: at(4 * time.Second), UpdatedAt: at(4 * time.Second)}, false},
			{"undelivered with error", store.MessageUpdate{Status: store.MsgUndelivered, From: []string{store.MsgDelivered},
				ErrorCode: 30005, ErrorMessage: "unknown destination", UpdatedAt: at(5 * time.Second)}, true},
		}
		for _, step := range steps {
			step.u.SID = m.SID
			MustUpdate(t, s, func(tx store.Tx) error { _, err := tx.AdvanceMessage(step.u); return err })
			got, err := s.Message(ctx, "AC1", m.SID)
			check(t, step.name+": Store.Message", err)
			if step.applies {
				m.Status, m.ErrorCode, m.ErrorMessage, m.UpdatedAt = step.u.Status, step.u.ErrorCode, step.u.ErrorMessage, step.u.UpdatedAt
			} else {
				m.UpdatedAt = got.UpdatedAt // not specified when the status stays
			}
			if step.u.Connector != "" {
				m.Connector = step.u.Connector
			}
			if step.u.ProviderID != "" {
				m.ProviderID = step.u.ProviderID
			}
			if !step.u.SentAt.IsZero() {
				m.SentAt = step.u.SentAt
			}
			assertEqual(t, step.name+": message", got, m)
		}
		wantUpdateNotFound(t, s, "AdvanceMessage(SM2)", func(tx store.Tx) error {
			_, err := tx.AdvanceMessage(store.MessageUpdate{SID: "SM2", Status: store.MsgSent, From: early, UpdatedAt: at(0)})
			return err
		})
	}},
}

var sandboxTests = []testCase{
	{"InsertTwiceKeepsOne", func(t *testing.T, s store.Store) {
		m := newSandboxMessage("SM1", "AC1", to, at(1))
		for i := range 2 { // as when a message is sent again after a crash
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.InsertSandboxMessage(m) }); err != nil {
				t.Fatalf("InsertSandboxMessage #%d: %v", i+1, err)
			}
		}
		MustUpdate(t, s, func(tx store.Tx) error { return each([]store.SandboxMessage{m, m}, tx.InsertSandboxMessage) })
		got, err := s.SandboxMessages(ctx, "AC1", to, 10)
		check(t, "SandboxMessages", err)
		assertEqual(t, "SandboxMessages", got, []store.SandboxMessage{m})
	}},
	{"ListNewestFirstScoped", func(t *testing.T, s store.Store) {
		var mine []store.SandboxMessage // newest first
		for i := 5; i > 0; i-- {
			mine = append(mine, newSandboxMessage(fmt.Sprintf("SM%d", i), "AC1", to, at(time.Duration(i)*(time.Second+1))))
		}
		others := []store.SandboxMessage{newSandboxMessage("SM6", "AC2", to, at(time.Hour)), newSandboxMessage("SM7", "AC1", to2, at(time.Hour))}
		for _, i := range []int{2, 0, 4, 1, 3} { // out of order, one per Update
			MustUpdate(t, s, func(tx store.Tx) error { return tx.InsertSandboxMessage(mine[i]) })
		}
		MustUpdate(t, s, func(tx store.Tx) error { return each(others, tx.InsertSandboxMessage) })
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
		var ran atomic.Bool
		err := s.Update(ctx, func(tx store.Tx) error { ran.Store(true); return nil })
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("Update after Close = %v, want store.ErrClosed", err)
		}
		if ran.Load() {
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
