package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

var serviceTests = []testCase{
	{"ListByAccount", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		a, b, c := newService("AC1", "SV2", "login"), newService("AC1", "SV1", "payments"), newService("AC2", "SV3", "login")
		a.CreatedAt, b.CreatedAt = at(time.Minute), at(2*time.Minute)
		for _, svc := range []verification.Service{b, c, a} {
			_, err := s.CreateService(ctx, svc)
			check(t, "CreateService("+svc.SID+")", err)
		}
		got, err := s.Services(ctx, "AC1")
		check(t, "Services(AC1)", err)
		assertEqual(t, "Services(AC1), oldest first", got, []verification.Service{a, b})
		got, err = s.Services(ctx, "AC3")
		check(t, "Services(AC3)", err)
		if len(got) != 0 {
			t.Errorf("Services of an account with none: %v", got)
		}
	}},
	{"Delete", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		MustInsertAccount(t, s, newAccount("AC2"))
		mustStartVerification(t, s, newVerification("AC1", svc.SID, "VE1", to, at(0)))
		wantNotFound(t, "another account deleting it", s.DeleteService(ctx, "AC2", svc.SID))
		check(t, "DeleteService", s.DeleteService(ctx, "AC1", svc.SID))
		_, err := s.ServiceBySID(ctx, svc.SID)
		wantNotFound(t, "the deleted service", err)
		_, err = s.VerificationBySID(ctx, "AC1", "VE1")
		wantNotFound(t, "its verification", err)
		_, err = s.Message(ctx, "AC1", "SMVE1")
		check(t, "its message, kept in the log", err)
		wantNotFound(t, "deleting it again", s.DeleteService(ctx, "AC1", svc.SID))
		// The name is free again.
		again, err := s.CreateService(ctx, newService("AC1", "SV2", "login"))
		if err != nil || again.SID != "SV2" {
			t.Fatalf("a new service of the deleted one's name: %+v %v", again, err)
		}
	}},
	{"VerificationBySID", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		mustStartVerification(t, s, v)
		got, err := s.VerificationBySID(ctx, "AC1", "VE1")
		check(t, "VerificationBySID", err)
		assertEqual(t, "VerificationBySID", got, v)
		_, err = s.VerificationBySID(ctx, "AC2", "VE1")
		wantNotFound(t, "another account's verification", err)
		_, err = s.VerificationBySID(ctx, "AC1", "VE2")
		wantNotFound(t, "an unknown verification", err)
	}},
	{"CreateReadAndScope", func(t *testing.T, s Store) {
		MustInsertAccount(t, s, newAccount("AC1"))
		MustInsertAccount(t, s, newAccount("AC2"))
		login, other, sameName := newService("AC1", "SV1", "login"), newService("AC1", "SV2", "payments"), newService("AC2", "SV3", "login")
		other.CodeLength, other.TTL, other.EventsURL, other.Countries = 8, 90*time.Second+123*time.Nanosecond, "https://example.com/events", "*"
		other.Texts = verification.Texts{Locale: "en", Templates: map[string]string{"en": "Code: {code}"}}
		sameName.CodeLength, sameName.TTL = 4, time.Hour
		for _, svc := range []verification.Service{login, other, sameName} {
			got, err := s.CreateService(ctx, svc)
			check(t, "CreateService("+svc.SID+")", err)
			assertEqual(t, "CreateService("+svc.SID+")", got, svc)
		}
		for _, tt := range []struct {
			account, name string
			want          *verification.Service
		}{
			{"AC1", "login", &login}, {"AC1", "payments", &other}, {"AC2", "login", &sameName},
			{"AC2", "payments", nil}, {"AC1", "unknown", nil}, {"AC3", "login", nil},
		} {
			what := fmt.Sprintf("Service(%s, %s)", tt.account, tt.name)
			got, err := s.Service(ctx, tt.account, tt.name)
			if tt.want == nil {
				wantNotFound(t, what, err)
				continue
			}
			check(t, what, err)
			assertEqual(t, what, got, *tt.want)
			got, err = s.ServiceBySID(ctx, tt.want.SID)
			check(t, "ServiceBySID("+tt.want.SID+")", err)
			assertEqual(t, "ServiceBySID("+tt.want.SID+")", got, *tt.want)
		}
		_, err := s.ServiceBySID(ctx, "SV9")
		wantNotFound(t, "ServiceBySID(SV9)", err)
	}},
	{"CreateTwiceKeepsTheFirst", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		again := newService("AC1", "SV2", "login") // another SID, same account and name
		again.CodeLength = 9
		got, err := s.CreateService(ctx, again)
		check(t, "second CreateService", err)
		assertEqual(t, "second CreateService", got, svc)
		_, err = s.ServiceBySID(ctx, "SV2")
		wantNotFound(t, "ServiceBySID of the losing SID", err)
		// Concurrent creations of one name agree on one service.
		var wg sync.WaitGroup
		var winners sync.Map
		for i := range 20 {
			wg.Go(func() {
				got, err := s.CreateService(ctx, newService("AC1", fmt.Sprintf("SVC%02d", i), "race"))
				if err != nil {
					t.Errorf("CreateService #%d: %v", i, err)
					return
				}
				winners.Store(got.SID, true)
			})
		}
		wg.Wait()
		n := 0
		winners.Range(func(any, any) bool { n++; return true })
		if n != 1 {
			t.Errorf("20 concurrent CreateService of one name returned %d different services", n)
		}
	}},
	{"Update", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		svc.CodeLength, svc.TTL, svc.EventsURL, svc.Countries = 8, 3*time.Minute+7, "https://example.com/e?k=1", "AE,JO"
		svc.Texts = verification.Texts{Locale: "ar", ByCountry: true, WebOTPDomain: "example.com",
			Templates: map[string]string{"ar": "رمز {friendly_name}: {code}", "en": "{code} is your code"}}
		check(t, "UpdateService", s.UpdateService(ctx, svc))
		got, err := s.Service(ctx, "AC1", "login")
		check(t, "Service", err)
		assertEqual(t, "Service after UpdateService", got, svc)
		svc.EventsURL = ""
		check(t, "UpdateService (no events URL)", s.UpdateService(ctx, svc))
		if got, _ := s.ServiceBySID(ctx, svc.SID); got.EventsURL != "" {
			t.Errorf("events URL %q after clearing it", got.EventsURL)
		}
		wantNotFound(t, "UpdateService of an unknown SID", s.UpdateService(ctx, newService("AC1", "SV9", "x")))
	}},
}

// resend is v with one more code, sent at d.
func resend(v verification.Verification, d time.Duration) verification.Verification {
	v.Codes = append(append([]verification.Code(nil), v.Codes...), verification.Code{Hash: hash(fmt.Sprintf("code %s %d", v.SID, v.SendAttempts+1)), ExpiresAt: at(d + 10*time.Minute)})
	v.SendAttempts++
	v.UpdatedAt, v.ExpiresAt, v.From = at(d), at(d+10*time.Minute), "Other"
	return v
}

func sendChange(s Store, sid string, c verification.Change, created time.Time) error {
	m := newMessage(c.V.AccountSID, sid, created)
	m.VerificationSID = c.V.SID
	return s.InsertSend(ctx, m, newOutbound(m), &c)
}

var sendTests = []testCase{
	{"NewThenLatest", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		v.Codes = append(v.Codes, verification.Code{Hash: hash("second"), ExpiresAt: at(time.Hour + 1)})
		mustStartVerification(t, s, v)
		got, err := latest(t, s, "AC1", svc.SID, to)
		check(t, "LatestVerification", err)
		assertEqual(t, "LatestVerification", got, v)
		m, err := s.Message(ctx, "AC1", "SMVE1")
		if err != nil || m.VerificationSID != "VE1" {
			t.Errorf("the code SMS: %+v, %v", m, err)
		}
	}},
	{"NewIsRefusedWhileOneBlocks", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		mustStartVerification(t, s, v)
		tests := []struct {
			name   string
			now    time.Duration // the new one's time
			status verification.Status
			ok     bool
		}{
			{"pending and live", time.Minute, verification.Pending, false},
			{"pending, expired", 11 * time.Minute, verification.Pending, true},
		}
		for i, tt := range tests {
			nv := newVerification("AC1", svc.SID, fmt.Sprintf("VE%d", i+2), to, at(tt.now))
			err := sendChange(s, fmt.Sprintf("SMN%d", i), verification.Change{V: nv, New: true}, at(tt.now))
			if tt.ok {
				check(t, tt.name, err)
			} else {
				wantErr(t, tt.name, err, store.ErrConflict)
				if _, err := s.Message(ctx, "AC1", fmt.Sprintf("SMN%d", i)); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: the refused send left its message (%v)", tt.name, err)
				}
			}
		}
		// Locked by wrong codes (max_attempts_reached) and live also blocks;
		// approved does not.
		mustSetup2 := newService("AC1", "SV2", "other")
		svc2, err := s.CreateService(ctx, mustSetup2)
		check(t, "CreateService", err)
		locked := newVerification("AC1", svc2.SID, "VL1", to, at(0))
		mustStartVerification(t, s, locked)
		_, counted, err := s.CountCheck(ctx, locked.Key(), 1, at(time.Second), func(v verification.Verification) (verification.Status, []callback.Callback) {
			return verification.MaxAttempts, nil
		})
		if err != nil || !counted {
			t.Fatalf("CountCheck to lock: %v, counted %v", err, counted)
		}
		err = sendChange(s, "SML2", verification.Change{V: newVerification("AC1", svc2.SID, "VL2", to, at(time.Minute)), New: true}, at(time.Minute))
		wantErr(t, "a new verification while one is locked", err, store.ErrConflict)
	}},
	{"AddCodeIsCompareAndSet", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		mustStartVerification(t, s, v)
		v2 := resend(v, time.Minute)
		check(t, "add a code", sendChange(s, "SM2", verification.Change{V: v2}, at(time.Minute)))
		got, err := latest(t, s, "AC1", svc.SID, to)
		check(t, "LatestVerification", err)
		assertEqual(t, "after adding a code", got, v2)
		// Another send decided from the same state comes second: refused.
		stale := resend(v, 2*time.Minute)
		wantErr(t, "a code added from a stale read", sendChange(s, "SM3", verification.Change{V: stale}, at(2*time.Minute)), store.ErrConflict)
		if got, _ := latest(t, s, "AC1", svc.SID, to); got.SendAttempts != 2 {
			t.Errorf("send attempts %d after a refused send, want 2", got.SendAttempts)
		}
		// Of many concurrent sends from one read, exactly one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				err := sendChange(s, fmt.Sprintf("SMC%02d", i), verification.Change{V: resend(v2, 3*time.Minute)}, at(3*time.Minute))
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, store.ErrConflict):
					t.Errorf("concurrent send: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d of 20 concurrent sends from one read were stored, want 1", wins.Load())
		}
		// A verification no longer pending takes no code.
		_, _, err = s.CountCheck(ctx, v.Key(), 5, at(4*time.Minute), func(verification.Verification) (verification.Status, []callback.Callback) {
			return verification.Approved, nil
		})
		check(t, "approve", err)
		cur, _ := latest(t, s, "AC1", svc.SID, to)
		wantErr(t, "a code for an approved verification", sendChange(s, "SM4", verification.Change{V: resend(cur, 5*time.Minute)}, at(5*time.Minute)), store.ErrConflict)
	}},
	{"LatestIsNewest", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		// Each is approved before the next starts, so none blocks the next.
		for i, tt := range []struct {
			sid     string
			created time.Duration
			want    string
		}{
			{"VE1", 0, "VE1"},
			{"VE2", time.Second, "VE2"},
			{"VE3", time.Second, "VE3"}, // same created_at, greater SID: it wins
			{"VE0", -time.Hour, "VE3"},  // older: it does not
			{"VE4", time.Minute, "VE4"},
		} {
			mustStartVerification(t, s, newVerification("AC1", svc.SID, tt.sid, to, at(tt.created)))
			if got, err := latest(t, s, "AC1", svc.SID, to); err != nil || got.SID != tt.want {
				t.Errorf("step %d: LatestVerification = %s (%v), want %s", i, got.SID, err, tt.want)
			}
			// The check counts the newest, never an older one still pending.
			got, counted, err := s.CountCheck(ctx, verification.Key{AccountSID: "AC1", ServiceSID: svc.SID, To: to}, 5, at(tt.created+time.Millisecond),
				func(verification.Verification) (verification.Status, []callback.Callback) {
					return verification.Approved, nil
				})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			if newest := tt.want == tt.sid; counted != newest || got.SID != tt.want {
				t.Errorf("step %d: the check saw %s, counted %v; want %s, counted %v", i, got.SID, counted, tt.want, newest)
			}
		}
	}},
	{"LatestIsScoped", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		MustInsertAccount(t, s, newAccount("AC2"))
		svc2, err := s.CreateService(ctx, newService("AC1", "SV2", "other"))
		check(t, "CreateService", err)
		svc3, err := s.CreateService(ctx, newService("AC2", "SV3", "login"))
		check(t, "CreateService", err)
		for _, v := range []verification.Verification{
			newVerification("AC1", svc.SID, "VE1", to, at(0)),
			newVerification("AC1", svc2.SID, "VE2", to, at(time.Minute)),   // another service
			newVerification("AC1", svc.SID, "VE3", to2, at(time.Minute)),   // another number
			newVerification("AC2", svc3.SID, "VE4", to, at(time.Minute)),   // another account
			newVerification("AC2", svc.SID, "VE5", to2, at(2*time.Minute)), // another account, same service SID
		} {
			mustStartVerification(t, s, v)
		}
		for _, tt := range []struct{ account, service, to, want string }{
			{"AC1", svc.SID, to, "VE1"}, {"AC1", svc2.SID, to, "VE2"}, {"AC1", svc.SID, to2, "VE3"},
			{"AC2", svc3.SID, to, "VE4"}, {"AC2", svc.SID, to2, "VE5"},
			{"AC2", svc.SID, to, ""}, {"AC1", svc3.SID, to, ""}, {"AC1", svc.SID, "+447700900789", ""},
		} {
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
}

// judge returns a judge that moves a verification to status with cbs, and
// counts its calls.
func judge(calls *atomic.Int32, status verification.Status, cbs ...callback.Callback) func(verification.Verification) (verification.Status, []callback.Callback) {
	return func(verification.Verification) (verification.Status, []callback.Callback) {
		calls.Add(1)
		return status, cbs
	}
}

var checkTests = []testCase{
	{"CountsWithTheLimit", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		mustStartVerification(t, s, v)
		var calls atomic.Int32
		for i := 1; i <= 3; i++ {
			got, counted, err := s.CountCheck(ctx, v.Key(), 3, at(time.Duration(i)*time.Second), judge(&calls, verification.Pending))
			if err != nil || !counted || got.CheckAttempts != i || got.Status != verification.Pending || !got.UpdatedAt.Equal(at(time.Duration(i)*time.Second)) {
				t.Fatalf("check %d: %+v counted %v, %v", i, got, counted, err)
			}
		}
		got, counted, err := s.CountCheck(ctx, v.Key(), 3, at(4*time.Second), judge(&calls, verification.Approved))
		if err != nil || counted || got.CheckAttempts != 3 {
			t.Fatalf("a check past the limit: %+v counted %v, %v; want not counted", got, counted, err)
		}
		if calls.Load() != 3 {
			t.Errorf("judge called %d times, want 3 (never past the limit)", calls.Load())
		}
		stored, _ := latest(t, s, "AC1", svc.SID, to)
		want := v
		want.CheckAttempts, want.UpdatedAt = 3, at(3*time.Second)
		assertEqual(t, "after the checks", stored, want)
	}},
	{"ConcurrentGuessesAreCapped", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		mustStartVerification(t, s, v)
		var calls, counted atomic.Int32
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() {
				_, c, err := s.CountCheck(ctx, v.Key(), 5, at(time.Second), func(v verification.Verification) (verification.Status, []callback.Callback) {
					calls.Add(1)
					if v.CheckAttempts >= 5 {
						return verification.MaxAttempts, nil
					}
					return verification.Pending, nil
				})
				if err != nil {
					t.Errorf("CountCheck: %v", err)
				}
				if c {
					counted.Add(1)
				}
			})
		}
		wg.Wait()
		got, _ := latest(t, s, "AC1", svc.SID, to)
		if calls.Load() != 5 || counted.Load() != 5 || got.CheckAttempts != 5 || got.Status != verification.MaxAttempts {
			t.Errorf("100 concurrent checks: judged %d, counted %d, stored %d attempts, status %s; want 5, 5, 5, max_attempts_reached",
				calls.Load(), counted.Load(), got.CheckAttempts, got.Status)
		}
	}},
	{"JudgedStatusAndCallbacksAreStored", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		mustStartVerification(t, s, v)
		ev := callback.Callback{SID: "CB1", Subject: "VE1", AccountSID: "AC1", URL: "https://example.com/e", Body: `{"status":"approved"}`,
			ContentType: callback.JSON, NextAttemptAt: at(time.Second), CreatedAt: at(time.Second)}
		var calls atomic.Int32
		got, counted, err := s.CountCheck(ctx, v.Key(), 5, at(time.Second), judge(&calls, verification.Approved, ev))
		if err != nil || !counted || got.Status != verification.Approved || got.CheckAttempts != 1 {
			t.Fatalf("CountCheck = %+v, %v, %v", got, counted, err)
		}
		if stored, _ := latest(t, s, "AC1", svc.SID, to); stored.Status != verification.Approved {
			t.Errorf("stored status %s, want approved", stored.Status)
		}
		cbs := claimAllCallbacks(t, s, at(time.Hour))
		if len(cbs) != 1 {
			t.Fatalf("callbacks %+v, want the event", cbs)
		}
		want := ev
		want.NextAttemptAt = at(time.Hour + time.Minute) // the lease
		assertEqual(t, "the event", cbs[0], want)
		// Approved: no longer counted.
		got, counted, err = s.CountCheck(ctx, v.Key(), 5, at(2*time.Second), judge(&calls, verification.Pending))
		if err != nil || counted || got.Status != verification.Approved {
			t.Errorf("a check of an approved verification: %+v, %v, %v; want not counted", got, counted, err)
		}
	}},
	{"NotLiveOrNoneIsNotFound", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		var calls atomic.Int32
		key := verification.Key{AccountSID: "AC1", ServiceSID: svc.SID, To: to}
		_, _, err := s.CountCheck(ctx, key, 5, at(0), judge(&calls, verification.Approved))
		wantNotFound(t, "CountCheck with no verification", err)
		mustStartVerification(t, s, newVerification("AC1", svc.SID, "VE1", to, at(0)))
		_, _, err = s.CountCheck(ctx, key, 5, at(10*time.Minute), judge(&calls, verification.Approved)) // the code expires at 10 min
		wantNotFound(t, "CountCheck of an expired verification", err)
		_, _, err = s.CountCheck(ctx, verification.Key{AccountSID: "AC2", ServiceSID: svc.SID, To: to}, 5, at(0), judge(&calls, verification.Approved))
		wantNotFound(t, "CountCheck of another account", err)
		if calls.Load() != 0 {
			t.Errorf("judge called %d times", calls.Load())
		}
	}},
}

var expiryTests = []testCase{
	{"DueAndResolve", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		// VE1-VE4 expire at 10, 11, 12 and 13 minutes; VE3 is approved.
		for i, sid := range []string{"VE1", "VE2", "VE3", "VE4"} {
			num := fmt.Sprintf("+44770090010%d", i)
			mustStartVerification(t, s, newVerification("AC1", svc.SID, sid, num, at(time.Duration(i)*time.Minute)))
		}
		var calls atomic.Int32
		_, _, err := s.CountCheck(ctx, verification.Key{AccountSID: "AC1", ServiceSID: svc.SID, To: "+447700900102"}, 5, at(3*time.Minute), judge(&calls, verification.Approved))
		check(t, "approve VE3", err)
		due, err := s.DueExpirations(ctx, at(10*time.Minute), at(13*time.Minute), 10)
		check(t, "DueExpirations", err)
		if got := verificationSIDs(due); fmt.Sprint(got) != "[VE2 VE4]" {
			t.Errorf("DueExpirations(10m, 13m] = %v, want [VE2 VE4] (earliest first, pending only, after since)", got)
		}
		due, err = s.DueExpirations(ctx, at(0), at(13*time.Minute), 1)
		if err != nil || fmt.Sprint(verificationSIDs(due)) != "[VE1]" {
			t.Errorf("DueExpirations limit 1 = %v, %v", verificationSIDs(due), err)
		}
		// Resolve: VE1 expired; VE2's guard says expired by 10m30s, but it
		// expires at 11m (a resend made it live): left alone; VE3 is not
		// pending: left alone. Only VE1's event stays.
		expired := func(sid string, by time.Duration) verification.Resolution {
			return verification.Resolution{SID: sid, From: []verification.Status{verification.Pending}, To: verification.Expired, ExpiredBy: at(by), At: at(by)}
		}
		events := []callback.Callback{
			{SID: "CB1", Subject: "VE1", AccountSID: "AC1", URL: "https://example.com/", Body: "{}", ContentType: callback.JSON, NextAttemptAt: at(0), CreatedAt: at(0)},
			{SID: "CB2", Subject: "VE2", AccountSID: "AC1", URL: "https://example.com/", Body: "{}", ContentType: callback.JSON, NextAttemptAt: at(0), CreatedAt: at(0)},
			{SID: "CB3", Subject: "VE3", AccountSID: "AC1", URL: "https://example.com/", Body: "{}", ContentType: callback.JSON, NextAttemptAt: at(0), CreatedAt: at(0)},
		}
		n, err := s.Resolve(ctx, []verification.Resolution{expired("VE1", 10*time.Minute+30*time.Second), expired("VE2", 10*time.Minute+30*time.Second), expired("VE3", time.Hour)}, events)
		if err != nil || n != 1 {
			t.Fatalf("Resolve = %d, %v; want 1 applied", n, err)
		}
		for sid, want := range map[string]verification.Status{"VE1": verification.Expired, "VE2": verification.Pending, "VE3": verification.Approved} {
			var num string
			for i, x := range []string{"VE1", "VE2", "VE3"} {
				if x == sid {
					num = fmt.Sprintf("+44770090010%d", i)
				}
			}
			if v, _ := latest(t, s, "AC1", svc.SID, num); v.Status != want {
				t.Errorf("%s is %s, want %s", sid, v.Status, want)
			}
		}
		if cbs := claimAllCallbacks(t, s, at(time.Hour)); len(cbs) != 1 || cbs[0].SID != "CB1" {
			t.Errorf("events kept: %+v, want CB1 only", cbs)
		}
		// A resolution with no expiry guard applies whatever the expiry.
		n, err = s.Resolve(ctx, []verification.Resolution{{SID: "VE4", From: []verification.Status{verification.Pending}, To: verification.Canceled, At: at(0)}}, nil)
		if err != nil || n != 1 {
			t.Errorf("Resolve without a guard = %d, %v", n, err)
		}
	}},
}

func verificationSIDs(vs []verification.Verification) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.SID)
	}
	return out
}
