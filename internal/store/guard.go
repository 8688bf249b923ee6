package store

import "time"

// The SMS-pumping guard's shared state (package guard): counts of codes
// sent and approved per account and key, per minute, added to by every
// node; the blocks it decided; each account's safe list.

// GuardCount is what one node adds to a key's count for one minute.
type GuardCount struct {
	AccountSID string
	Key        string // "prefix:+96279032", "operator:JO:Zain", "country:JO"
	Minute     int64  // Unix minutes
	Sends      int
	Approvals  int
}

// GuardTotal is a key's counts over the guard's windows, all nodes
// together.
type GuardTotal struct {
	AccountSID    string
	Key           string
	Sends         int   // in the short window
	Approvals     int   // in the short window
	BaselineSends int   // in the baseline window (which includes the short one)
	Oldest        int64 // the Unix minute of its oldest count in the baseline window
}

// GuardBlock is a key the guard blocked.
type GuardBlock struct {
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
