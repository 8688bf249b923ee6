// Package ratelimit is the arithmetic of the send rate limits: a key's
// counts kept as slots of a window, what a send takes from them and when a
// refused send may go again. It does no I/O: a store keeps the slots and
// counts a send's limits in the send's own transaction.
package ratelimit

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Slots is how many slots a Limit's window is counted in: a limit of N
// per hour counts sends per minute, and allows N in any 59 to 60 minutes.
const Slots = 60

// Limit caps the sends made under one key: at most Max in any Window,
// counted in Slots slots. A store checks and counts a send's limits in
// the send's own transaction (pipeline.Store.InsertSend): atomically, across
// nodes, and durably.
type Limit struct {
	Key    string // what is counted, e.g. "n:AC...:+962790320012"
	Max    int    // > 0
	Window time.Duration
}

// Error is a send refused by a Limit; nothing was written.
type Error struct {
	Limit   Limit
	RetryAt time.Time // when a send under the key would be allowed again
}

func (e *Error) Error() string {
	return fmt.Sprintf("store: limit of %d per %s reached for %s until %s", e.Limit.Max, e.Limit.Window, e.Limit.Key, e.RetryAt.Format(time.RFC3339))
}

// step is the length of one slot.
func (l Limit) step() int64 { return max(int64(l.Window)/Slots, 1) }

// slotBytes is one slot as stored: its index (time / step), big-endian, and
// its count.
const slotBytes = 12

// Take counts a send at now against the key's slots as stored (nil for a key
// not seen yet). It returns the slots to store and when they can be
// forgotten, or, when the limit is reached, ok false and when a send would be
// allowed again. Slots older than the window are dropped.
func (l Limit) Take(slots []byte, now time.Time) (next []byte, forgetAt time.Time, retryAt time.Time, ok bool) {
	step := l.step()
	cur := now.UnixNano() / step
	first := cur - Slots + 1 // the oldest slot still in the window
	type slot struct {
		idx   int64
		count uint32
	}
	var live []slot
	total := 0
	for len(slots) >= slotBytes {
		s := slot{int64(binary.BigEndian.Uint64(slots)), binary.BigEndian.Uint32(slots[8:])}
		slots = slots[slotBytes:]
		if s.idx >= first { // a slot ahead of now (another node's clock) counts too

			live = append(live, s)
			total += int(s.count)
		}
	}
	if total >= l.Max {
		// Allowed again once enough of the oldest slots left the window.
		over := total - l.Max + 1
		for _, s := range live {
			over -= int(s.count)
			if over <= 0 {
				return nil, time.Time{}, time.Unix(0, (s.idx+Slots)*step), false
			}
		}
	}
	if n := len(live); n > 0 && live[n-1].idx >= cur {
		live[n-1].count++
		cur = live[n-1].idx
	} else {
		live = append(live, slot{cur, 1})
	}
	next = make([]byte, 0, len(live)*slotBytes)
	for _, s := range live {
		next = binary.BigEndian.AppendUint64(next, uint64(s.idx))
		next = binary.BigEndian.AppendUint32(next, s.count)
	}
	return next, time.Unix(0, (cur+Slots)*step), time.Time{}, true
}

// Taken is a key's slots after a send was counted, for the store to write.
type Taken struct {
	Key      string
	Slots    []byte
	ForgetAt time.Time
}

// TakeAll counts a send at now against each limit, reading a key's
// stored slots with read (nil for none), in the order of the keys (a store
// that locks them takes the locks in this order). It returns what to write,
// or the *Error of the first limit reached; a key given twice is
// counted twice.
func TakeAll(limits []Limit, now time.Time, read func(key string) ([]byte, error)) ([]Taken, error) {
	if len(limits) == 0 {
		return nil, nil
	}
	sorted := Sort(limits)
	out := make([]Taken, 0, len(sorted))
	for _, l := range sorted {
		var slots []byte
		if n := len(out); n > 0 && out[n-1].Key == l.Key {
			slots = out[n-1].Slots
		} else {
			var err error
			if slots, err = read(l.Key); err != nil {
				return nil, err
			}
		}
		next, forget, retry, ok := l.Take(slots, now)
		if !ok {
			return nil, &Error{Limit: l, RetryAt: retry}
		}
		if n := len(out); n > 0 && out[n-1].Key == l.Key {
			out[n-1].Slots, out[n-1].ForgetAt = next, maxTime(out[n-1].ForgetAt, forget)
		} else {
			out = append(out, Taken{Key: l.Key, Slots: next, ForgetAt: forget})
		}
	}
	return out, nil
}

// Sort returns the limits ordered by key (a copy).
func Sort(limits []Limit) []Limit {
	sorted := slices.Clone(limits)
	slices.SortStableFunc(sorted, func(a, b Limit) int { return strings.Compare(a.Key, b.Key) })
	return sorted
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
