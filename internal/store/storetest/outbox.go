package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/store"
)

// mustEnqueue enqueues one item due at each time, with distinct attempts,
// errors and expiries. Their SIDs sort opposite to insertion order, so an
// order by SID or by insertion is not mistaken for one by due time.
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
	MustUpdate(t, s, func(tx store.Tx) error { return each(items, queue(tx)) })
	return items
}

// queue returns a function that stores an item's message, then enqueues it
// (a message must exist to be enqueued); every other item goes through
// InsertQueuedMessage, which does both in one.
func queue(tx store.Tx) func(store.OutboxItem) error {
	n := 0
	return func(it store.OutboxItem) error {
		n++
		m := newMessage(it.AccountSID, it.MessageSID)
		if n%2 == 0 {
			return tx.InsertQueuedMessage(m, it)
		}
		if err := tx.InsertMessage(m); err != nil {
			return err
		}
		return tx.Enqueue(it)
	}
}

// enqueueMixed enqueues items due at -1m, -3m, now, -2m, now+1ns and now+1h
// and returns the due ones, oldest first.
func enqueueMixed(t *testing.T, s store.Store) []store.OutboxItem {
	t.Helper()
	all := mustEnqueue(t, s, at(-time.Minute), at(-3*time.Minute), at(0), at(-2*time.Minute), at(time.Nanosecond), at(time.Hour))
	return []store.OutboxItem{all[1], all[3], all[0], all[2]}
}

// assertClaimed checks that got are want's items in want's order, intact
// except for NextAttemptAt, which a claim may set to the lease.
func assertClaimed(t *testing.T, what string, got, want []store.OutboxItem) {
	t.Helper()
	if !slices.Equal(sids(got), sids(want)) {
		t.Errorf("%s claimed %v, want %v", what, sids(got), sids(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		g.NextAttemptAt, w.NextAttemptAt = time.Time{}, time.Time{}
		assertEqual(t, what+" item "+g.MessageSID, g, w)
	}
}

func bySID(items []store.OutboxItem) []store.OutboxItem {
	items = slices.Clone(items)
	slices.SortFunc(items, func(a, b store.OutboxItem) int { return cmp.Compare(a.MessageSID, b.MessageSID) })
	return items
}

// claimDueTests claims with each limit from a fresh store.
func claimDueTests(limits ...int) []testCase {
	var out []testCase
	for _, limit := range limits {
		out = append(out, testCase{fmt.Sprintf("ClaimTakesOldestDue_limit%d", limit), func(t *testing.T, s store.Store) {
			due := enqueueMixed(t, s)
			// Which items are taken; the order they come back in is ClaimReturnsOldestDueFirst's.
			got := mustClaim(t, s, at(0), at(time.Minute), limit)
			assertClaimed(t, fmt.Sprintf("ClaimOutbox(limit %d)", limit), bySID(got), bySID(due[:min(limit, len(due))]))
		}})
	}
	return out
}

var outboxTests = append(claimDueTests(1, 3, 4, 10), []testCase{
	{"CancelOutboxLeavesClaimedItems", func(t *testing.T, s store.Store) {
		items := mustEnqueue(t, s, at(-time.Minute), at(time.Hour))
		claimed := mustClaim(t, s, at(0), at(time.Minute), 10)
		if len(claimed) != 1 || claimed[0].MessageSID != items[0].MessageSID {
			t.Fatalf("claimed %v, want %s", sids(claimed), items[0].MessageSID)
		}
		err := s.Update(ctx, func(tx store.Tx) error { return tx.CancelOutbox(items[0].MessageSID) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CancelOutbox of a claimed item = %v, want ErrNotFound", err)
		}
		MustUpdate(t, s, func(tx store.Tx) error { return tx.CancelOutbox(items[1].MessageSID) })
		if got := mustClaim(t, s, at(2*time.Hour), at(3*time.Hour), 10); len(got) != 1 || got[0].MessageSID != items[0].MessageSID {
			t.Fatalf("after canceling %s: claimable %v, want only %s", items[1].MessageSID, sids(got), items[0].MessageSID)
		}
	}},
	{"EnqueueNeedsTheMessage", func(t *testing.T, s store.Store) {
		err := s.Update(ctx, func(tx store.Tx) error { return tx.Enqueue(newOutboxItem("AC1", "SM404", at(0))) })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Enqueue without its message = %v, want ErrNotFound", err)
		}
	}},
	{"DequeueWithTheStatus", func(t *testing.T, s store.Store) {
		items := mustEnqueue(t, s, at(0))
		MustUpdate(t, s, func(tx store.Tx) error {
			_, err := tx.AdvanceMessage(store.MessageUpdate{SID: items[0].MessageSID, Status: store.MsgSent, From: []string{store.MsgQueued}, UpdatedAt: at(0), Dequeue: true})
			return err
		})
		if got := mustClaim(t, s, at(time.Hour), at(2*time.Hour), 10); len(got) != 0 {
			t.Fatalf("a dequeued message was claimed: %v", sids(got))
		}
		for _, quiet := range []bool{false, true} {
			err := s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.AdvanceMessage(store.MessageUpdate{SID: items[0].MessageSID, Status: store.MsgDelivered, From: []string{store.MsgSent}, UpdatedAt: at(0), Dequeue: true, Quiet: quiet})
				return err
			})
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Dequeue of a message not in the outbox (quiet %v) = %v, want ErrNotFound", quiet, err)
			}
		}
		m, err := s.Message(ctx, "AC1", items[0].MessageSID)
		if err != nil || m.Status != store.MsgSent {
			t.Fatalf("message after a refused dequeue: %+v, %v; want still sent", m, err)
		}
	}},
	{"EnqueuedClaimedIsLeased", func(t *testing.T, s store.Store) {
		it := newOutboxItem("AC1", "SM1", at(2*time.Minute)) // claimed until then
		it.Claimed = true
		MustUpdate(t, s, func(tx store.Tx) error { return queue(tx)(it) })
		if got := mustClaim(t, s, at(time.Minute), at(10*time.Minute), 10); len(got) != 0 {
			t.Fatalf("an item enqueued claimed was claimed again during its lease: %v", sids(got))
		}
		n, err := s.ReleaseLeases(ctx)
		if err != nil || n != 1 {
			t.Fatalf("ReleaseLeases = %d, %v; want the enqueued claim released", n, err)
		}
		if got := mustClaim(t, s, at(time.Minute), at(10*time.Minute), 10); len(got) != 1 {
			t.Fatalf("after ReleaseLeases: claimed %v, want SM1", sids(got))
		}
	}},
	{"ClaimReturnsOldestDueFirst", func(t *testing.T, s store.Store) {
		due := enqueueMixed(t, s)
		assertClaimed(t, "ClaimOutbox", mustClaim(t, s, at(0), at(time.Minute), 10), due)
	}},
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
		// Due again at next, long before the old lease ends.
		assertClaimed(t, "claim at the new due time", mustClaim(t, s, next, at(time.Hour), 10), []store.OutboxItem{want})
		wantUpdateNotFound(t, s, "RescheduleOutbox(SM000)", func(tx store.Tx) error { return tx.RescheduleOutbox("SM000", 1, next, "x") })
	}},
	{"Delete", func(t *testing.T, s store.Store) {
		items := mustEnqueue(t, s, at(0), at(time.Second))
		mustClaim(t, s, at(0), at(time.Minute), 1)
		MustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteOutbox(items[0].MessageSID) })
		wantUpdateNotFound(t, s, "second DeleteOutbox", func(tx store.Tx) error { return tx.DeleteOutbox(items[0].MessageSID) })
		assertClaimed(t, "claim after delete", mustClaim(t, s, at(time.Hour), at(2*time.Hour), 10), items[1:])
		MustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteOutbox(items[1].MessageSID) })
		if _, err := s.NextDue(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("NextDue with an empty outbox = %v, want store.ErrNotFound", err)
		}
	}},
	{"ReleaseLeases", func(t *testing.T, s store.Store) {
		now := at(0)
		items := mustEnqueue(t, s, at(-5*time.Second), at(-4*time.Second), at(-3*time.Second), at(-2*time.Second), at(time.Hour))
		if claimed := mustClaim(t, s, now, at(time.Hour), 3); len(claimed) != 3 {
			t.Fatalf("claimed %d items, want 3", len(claimed))
		}
		if n, err := s.ReleaseLeases(ctx); err != nil || n != 3 {
			t.Fatalf("ReleaseLeases = %d, %v; want 3, nil", n, err)
		}
		// Released items are due at once: the same now claims them again.
		got := mustClaim(t, s, now, at(time.Hour), 10)
		assertClaimed(t, "claim after ReleaseLeases", bySID(got), bySID(items[:4]))
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
		for _, want := range []time.Time{at(time.Minute + 1), at(3 * time.Minute)} {
			got, err := s.NextDue(ctx)
			check(t, "NextDue", err)
			assertEqual(t, "NextDue", got, want)
			MustUpdate(t, s, func(tx store.Tx) error { return tx.DeleteOutbox(items[1].MessageSID) })
			items = slices.Delete(items, 1, 2)
		}
	}},
	{"ConcurrentClaimersShareNothing", func(t *testing.T, s store.Store) {
		const n, claimers, batch = 500, 20, 7
		items := make([]store.OutboxItem, n)
		for i := range items {
			items[i] = newOutboxItem("AC1", fmt.Sprintf("SM%04d", i), at(-time.Duration(i)*time.Millisecond))
		}
		MustUpdate(t, s, func(tx store.Tx) error { return each(items, queue(tx)) })
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range claimers {
			wg.Go(func() {
				for {
					items, err := s.ClaimOutbox(ctx, at(0), at(time.Hour), batch)
					if err != nil || len(items) > batch {
						t.Errorf("ClaimOutbox(limit %d) = %d items, %v", batch, len(items), err)
					}
					if err != nil || len(items) == 0 {
						return
					}
					mu.Lock()
					got = append(got, sids(items)...)
					stop := len(got) > n // items come back: the test fails below
					mu.Unlock()
					if stop {
						return
					}
				}
			})
		}
		wg.Wait()
		slices.Sort(got)
		if want := sids(items); !slices.Equal(got, want) {
			t.Errorf("claimers got %d items (%d distinct), want each of %d once", len(got), len(slices.Compact(got)), n)
		}
	}},
}...)
