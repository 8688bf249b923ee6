package audit

import "time"

// Row is one row of the audit log: a change to who may do what (a
// token, an account's ceilings or countries, a safe list, a guard block, a
// service, an account's state), or an attempt at one that was refused. A
// store keeps and lists them; this package says what they hold.
type Row struct {
	ID         string    // "AU" and 32 hex characters
	At         time.Time // when
	AccountSID string    // the account it is about; "" for none (an operator token of the operator's own)
	// Actor is who: "account:AC...", "operator:CT...", "cli", "guard".
	Actor     string
	ActorName string // the operator token's name, the OS user of the command line, ...
	Kind      string // token, policy, countries, safe_list, block, service, account
	Action    string // set, add, remove, lift, block, create, rotate, ...
	Target    string // what was changed: a number, a block's key, a service SID, a token ID
	Before    string // JSON, or "" for none
	After     string // JSON, or "" for none
	Outcome   string // "done" or "refused"
	Detail    string // why it was refused
	RequestID string // the API request's id ("" from the command line)
}

// Filter selects audit entries, newest first (by At, then ID).
type Filter struct {
	AccountSID string // "" for every account
	Kind       string // "" for every kind
	// Before, when set, keeps the entries older than it (the next page):
	// At before Before.At, or At equal and ID below Before.ID.
	Before *Cursor
	Limit  int // > 0
}

// Cursor is where a page of the audit log ended.
type Cursor struct {
	At time.Time
	ID string
}
