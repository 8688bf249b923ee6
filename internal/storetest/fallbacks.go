package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

const fallbackAddress = "jo@example.com"

// mustStartWithFallback stores v as a new verification with a code SMS
// (message SID "SM"+v.SID) and its fallback, due at due.
func mustStartWithFallback(tb testing.TB, s Store, v verification.Verification, due time.Time) verification.Fallback {
	tb.Helper()
	f := verification.Fallback{VerificationSID: v.SID, AccountSID: v.AccountSID, Address: fallbackAddress, Locale: "ar", DueAt: due, CreatedAt: v.CreatedAt}
	check(tb, "InsertSend(new verification with a fallback)", sendChange(s, "SM"+v.SID, verification.Change{V: v, New: true, Fallback: &f}, v.CreatedAt))
	f.MessageSID = "SM" + v.SID
	return f
}

// dueFallbacks reads the fallbacks due at now.
func dueFallbacks(tb testing.TB, s Store, now time.Time) []verification.Fallback {
	tb.Helper()
	due, err := s.DueFallbacks(ctx, now, 100)
	check(tb, "DueFallbacks", err)
	return due
}

// emailed is v with one more code, by email, at d.
func emailed(v verification.Verification, d time.Duration) verification.Verification {
	v = resend(v, d)
	v.Codes[len(v.Codes)-1].Channel = "email"
	return v
}

var fallbackTests = []testCase{
	{"RecordedWithTheSendDueByTimeOrFailure", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		svc.FallbackChannel, svc.FallbackAfter = verification.FallbackEmail, 45*time.Second
		check(t, "UpdateService (fallback)", s.UpdateService(ctx, svc))
		got, err := s.ServiceBySID(ctx, svc.SID)
		check(t, "ServiceBySID", err)
		assertEqual(t, "the service's fallback settings", got, svc)

		a := mustStartWithFallback(t, s, newVerification("AC1", svc.SID, "VE1", to, at(0)), at(30*time.Second))
		b := mustStartWithFallback(t, s, newVerification("AC1", svc.SID, "VE2", to2, at(time.Second)), at(31*time.Second))
		if due := dueFallbacks(t, s, at(29*time.Second)); len(due) != 0 {
			t.Fatalf("fallbacks due before their time: %v", due)
		}
		due := dueFallbacks(t, s, at(30*time.Second))
		a.SMSStatus = string(message.Queued)
		assertEqual(t, "the fallback due at its time", due, []verification.Fallback{a})
		// A failed SMS makes its fallback due at once.
		check(t, "RecordOutcome", s.RecordOutcome(ctx, message.Outcome{SID: b.MessageSID, Status: message.Failed, ErrorCode: 30008, At: at(2 * time.Second)}))
		due = dueFallbacks(t, s, at(3*time.Second))
		b.SMSStatus = string(message.Failed)
		assertEqual(t, "the fallback of a failed SMS", due, []verification.Fallback{b})
		// A send that failed writes no fallback.
		v3 := newVerification("AC1", svc.SID, "VE3", to, at(2*time.Second)) // VE1 is live and pending: this one conflicts
		f3 := verification.Fallback{Address: fallbackAddress, DueAt: at(0)}
		if err := sendChange(s, "SMVE3", verification.Change{V: v3, New: true, Fallback: &f3}, v3.CreatedAt); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a blocked new verification: %v, want ErrConflict", err)
		}
		for _, f := range dueFallbacks(t, s, at(time.Hour)) {
			if f.VerificationSID == "VE3" {
				t.Fatal("a refused send left its fallback")
			}
		}
	}},
	{"ClaimedOnceWithTheEmail", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		f := mustStartWithFallback(t, s, v, at(30*time.Second))
		// Two nodes send its email at once: one is stored, with one more code.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() {
				claim := f
				errs[i] = sendChange(s, []string{"SMA", "SMB"}[i], verification.Change{V: emailed(v, 31*time.Second), Claim: &claim}, at(31*time.Second))
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, store.ErrConflict) {
				t.Fatalf("a losing claim: %v, want ErrConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of two concurrent claims were stored, want 1 (%v)", won, errs)
		}
		got, err := s.VerificationBySID(ctx, "AC1", "VE1")
		check(t, "VerificationBySID", err)
		assertEqual(t, "the verification with its emailed code", got, emailed(v, 31*time.Second))
		if due := dueFallbacks(t, s, at(time.Hour)); len(due) != 0 {
			t.Fatalf("the claimed fallback is still there: %v", due)
		}
		// A claim of a fallback that is gone writes nothing, even where the
		// verification's own guard would let it.
		claim := f
		err = sendChange(s, "SMC", verification.Change{V: emailed(got, 40*time.Second), Claim: &claim}, at(40*time.Second))
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a claim of a gone fallback: %v, want ErrConflict", err)
		}
		if again, _ := s.VerificationBySID(ctx, "AC1", "VE1"); again.SendAttempts != 2 {
			t.Fatalf("the refused claim wrote the verification: %d sends", again.SendAttempts)
		}
		if _, err := s.Message(ctx, "AC1", "SMC"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused claim wrote its message: %v", err)
		}
	}},
	{"ResendReplacesAndDropIsOnce", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		old := mustStartWithFallback(t, s, v, at(30*time.Second))
		next := verification.Fallback{Address: "other@example.com", DueAt: at(50 * time.Second), CreatedAt: at(20 * time.Second)}
		check(t, "a resend with a fallback", sendChange(s, "SM2", verification.Change{V: resend(v, 20*time.Second), Fallback: &next}, at(20*time.Second)))
		next.VerificationSID, next.AccountSID, next.MessageSID, next.SMSStatus = "VE1", "AC1", "SM2", string(message.Queued)
		assertEqual(t, "the resend's fallback replaces the first", dueFallbacks(t, s, at(time.Hour)), []verification.Fallback{next})
		if dropped, err := s.DropFallback(ctx, old); err != nil || dropped {
			t.Fatalf("dropping the replaced fallback: %v %v, want false", dropped, err)
		}
		if dropped, err := s.DropFallback(ctx, next); err != nil || !dropped {
			t.Fatalf("DropFallback: %v %v, want true", dropped, err)
		}
		if dropped, err := s.DropFallback(ctx, next); err != nil || dropped {
			t.Fatalf("DropFallback again: %v %v, want false", dropped, err)
		}
	}},
	{"CodesKeepTheirChannel", func(t *testing.T, s Store) {
		svc := mustSetup(t, s)
		v := newVerification("AC1", svc.SID, "VE1", to, at(0))
		mustStartVerification(t, s, v)
		e := emailed(v, time.Minute)
		check(t, "a code by email", sendChange(s, "SM2", verification.Change{V: e}, at(time.Minute)))
		got, err := s.VerificationBySID(ctx, "AC1", "VE1")
		check(t, "VerificationBySID", err)
		assertEqual(t, "codes of two channels", got, e)
		if c := got.CodeChannel(got.Codes[0]) + "," + got.CodeChannel(got.Codes[1]); c != "sms,email" {
			t.Fatalf("the codes' channels: %s", c)
		}
		_, err = s.VerificationBySID(ctx, "AC2", "VE1")
		wantNotFound(t, "another account's verification", err)
	}},
}
