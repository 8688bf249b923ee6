// Package guardstate is the abuse guard's shared state as the stores keep
// it: per-minute counts of codes sent and approved per account and key,
// their totals over the guard's windows, the blocks the guard decided, and
// the cap of an account's safe list. It holds no rule of the guard's
// (package guard decides) and does no I/O.
package guardstate

import (
	"slices"
	"time"
)

// Count is what one node adds to a key's count for one minute.
type Count struct {
	AccountSID string
	Key        string // "prefix:+96279032", "operator:JO:Zain", "country:JO"
	Minute     int64  // Unix minutes
	Sends      int
	Approvals  int
}

// Total is a key's counts over the guard's windows, all nodes
// together.
type Total struct {
	AccountSID    string
	Key           string
	Sends         int   // in the short window
	Approvals     int   // in the short window
	BaselineSends int   // in the baseline window (which includes the short one)
	Oldest        int64 // the Unix minute of its oldest count in the baseline window
}

// Block is a key the guard blocked.
type Block struct {
	AccountSID string
	Key        string
	Level      int // 1 for a first block, +1 for each block within a day of the last
	Since      time.Time
	Until      time.Time // when it ends; a lifted block ends when it was lifted
	Lifted     bool
	Sends      int // the figures behind it: sends and approvals in Window
	Approvals  int
	Window     time.Duration
	Reason     string
}

// SafeListFull reports whether changing a safe list that holds have (adding
// add, then removing remove, as a store applies them) would take it past
// max: it adds an entry not there before and then holds more than max. An
// entry already there is not an addition, and a change that only removes is
// never refused (a list already past a lowered cap can shrink). max 0 is no
// cap. The stores call it under their lock of the account's list, so that
// two changes at once cannot both pass.
func SafeListFull(have, add, remove []string, max int) bool {
	if max <= 0 {
		return false
	}
	list := make(map[string]bool, len(have)+len(add))
	for _, e := range have {
		list[e] = true
	}
	added := false
	for _, e := range add {
		if !list[e] && !slices.Contains(remove, e) {
			added = true
		}
		list[e] = true
	}
	for _, e := range remove {
		delete(list, e)
	}
	return added && len(list) > max
}
