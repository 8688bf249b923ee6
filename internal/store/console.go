package store

import "time"

// The web console's records (package console): operator tokens and the
// sessions signed in with them, and the aggregates and searches its pages
// read. A store keeps and counts; what a figure means (which statuses are a
// failure, which prefix is which operator, when a session has expired) is
// the console's to decide.

// ConsoleToken is an operator token of the web console. Only its hash is
// kept: the token itself is shown once, when it is made.
type ConsoleToken struct {
	ID        string // "CT" and 32 hex characters: names the token in lists and for revoking
	Name      string
	Hash      []byte // SHA-256 of the token
	CreatedAt time.Time
	RevokedAt time.Time // zero while the token works
}

// ConsoleSession is a browser signed in with a console token, kept by the
// hash of its cookie.
type ConsoleSession struct {
	Hash      []byte // SHA-256 of the session cookie's value
	TokenID   string
	CreatedAt time.Time
	ExpiresAt time.Time
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
