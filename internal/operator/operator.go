// Package operator is the model of the operator's records: the tokens that
// sign in to the web console and call the operator API (/operator/...), the
// console's sessions, and the aggregates its pages read. A store keeps and
// counts them; what a figure means (which statuses are a failure, which
// prefix is which mobile operator, when a session has expired) is the
// console's to decide. No I/O.
package operator

import "time"

// Token is a token of the operator who runs otpgate: it signs in to
// the web console and calls the operator API (Authorization: Bearer). Only
// its hash is kept: the token itself is shown once, when it is made. A
// token made for one account (AccountSID set) sees that account only, and
// changes nothing.
type Token struct {
	ID         string // "CT" and 32 hex characters: names the token in lists, logs, the audit log and for revoking
	Name       string
	AccountSID string // "" for the operator's own token (every account); else the one account it may read
	Hash       []byte // SHA-256 of the token
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while the token works
}

// Session is a browser signed in with an operator token, kept by the
// hash of its cookie.
type Session struct {
	Hash      []byte // SHA-256 of the session cookie's value
	TokenID   string
	CreatedAt time.Time
	ExpiresAt time.Time
	// TokenName and AccountSID are the token's, as it is now (read with
	// the session; not stored with it).
	TokenName  string
	AccountSID string
}

// StatsQuery selects an account's records made in [Since, Until), counted in
// buckets of Step from Since (bucket i holds those made in
// [Since+i*Step, Since+(i+1)*Step)), grouped by the first PrefixLen
// characters of their number ("+96279" is 6).
type StatsQuery struct {
	AccountSID   string
	Since, Until time.Time
	Step         time.Duration // > 0
	PrefixLen    int           // > 0
	// Direction, for MessageStats and SenderStats, keeps messages of this
	// direction only ("outbound-api"); "" keeps all.
	Direction string
}

// MessageStat counts the messages of one bucket, connector, number prefix
// and status.
type MessageStat struct {
	Bucket    int
	Connector string // "" for messages not handed to a connector yet
	Prefix    string
	Status    string
	Count     int
	// Timed is how many of them have a send time and a final status after
	// it; DelaySum and DelayMax are over those: the final status's time
	// less the send time (for a delivered message, how long its receipt
	// took). Messages that were final before migration 0018 are not timed.
	Timed              int
	DelaySum, DelayMax time.Duration
}

// VerificationStat counts the verifications that had a code sent in one
// bucket (by their first code SMS in the query's range), of one service,
// number prefix and status.
type VerificationStat struct {
	Bucket     int
	ServiceSID string
	Prefix     string
	Status     string
	Count      int
}

// SenderStat counts the messages sent from one sender to one number prefix.
type SenderStat struct {
	From   string
	Prefix string
	Count  int
}
