package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/store"
)

// m0 is base's Unix minute: at(d) is in minute m0+d/time.Minute.
var m0 = base.Unix() / 60

const pfx, zain, jo = "prefix:+96279031", "operator:JO:Zain", "country:JO"

func newBlock(accountSID, key string, since, until time.Duration) guardstate.Block {
	return guardstate.Block{AccountSID: accountSID, Key: key, Level: 1, Since: at(since), Until: at(until),
		Sends: 40, Approvals: 2, Window: 10 * time.Minute, Reason: "40 codes to " + key + " in 10m, 2 approved"}
}

func mustAdd(tb testing.TB, s Store, counts ...guardstate.Count) {
	tb.Helper()
	check(tb, "AddGuardCounts", s.AddGuardCounts(ctx, counts))
}

// totals returns GuardTotals sorted by account and key.
func totals(tb testing.TB, s Store, shortSince, baselineSince time.Time) []guardstate.Total {
	tb.Helper()
	out, err := s.GuardTotals(ctx, shortSince, baselineSince)
	check(tb, "GuardTotals", err)
	slices.SortFunc(out, func(a, b guardstate.Total) int {
		return cmp.Or(cmp.Compare(a.AccountSID, b.AccountSID), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// blocks returns GuardBlocks sorted by account and key.
func blocks(tb testing.TB, s Store, since time.Time) []guardstate.Block {
	tb.Helper()
	out, err := s.GuardBlocks(ctx, since)
	check(tb, "GuardBlocks", err)
	slices.SortFunc(out, func(a, b guardstate.Block) int {
		return cmp.Or(cmp.Compare(a.AccountSID, b.AccountSID), cmp.Compare(a.Key, b.Key))
	})
	return out
}

var guardTests = []testCase{
	{"Totals", func(t *testing.T, s Store) {
		mustAdd(t, s,
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0, Sends: 3, Approvals: 1},
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 5, Sends: 4, Approvals: 2},
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 10, Sends: 1},               // shortSince's minute: in
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 11, Sends: 2, Approvals: 5}, // baseline only
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 1440, Sends: 10},            // baselineSince's minute
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 1441, Sends: 100},           // before both
			guardstate.Count{AccountSID: "AC1", Key: jo, Minute: m0 - 30, Sends: 7},                // no short sends
			guardstate.Count{AccountSID: "AC1", Key: zain, Minute: m0, Approvals: 3},               // approvals only
			guardstate.Count{AccountSID: "AC2", Key: pfx, Minute: m0, Sends: 1},
		)
		// Adding to a row adds to it.
		mustAdd(t, s, guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0, Sends: 2, Approvals: 1})
		assertEqual(t, "GuardTotals", totals(t, s, at(-10*time.Minute), at(-24*time.Hour)), []guardstate.Total{
			{AccountSID: "AC1", Key: pfx, Sends: 10, Approvals: 4, BaselineSends: 22, Oldest: m0 - 1440},
			{AccountSID: "AC2", Key: pfx, Sends: 1, Approvals: 0, BaselineSends: 1, Oldest: m0},
		})
		assertEqual(t, "GuardTotals a minute later", totals(t, s, at(time.Minute), at(0)), []guardstate.Total(nil))
	}},
	{"ConcurrentAddsAllCount", func(t *testing.T, s Store) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 25 {
					if err := s.AddGuardCounts(ctx, []guardstate.Count{
						{AccountSID: "AC1", Key: pfx, Minute: m0, Sends: 1, Approvals: 1},
						{AccountSID: "AC1", Key: jo, Minute: m0, Sends: 2},
					}); err != nil {
						t.Errorf("AddGuardCounts: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		assertEqual(t, "GuardTotals after 8×25 concurrent adds", totals(t, s, at(0), at(0)), []guardstate.Total{
			{AccountSID: "AC1", Key: jo, Sends: 400, BaselineSends: 400, Oldest: m0},
			{AccountSID: "AC1", Key: pfx, Sends: 200, Approvals: 200, BaselineSends: 200, Oldest: m0},
		})
	}},
	{"PutBlock", func(t *testing.T, s Store) {
		b1 := newBlock("AC1", pfx, 0, 15*time.Minute)
		check(t, "PutGuardBlock", s.PutGuardBlock(ctx, b1, []callback.Callback{newCallback("CB1", "GB1", 0)}))
		// While b1 is in force another block of the key is ignored, callbacks and all.
		b2 := newBlock("AC1", pfx, 5*time.Minute, time.Hour)
		b2.Level, b2.Reason = 2, "ignored"
		check(t, "PutGuardBlock while one is in force", s.PutGuardBlock(ctx, b2, []callback.Callback{newCallback("CB2", "GB2", 0)}))
		// Another account's block of the same key is its own.
		o := newBlock("AC2", pfx, 5*time.Minute, 20*time.Minute)
		check(t, "PutGuardBlock of AC2", s.PutGuardBlock(ctx, o, nil))
		assertEqual(t, "GuardBlocks", blocks(t, s, at(0)), []guardstate.Block{b1, o})
		if got := claimAllCallbacks(t, s, at(time.Hour)); callbackSIDs(got) != "[CB1]" {
			t.Errorf("callbacks %s, want [CB1] (not the ignored block's)", callbackSIDs(got))
		}
		// GuardBlocks returns the blocks ending after since: b1 ends at 15m.
		assertEqual(t, "GuardBlocks(15m)", blocks(t, s, at(15*time.Minute)), []guardstate.Block{o})
		// A block that has ended is replaced.
		b3 := newBlock("AC1", pfx, 15*time.Minute, 75*time.Minute)
		b3.Level, b3.Sends, b3.Approvals, b3.Window, b3.Reason = 2, 17, 0, 5*time.Minute, "17 codes, none approved"
		check(t, "PutGuardBlock after the first ended", s.PutGuardBlock(ctx, b3, []callback.Callback{newCallback("CB3", "GB3", 0)}))
		assertEqual(t, "GuardBlocks after the replacement", blocks(t, s, at(0)), []guardstate.Block{b3, o})
		if got := claimAllCallbacks(t, s, at(time.Hour)); callbackSIDs(got) != "[CB3]" {
			t.Errorf("callbacks %s, want [CB3]", callbackSIDs(got))
		}
	}},
	{"ConcurrentPutsStoreOne", func(t *testing.T, s Store) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				b := newBlock("AC1", pfx, 0, 15*time.Minute)
				b.Reason = fmt.Sprint(i)
				cb := newCallback(fmt.Sprintf("CB%d", i), fmt.Sprintf("GB%d", i), 0)
				if err := s.PutGuardBlock(ctx, b, []callback.Callback{cb}); err != nil {
					t.Errorf("PutGuardBlock %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		got, cbs := blocks(t, s, at(0)), claimAllCallbacks(t, s, at(time.Hour))
		if len(got) != 1 || len(cbs) != 1 || cbs[0].SID != "CB"+got[0].Reason {
			t.Errorf("8 concurrent puts of a key stored blocks %+v with callbacks %s, want one block with its callback", got, callbackSIDs(cbs))
		}
	}},
	{"Lift", func(t *testing.T, s Store) {
		b := newBlock("AC1", pfx, 0, 15*time.Minute)
		ended := newBlock("AC1", zain, 0, 10*time.Minute)
		check(t, "PutGuardBlock", s.PutGuardBlock(ctx, b, nil))
		check(t, "PutGuardBlock", s.PutGuardBlock(ctx, ended, nil))
		mustAdd(t, s,
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0, Sends: 40, Approvals: 2},
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 60, Sends: 5},
			guardstate.Count{AccountSID: "AC1", Key: jo, Minute: m0, Sends: 3},
			guardstate.Count{AccountSID: "AC2", Key: pfx, Minute: m0, Sends: 1},
		)
		_, err := s.LiftGuardBlock(ctx, "AC2", pfx, at(5*time.Minute))
		wantNotFound(t, "LiftGuardBlock of another account's key", err)
		_, err = s.LiftGuardBlock(ctx, "AC1", jo, at(5*time.Minute))
		wantNotFound(t, "LiftGuardBlock of a key never blocked", err)
		_, err = s.LiftGuardBlock(ctx, "AC1", zain, at(10*time.Minute))
		wantNotFound(t, "LiftGuardBlock of a block that ended", err)

		got, err := s.LiftGuardBlock(ctx, "AC1", pfx, at(5*time.Minute))
		check(t, "LiftGuardBlock", err)
		lifted := b
		lifted.Until, lifted.Lifted = at(5*time.Minute), true
		assertEqual(t, "the lifted block", got, lifted)
		assertEqual(t, "GuardBlocks", blocks(t, s, at(0)), []guardstate.Block{ended, lifted})
		assertEqual(t, "GuardBlocks(5m)", blocks(t, s, at(5*time.Minute)), []guardstate.Block{ended})
		// The key's counts are gone, and only its.
		assertEqual(t, "GuardTotals", totals(t, s, at(-2*time.Hour), at(-2*time.Hour)), []guardstate.Total{
			{AccountSID: "AC1", Key: jo, Sends: 3, BaselineSends: 3, Oldest: m0},
			{AccountSID: "AC2", Key: pfx, Sends: 1, BaselineSends: 1, Oldest: m0},
		})
		_, err = s.LiftGuardBlock(ctx, "AC1", pfx, at(6*time.Minute))
		wantNotFound(t, "LiftGuardBlock again", err)
		// A lifted block is replaced by the next, even one that began before the lift.
		next := newBlock("AC1", pfx, 4*time.Minute, time.Hour)
		next.Level = 2
		check(t, "PutGuardBlock after a lift", s.PutGuardBlock(ctx, next, []callback.Callback{newCallback("CB1", "GB1", 0)}))
		assertEqual(t, "GuardBlocks after the new block", blocks(t, s, at(0)), []guardstate.Block{ended, next})
		if got := claimAllCallbacks(t, s, at(time.Hour)); callbackSIDs(got) != "[CB1]" {
			t.Errorf("callbacks %s, want [CB1]", callbackSIDs(got))
		}
	}},
	// One key's totals per account (the daily budget's "sms" key, by the
	// hour), and one account's counts of it: only that key, only since.
	{"KeyTotalsAndCounts", func(t *testing.T, s Store) {
		h := m0 / 60 * 60 // an hour, as Unix minutes
		mustAdd(t, s,
			guardstate.Count{AccountSID: "AC1", Key: "sms", Minute: h, Sends: 3},
			guardstate.Count{AccountSID: "AC1", Key: "sms", Minute: h - 60, Sends: 4},
			guardstate.Count{AccountSID: "AC1", Key: "sms", Minute: h - 25*60, Sends: 100}, // before since
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: h, Sends: 50},            // another key
			guardstate.Count{AccountSID: "AC2", Key: "sms", Minute: h - 120, Sends: 1},
		)
		mustAdd(t, s, guardstate.Count{AccountSID: "AC1", Key: "sms", Minute: h, Sends: 2}) // another node's
		since := time.Unix((h-24*60)*60, 0).In(zone)
		got, err := s.GuardKeyTotals(ctx, "sms", since)
		check(t, "GuardKeyTotals", err)
		slices.SortFunc(got, func(a, b guardstate.Total) int { return cmp.Compare(a.AccountSID, b.AccountSID) })
		assertEqual(t, "GuardKeyTotals", got, []guardstate.Total{
			{AccountSID: "AC1", Key: "sms", Sends: 9, Oldest: h - 60},
			{AccountSID: "AC2", Key: "sms", Sends: 1, Oldest: h - 120},
		})
		counts, err := s.GuardKeyCounts(ctx, "AC1", "sms", since)
		check(t, "GuardKeyCounts", err)
		assertEqual(t, "GuardKeyCounts", counts, []guardstate.Count{
			{AccountSID: "AC1", Key: "sms", Minute: h - 60, Sends: 4},
			{AccountSID: "AC1", Key: "sms", Minute: h, Sends: 5},
		})
		none, err := s.GuardKeyTotals(ctx, "sms", time.Unix((h+60)*60, 0))
		check(t, "GuardKeyTotals later", err)
		assertEqual(t, "GuardKeyTotals an hour later", len(none), 0)
	}},
	{"SafeList", func(t *testing.T, s Store) {
		check(t, "SetGuardSafe", s.SetGuardSafe(ctx, "AC1", []string{"+9627903", "+447700900123", "+33", "+9627903"}, []string{"+1555"}, 0))
		check(t, "SetGuardSafe again", s.SetGuardSafe(ctx, "AC1", []string{"+447700900123"}, nil, 0))
		check(t, "SetGuardSafe of AC2", s.SetGuardSafe(ctx, "AC2", []string{"+1"}, []string{"+9627903"}, 0))
		safe := func(accountSID string) []string {
			l, err := s.GuardSafeList(ctx, accountSID)
			check(t, "GuardSafeList("+accountSID+")", err)
			return l
		}
		assertEqual(t, "AC1's safe list", safe("AC1"), []string{"+33", "+447700900123", "+9627903"})
		assertEqual(t, "AC2's safe list", safe("AC2"), []string{"+1"})
		assertEqual(t, "AC3's safe list", safe("AC3"), []string(nil))
		check(t, "SetGuardSafe (remove)", s.SetGuardSafe(ctx, "AC1", []string{"+44"}, []string{"+9627903", "+33"}, 0))
		assertEqual(t, "AC1's safe list after removing", safe("AC1"), []string{"+44", "+447700900123"})
	}},
	{"SafeListCap", func(t *testing.T, s Store) {
		safe := func(accountSID string) []string {
			t.Helper()
			l, err := s.GuardSafeList(ctx, accountSID)
			check(t, "GuardSafeList("+accountSID+")", err)
			return l
		}
		set := func(what string, add, remove []string, want error) {
			t.Helper()
			wantErr(t, what, s.SetGuardSafe(ctx, "AC1", add, remove, 3), want)
		}
		set("four entries at once, cap 3", []string{"+1", "+2", "+3", "+4"}, nil, store.ErrFull)
		assertEqual(t, "the safe list after a refused change", safe("AC1"), []string(nil))
		set("exactly the cap", []string{"+1", "+2", "+3"}, nil, nil)
		set("one more", []string{"+4"}, nil, store.ErrFull)
		set("two more, removing one", []string{"+4", "+5"}, []string{"+1"}, store.ErrFull)
		assertEqual(t, "the safe list after refused changes", safe("AC1"), []string{"+1", "+2", "+3"})
		set("an entry already there", []string{"+3", "+1"}, nil, nil)
		set("removing one", nil, []string{"+1"}, nil)
		set("then adding one", []string{"+4"}, nil, nil)
		set("adding one, removing one at once", []string{"+5"}, []string{"+2"}, nil)
		assertEqual(t, "the safe list", safe("AC1"), []string{"+3", "+4", "+5"})
		// Another account's list is its own; no cap is no cap.
		check(t, "SetGuardSafe(AC2, cap 1)", s.SetGuardSafe(ctx, "AC2", []string{"+9"}, nil, 1))
		check(t, "SetGuardSafe(AC1, no cap)", s.SetGuardSafe(ctx, "AC1", []string{"+6", "+7"}, nil, 0))
		// A list past a lowered cap may shrink, not grow.
		set("removing one, still past the cap", nil, []string{"+7"}, nil)
		set("adding one, past the cap", []string{"+8"}, []string{"+6"}, store.ErrFull)
		assertEqual(t, "AC1's safe list", safe("AC1"), []string{"+3", "+4", "+5", "+6"})
		assertEqual(t, "AC2's safe list", safe("AC2"), []string{"+9"})
	}},
	{"SafeListCapConcurrent", func(t *testing.T, s Store) {
		const max = 10
		errs := make([]error, 20)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				errs[i] = s.SetGuardSafe(ctx, "AC1", []string{fmt.Sprintf("+4477009%05d", i)}, nil, max)
			})
		}
		wg.Wait()
		added := 0
		for i, err := range errs {
			switch {
			case err == nil:
				added++
			case !errors.Is(err, store.ErrFull):
				t.Errorf("SetGuardSafe %d: %v, want nil or ErrFull", i, err)
			}
		}
		l, err := s.GuardSafeList(ctx, "AC1")
		check(t, "GuardSafeList", err)
		if added != max || len(l) != max {
			t.Errorf("20 concurrent additions under a cap of %d: %d succeeded, the list holds %d; want %d and %d", max, added, len(l), max, max)
		}
	}},
	{"Forget", func(t *testing.T, s Store) {
		mustAdd(t, s,
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 2000, Sends: 1}, // gone (both)
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 100, Sends: 1},  // gone
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 61, Sends: 1},   // gone
			guardstate.Count{AccountSID: "AC1", Key: pfx, Minute: m0 - 60, Sends: 1},   // kept
			guardstate.Count{AccountSID: "AC2", Key: pfx, Minute: m0 - 30, Sends: 1},   // kept
			guardstate.Count{AccountSID: "AC1", Key: jo, Minute: m0 - 1441, Sends: 1},  // gone
			guardstate.Count{AccountSID: "AC1", Key: jo, Minute: m0 - 1440, Sends: 1},  // kept
			guardstate.Count{AccountSID: "AC1", Key: zain, Minute: m0 - 100, Sends: 1}, // kept
		)
		gone := newBlock("AC1", pfx, -26*time.Hour, -25*time.Hour)
		kept := newBlock("AC1", jo, -25*time.Hour, -24*time.Hour)
		other := newBlock("AC2", pfx, 0, time.Hour)
		for _, b := range []guardstate.Block{gone, kept, other} {
			check(t, "PutGuardBlock", s.PutGuardBlock(ctx, b, nil))
		}
		n, err := s.ForgetGuard(ctx, at(-time.Hour), at(-24*time.Hour))
		check(t, "ForgetGuard", err)
		if n != 5 {
			t.Errorf("ForgetGuard deleted %d rows, want 5 (4 counts, 1 block)", n)
		}
		assertEqual(t, "GuardTotals", totals(t, s, at(-48*time.Hour), at(-48*time.Hour)), []guardstate.Total{
			{AccountSID: "AC1", Key: jo, Sends: 1, BaselineSends: 1, Oldest: m0 - 1440},
			{AccountSID: "AC1", Key: zain, Sends: 1, BaselineSends: 1, Oldest: m0 - 100},
			{AccountSID: "AC1", Key: pfx, Sends: 1, BaselineSends: 1, Oldest: m0 - 60},
			{AccountSID: "AC2", Key: pfx, Sends: 1, BaselineSends: 1, Oldest: m0 - 30},
		})
		assertEqual(t, "GuardBlocks", blocks(t, s, at(-48*time.Hour)), []guardstate.Block{kept, other})
		if n, err := s.ForgetGuard(ctx, at(-time.Hour), at(-24*time.Hour)); n != 0 || err != nil {
			t.Errorf("ForgetGuard again: %d, %v", n, err)
		}
	}},
}
