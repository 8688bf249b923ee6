// Package message is the model of a message in otpgate's message log (an
// SMS, or an email of a code): its channel, its direction, its status and the order statuses move in, a message waiting in
// the outbox, and the receipts of its parts. It holds rules, not I/O: stores
// keep these records, the dispatcher and the messaging API move them.
package message

import (
	"slices"
	"time"
)

// Direction says who sent a message.
type Direction string

// Directions, as Twilio names them.
const (
	OutboundAPI Direction = "outbound-api" // sent by an app through the API (a verification SMS too)
	Inbound     Direction = "inbound"      // sent by a user to the service
)

// Channel is how a message reaches its recipient.
type Channel string

// Channels. A message of the log is an SMS unless it says otherwise.
const (
	SMS   Channel = "sms"
	Email Channel = "email"
)

// Or is c, or SMS when c is unset (a message stored before channels).
func (c Channel) Or() Channel {
	if c == "" {
		return SMS
	}
	return c
}

// Status is where a message is in its life.
type Status string

// Statuses, as Twilio names them. An outbound message starts queued and
// moves only forward: queued -> sent -> delivered, undelivered or failed; a
// queued message may be canceled (or fail without being sent). An inbound
// message is received.
const (
	Queued      Status = "queued"
	Sent        Status = "sent"
	Delivered   Status = "delivered"
	Undelivered Status = "undelivered"
	Failed      Status = "failed"
	Canceled    Status = "canceled"
	Received    Status = "received"
)

// Before returns the statuses a message may be in for it to move to s: a
// late or repeated status never overwrites a later one.
func Before(s Status) []Status {
	switch s {
	case Sent, Canceled:
		return []Status{Queued}
	case Delivered, Undelivered, Failed:
		return []Status{Queued, Sent}
	}
	return nil
}

// CanMove reports whether a message in status from may move to status to.
func CanMove(from, to Status) bool { return slices.Contains(Before(to), from) }

// Final reports whether nothing follows s.
func (s Status) Final() bool {
	switch s {
	case Delivered, Undelivered, Failed, Canceled, Received:
		return true
	}
	return false
}

// Message is one SMS in the message log. Body is what may be shown: for a
// verification SMS the code is masked (the real text is sealed in the
// outbox until it is sent).
type Message struct {
	SID             string
	AccountSID      string
	VerificationSID string // the verification a code SMS belongs to; "" for others
	Direction       Direction
	From            string
	To              string
	Body            string
	Status          Status
	Encoding        string // "GSM-7" or "UCS-2"
	Segments        int
	Connector       string // the connector that sent (or received) it
	ProviderID      string // the SMSC's ids of its parts, comma-separated
	ErrorCode       int
	ErrorMessage    string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SentAt          time.Time // zero until sent
	StatusCallback  string    // where status changes are POSTed; "" for none
	Channel         Channel   // SMS (To a number) or Email (To an address)
	Subject         string    // an email's subject; "" for an SMS
}

// Outbound is a queued message as the dispatcher handles it: where it goes,
// its real body sealed (keyring), and its delivery so far.
type Outbound struct {
	SID            string
	AccountSID     string
	From           string
	To             string // E.164
	Payload        []byte // the real body, sealed for SID
	Attempts       int    // transient failures so far
	LastError      string
	ExpiresAt      time.Time // zero: never; a code SMS is useless once its code expired
	CreatedAt      time.Time
	StatusCallback string // the message's, so a dispatcher knows whether a change is listened for
	Channel        Channel
	Subject        string // an email's subject (it holds no code)
	// LeaseUntil, when set, is how long a dispatcher holds the message: no
	// other claim takes it before then. A message stored with a lease is
	// delivered by the process that stored it (the hand-off after commit).
	LeaseUntil time.Time
	// Delivered, when set, is the outcome of a message delivered in the
	// write that stores it (the sandbox's, whose inbox is in the store):
	// the store records it there, as RecordOutcome would, and the message
	// never waits in the outbox.
	Delivered *Outcome
}

// Due is when the outbox is to take o up: when its lease ends, claimed, if
// it was stored with one, else at once.
func (o Outbound) Due() (due time.Time, claimed bool) {
	if o.LeaseUntil.IsZero() {
		return o.CreatedAt, false
	}
	return o.LeaseUntil, true
}

// Outcome is what one attempt to hand a message to a connector ended in.
type Outcome struct {
	SID        string
	Status     Status // Sent, Delivered (a connector whose send is the delivery) or Failed
	Connector  string
	ProviderID string // the SMSC's ids of the parts, as the connector gave them
	// PartKeys are, for each part in order, the keys its SMSC id may be
	// written as (dlr.IDKeys): the part is stored under the first, and a
	// receipt that came before it is looked up under each.
	PartKeys     [][]string
	ErrorCode    int
	ErrorMessage string
	At           time.Time
	// Inbox, when set, is the sandbox inbox's entry of a message the
	// sandbox delivered (sms.Inbox): kept with the outcome, in one write,
	// so the inbox shows the message exactly when it is delivered.
	Inbox *SandboxEntry
}

// Receipt is a delivery report for a sent message or one of its parts.
type Receipt struct {
	Connector    string
	MessageSID   string   // when the connector knows the message; else found by Keys
	Keys         []string // the forms the SMSC's part id may have been stored under
	Status       Status   // Delivered, Undelivered or Failed
	ErrorCode    int
	ErrorMessage string
	At           time.Time
}

// PartStatus is one part's receipt status ("" while none came).
type PartStatus struct {
	Part      int
	Status    Status
	ErrorCode int
}

// FromParts is a message's status from the receipts of its parts: the first
// part that was not delivered decides; delivered when every part was; ok is
// false while a part has had no receipt and none failed.
func FromParts(parts []PartStatus) (status Status, errorCode int, ok bool) {
	waiting := false
	for _, p := range parts {
		switch p.Status {
		case Delivered:
		case "":
			waiting = true
		default:
			return p.Status, p.ErrorCode, true
		}
	}
	if waiting || len(parts) == 0 {
		return "", 0, false
	}
	return Delivered, 0, true
}

// InboundPart is one part of a long mobile-originated message.
type InboundPart struct {
	Connector  string
	From, To   string
	Ref        int
	Total, Seq int
	Text       string
	ReceivedAt time.Time
}

// Filter selects messages of an account, newest first.
type Filter struct {
	AccountSID string
	To, From   string // exact; "" for any
	ToPrefix   string // numbers starting with it; "" for any
	Status     Status // "" for any
	// Made in [CreatedFrom, CreatedUntil) when set.
	CreatedFrom, CreatedUntil time.Time
	// Sent in [SentFrom, SentUntil) when set; a message not sent yet has no
	// send time and is left out by either.
	SentFrom, SentUntil time.Time
	// Cursor pages through the listing (newest first by CreatedAt, then
	// SID): After gives the messages older than the cursor, Before the
	// newer ones (still listed newest first).
	Cursor *Cursor
	Limit  int // at most this many; 0 means 50
}

// Cursor is a position in a message listing: a message's CreatedAt and SID.
type Cursor struct {
	CreatedAt time.Time
	SID       string
	Before    bool // newer than the position; else older
}

// SandboxEntry is a message as the sandbox connector delivered it: kept with
// its real body, so a developer can read the code.
type SandboxEntry struct {
	SID        string
	AccountSID string
	From       string
	To         string
	Body       string
	Segments   int
	Encoding   string
	CreatedAt  time.Time
	Channel    Channel
	Subject    string // an email's subject
}
