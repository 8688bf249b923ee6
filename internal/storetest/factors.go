package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/factor"
)

func newEntity(accountSID, serviceSID, sid, identity string) factor.Entity {
	return factor.Entity{SID: sid, AccountSID: accountSID, ServiceSID: serviceSID, Identity: identity, CreatedAt: at(0), UpdatedAt: at(0)}
}

func newFactor(e factor.Entity, sid string, d time.Duration) factor.Factor {
	return factor.Factor{
		SID: sid, AccountSID: e.AccountSID, ServiceSID: e.ServiceSID, EntitySID: e.SID, Identity: e.Identity,
		FriendlyName: "Ann's phone " + sid, Status: factor.Unverified, Sealed: hash("sealed " + sid),
		Config:    factor.Config{TimeStep: 60, Skew: 2, CodeLength: 8, Alg: factor.SHA256},
		CreatedAt: at(d), UpdatedAt: at(d),
	}
}

// attempt is an attempt at d with the lockout's settings: 5 failures
// within 5 minutes.
func attempt(f factor.Factor, match bool, step int64, d time.Duration) factor.Attempt {
	return factor.Attempt{AccountSID: f.AccountSID, FactorSID: f.SID, Match: match, Step: step, Verify: true, Now: at(d),
		Max: 5, Since: at(d - 5*time.Minute)}
}

// mustFactor stores a factor (and its entity) of AC1's service VA1.
func mustFactor(t *testing.T, s Store, sid string) factor.Factor {
	t.Helper()
	f := newFactor(newEntity("AC1", "VA1", "YE1", "user-0001"), sid, 0)
	_, err := s.CreateFactor(ctx, newEntity("AC1", "VA1", "YE"+sid, "user-0001"), f)
	check(t, "CreateFactor", err)
	got, err := s.Factor(ctx, "AC1", sid)
	check(t, "Factor", err)
	return got
}

func wantOutcome(t *testing.T, what string, s Store, a factor.Attempt, want factor.Outcome) factor.Factor {
	t.Helper()
	out, f, err := s.AttemptFactor(ctx, a)
	check(t, what, err)
	if out != want {
		t.Fatalf("%s: outcome %d, want %d (factor after: %+v)", what, out, want, f)
	}
	return f
}

var factorTests = []testCase{
	{"CreateReadList", func(t *testing.T, s Store) {
		e := newEntity("AC1", "VA1", "YE1", "user-0001")
		f1 := newFactor(e, "YF1", 0)
		got, err := s.CreateFactor(ctx, e, f1)
		check(t, "CreateFactor", err)
		assertEqual(t, "the entity made", got, e)
		// A second factor of the identity joins its entity.
		f2 := newFactor(e, "YF2", time.Nanosecond)
		got, err = s.CreateFactor(ctx, newEntity("AC1", "VA1", "YE2", "user-0001"), f2)
		check(t, "CreateFactor (second)", err)
		assertEqual(t, "the entity kept", got, e)
		one, err := s.Factor(ctx, "AC1", "YF2")
		check(t, "Factor", err)
		assertEqual(t, "Factor", one, f2)
		list, err := s.Factors(ctx, "AC1", "VA1", "user-0001")
		check(t, "Factors", err)
		assertEqual(t, "Factors (oldest first)", list, []factor.Factor{f1, f2})
		ent, created, err := s.CreateEntity(ctx, newEntity("AC1", "VA1", "YE3", "user-0001"))
		check(t, "CreateEntity (taken)", err)
		if created || ent.SID != "YE1" {
			t.Errorf("CreateEntity of an identity taken: %+v created %v", ent, created)
		}
		e2 := newEntity("AC1", "VA1", "YE4", "user-0002")
		e2.CreatedAt = at(time.Second)
		if _, created, err := s.CreateEntity(ctx, e2); err != nil || !created {
			t.Fatalf("CreateEntity: created %v, %v", created, err)
		}
		ents, err := s.Entities(ctx, "AC1", "VA1")
		check(t, "Entities", err)
		assertEqual(t, "Entities", ents, []factor.Entity{e, e2})
		one2, err := s.Entity(ctx, "AC1", "VA1", "user-0002")
		check(t, "Entity", err)
		assertEqual(t, "Entity", one2, e2)
	}},
	{"AccountsIsolated", func(t *testing.T, s Store) {
		f := mustFactor(t, s, "YF1")
		_, err := s.Factor(ctx, "AC2", "YF1")
		wantNotFound(t, "Factor of another account", err)
		_, err = s.Entity(ctx, "AC2", "VA1", "user-0001")
		wantNotFound(t, "Entity of another account", err)
		if l, err := s.Factors(ctx, "AC2", "VA1", "user-0001"); err != nil || len(l) != 0 {
			t.Errorf("Factors of another account: %v %v", l, err)
		}
		if l, err := s.Entities(ctx, "AC2", "VA1"); err != nil || len(l) != 0 {
			t.Errorf("Entities of another account: %v %v", l, err)
		}
		a := attempt(f, true, 100, 0)
		a.AccountSID = "AC2"
		_, _, err = s.AttemptFactor(ctx, a)
		wantNotFound(t, "AttemptFactor of another account", err)
		wantNotFound(t, "DeleteFactor of another account", s.DeleteFactor(ctx, "AC2", "YF1"))
		wantNotFound(t, "DeleteEntity of another account", s.DeleteEntity(ctx, "AC2", "VA1", "user-0001"))
		after, err := s.Factor(ctx, "AC1", "YF1")
		check(t, "Factor", err)
		assertEqual(t, "the factor, untouched", after, f)
	}},
	{"AcceptOnceAndLock", func(t *testing.T, s Store) {
		f := mustFactor(t, s, "YF1")
		got := wantOutcome(t, "a right code", s, attempt(f, true, 100, 0), factor.Accepted)
		if got.Status != factor.Verified || got.LastStep != 100 || got.Failures != 0 {
			t.Fatalf("after a right code: %+v", got)
		}
		got = wantOutcome(t, "the same step again (a replay)", s, attempt(f, true, 100, time.Second), factor.Refused)
		if got.Failures != 1 || got.LastStep != 100 || !got.LastFailure.Equal(at(time.Second)) {
			t.Fatalf("after a replay: %+v", got)
		}
		wantOutcome(t, "an earlier step", s, attempt(f, true, 99, 2*time.Second), factor.Refused)
		got = wantOutcome(t, "a later step", s, attempt(f, true, 101, 3*time.Second), factor.Accepted)
		if got.Failures != 0 || got.LastStep != 101 {
			t.Fatalf("a right code resets the failures: %+v", got)
		}
		for i := range 5 {
			got = wantOutcome(t, fmt.Sprintf("wrong code %d", i+1), s, attempt(f, false, 0, time.Minute), factor.Refused)
		}
		if got.Failures != 5 {
			t.Fatalf("after 5 wrong codes: %+v", got)
		}
		wantOutcome(t, "a wrong code when locked", s, attempt(f, false, 0, 2*time.Minute), factor.Locked)
		got = wantOutcome(t, "a right code when locked", s, attempt(f, true, 200, 2*time.Minute), factor.Locked)
		if got.LastStep != 101 || got.Failures != 5 || !got.LastFailure.Equal(at(time.Minute)) {
			t.Fatalf("a locked factor changed: %+v", got)
		}
		got = wantOutcome(t, "a right code once the lock ends", s, attempt(f, true, 200, 6*time.Minute+time.Nanosecond), factor.Accepted)
		if got.Failures != 0 || got.LastStep != 200 {
			t.Fatalf("after the lock: %+v", got)
		}
		// Failures older than the window are forgotten: one more starts over.
		wantOutcome(t, "wrong", s, attempt(f, false, 0, 7*time.Minute), factor.Refused)
		got = wantOutcome(t, "wrong, much later", s, attempt(f, false, 0, time.Hour), factor.Refused)
		if got.Failures != 1 {
			t.Fatalf("a failure after the window: %+v", got)
		}
	}},
	{"VerifyOnlyWhenAsked", func(t *testing.T, s Store) {
		f := mustFactor(t, s, "YF1")
		a := attempt(f, true, 100, 0)
		a.Verify = false
		if got := wantOutcome(t, "a right code of a challenge", s, a, factor.Accepted); got.Status != factor.Unverified {
			t.Fatalf("a challenge verified the factor: %+v", got)
		}
	}},
	{"Challenges", func(t *testing.T, s Store) {
		f := mustFactor(t, s, "YF1")
		challenge := func(sid string, match bool, step int64, d time.Duration, want factor.Outcome, status factor.ChallengeStatus) {
			t.Helper()
			a := attempt(f, match, step, d)
			a.Verify = false
			a.Challenge = &factor.Challenge{SID: sid, AccountSID: "AC1", ServiceSID: "VA1", EntitySID: f.EntitySID, Identity: f.Identity,
				FactorSID: f.SID, Status: "ignored", CreatedAt: at(d), UpdatedAt: at(d)}
			wantOutcome(t, sid, s, a, want)
			c, err := s.Challenge(ctx, "AC1", sid)
			if status == "" {
				wantNotFound(t, "a challenge refused while locked", err)
				return
			}
			check(t, "Challenge", err)
			stored := *a.Challenge
			stored.Status = status
			assertEqual(t, "Challenge "+sid, c, stored)
			_, err = s.Challenge(ctx, "AC2", sid)
			wantNotFound(t, "Challenge of another account", err)
		}
		challenge("YC1", true, 100, 0, factor.Accepted, factor.Approved)
		challenge("YC2", true, 100, time.Second, factor.Refused, factor.Pending)
		for i := range 4 {
			challenge(fmt.Sprintf("YC3%d", i), false, 0, time.Second, factor.Refused, factor.Pending)
		}
		challenge("YC4", true, 101, 2*time.Second, factor.Locked, "")
		check(t, "DeleteFactor", s.DeleteFactor(ctx, "AC1", "YF1"))
		_, err := s.Challenge(ctx, "AC1", "YC1")
		wantNotFound(t, "a challenge of a deleted factor", err)
		_, err = s.Factor(ctx, "AC1", "YF1")
		wantNotFound(t, "a deleted factor", err)
		wantNotFound(t, "DeleteFactor twice", s.DeleteFactor(ctx, "AC1", "YF1"))
		_, _, err = s.AttemptFactor(ctx, attempt(f, true, 300, time.Hour))
		wantNotFound(t, "AttemptFactor of a deleted factor", err)
	}},
	{"DeleteEntity", func(t *testing.T, s Store) {
		f := mustFactor(t, s, "YF1")
		mustFactor(t, s, "YF2")
		a := attempt(f, true, 100, 0)
		a.Challenge = &factor.Challenge{SID: "YC1", AccountSID: "AC1", ServiceSID: "VA1", EntitySID: f.EntitySID, Identity: f.Identity, FactorSID: f.SID}
		wantOutcome(t, "a challenge", s, a, factor.Accepted)
		other := newEntity("AC1", "VA1", "YE9", "user-0009")
		_, err := s.CreateFactor(ctx, other, newFactor(other, "YF9", 0))
		check(t, "CreateFactor (another identity)", err)
		check(t, "DeleteEntity", s.DeleteEntity(ctx, "AC1", "VA1", "user-0001"))
		for _, sid := range []string{"YF1", "YF2"} {
			_, err := s.Factor(ctx, "AC1", sid)
			wantNotFound(t, "a factor of a deleted entity", err)
		}
		_, err = s.Challenge(ctx, "AC1", "YC1")
		wantNotFound(t, "a challenge of a deleted entity", err)
		_, err = s.Entity(ctx, "AC1", "VA1", "user-0001")
		wantNotFound(t, "a deleted entity", err)
		_, err = s.Factor(ctx, "AC1", "YF9")
		check(t, "another identity's factor stays", err)
		wantNotFound(t, "DeleteEntity twice", s.DeleteEntity(ctx, "AC1", "VA1", "user-0001"))
	}},
	{"DeleteService", func(t *testing.T, s Store) {
		check(t, "InsertAccount", s.InsertAccount(ctx, newAccount("AC1")))
		_, err := s.CreateService(ctx, newService("AC1", "VA1", "Bank"))
		check(t, "CreateService", err)
		f := mustFactor(t, s, "YF1")
		other := newEntity("AC1", "VA2", "YE9", "user-0001")
		_, err = s.CreateFactor(ctx, other, newFactor(other, "YF9", 0))
		check(t, "CreateFactor (another service)", err)
		check(t, "DeleteService", s.DeleteService(ctx, "AC1", "VA1"))
		_, err = s.Factor(ctx, "AC1", f.SID)
		wantNotFound(t, "a factor of a deleted service", err)
		_, err = s.Entity(ctx, "AC1", "VA1", "user-0001")
		wantNotFound(t, "an entity of a deleted service", err)
		_, err = s.Factor(ctx, "AC1", "YF9")
		check(t, "another service's factor stays", err)
	}},
	{"OneCodeAcceptedOnce", func(t *testing.T, s Store) {
		// Many requests with one code at once: exactly one is accepted,
		// every other counts as a failure (or finds the factor locked).
		f := mustFactor(t, s, "YF1")
		const n = 16
		outs := make([]factor.Outcome, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				out, _, err := s.AttemptFactor(ctx, attempt(f, true, 100, 0))
				if err != nil {
					t.Error(err)
				}
				outs[i] = out
			})
		}
		wg.Wait()
		count := map[factor.Outcome]int{}
		for _, o := range outs {
			count[o]++
		}
		if count[factor.Accepted] != 1 || count[factor.Refused] != 5 || count[factor.Locked] != n-6 {
			t.Fatalf("outcomes of %d attempts with one code: %v (want 1 accepted, 5 refused, the rest locked)", n, count)
		}
	}},
}
