package ratelimit

import (
	"testing"
	"time"
)

// A limit of 3 per hour: three sends pass, the fourth is refused until the
// first one's minute leaves the window; sends an hour apart never add up.
func TestLimitTake(t *testing.T) {
	l := Limit{Key: "k", Max: 3, Window: time.Hour}
	t0 := time.Date(2026, 11, 30, 12, 0, 30, 0, time.UTC)
	var slots []byte
	take := func(at time.Time) (time.Time, bool) {
		t.Helper()
		next, _, retry, ok := l.Take(slots, at)
		if ok {
			slots = next
		}
		return retry, ok
	}
	for i, at := range []time.Time{t0, t0.Add(10 * time.Minute), t0.Add(10 * time.Minute)} {
		if _, ok := take(at); !ok {
			t.Fatalf("send %d refused", i+1)
		}
	}
	retry, ok := take(t0.Add(20 * time.Minute))
	// The first send's slot is 12:00-12:01; it leaves the window at 13:00.
	if want := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC); ok || !retry.Equal(want) {
		t.Fatalf("the 4th send: ok %v, retry %v; want refused until %v", ok, retry, want)
	}
	if _, ok := take(time.Date(2026, 11, 30, 12, 59, 59, 0, time.UTC)); ok {
		t.Fatal("the 4th send a second before its retry time was allowed")
	}
	if _, ok := take(time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)); !ok {
		t.Fatal("the 4th send at its retry time was refused")
	}
	// Now 12:10 (2 sends) and 13:00 (1) are in the window: full until the
	// 12:10-12:11 slot leaves it, at 13:10.
	retry, ok = take(time.Date(2026, 11, 30, 13, 5, 0, 0, time.UTC))
	if want := time.Date(2026, 11, 30, 13, 10, 0, 0, time.UTC); ok || !retry.Equal(want) {
		t.Fatalf("at 13:05: ok %v, retry %v; want refused until %v", ok, retry, want)
	}
	if _, ok := take(t0.Add(3 * time.Hour)); !ok || len(slots) != slotBytes {
		t.Fatalf("hours later: ok %v, %d bytes of slots; want allowed, one slot left", ok, len(slots))
	}
}

// A slot written by a node whose clock is ahead still counts.
func TestLimitClockAhead(t *testing.T) {
	l := Limit{Key: "k", Max: 2, Window: time.Minute}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	a, _, _, _ := l.Take(nil, now.Add(2*time.Second))
	b, _, _, ok := l.Take(a, now)
	if !ok {
		t.Fatal("second send refused")
	}
	if _, _, _, ok := l.Take(b, now); ok {
		t.Fatal("a third send within the minute was allowed: the slot from the node ahead was lost")
	}
}

// Garbage in the stored slots never panics and never allows more than Max.
func FuzzLimitTake(f *testing.F) {
	f.Add([]byte{}, int64(0), uint8(3))
	f.Add(make([]byte, 25), int64(1e18), uint8(1))
	f.Fuzz(func(t *testing.T, slots []byte, at int64, max uint8) {
		l := Limit{Key: "k", Max: int(max%20) + 1, Window: time.Minute}
		now := time.Unix(0, at)
		allowed := 0
		for range 30 {
			next, _, _, ok := l.Take(slots, now)
			if !ok {
				break
			}
			slots = next
			allowed++
		}
		if allowed > l.Max {
			t.Fatalf("%d sends allowed at one instant under a limit of %d", allowed, l.Max)
		}
	})
}
