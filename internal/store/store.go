// Package store declares what otpgate needs from a database: records, and the
// atomic operations the domain builds on. The rules (when a code is spent,
// how many attempts are allowed) live in the domain packages; a store only
// keeps records and makes groups of writes atomic and durable. Every backend
// passes the conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a looked-up record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by a store that has been closed or is shutting down.
var ErrClosed = errors.New("store: closed")

// Account is an API account; TokenHash is SHA-256 of the auth token.
type Account struct {
	SID         string
	Name        string
	TokenHash   []byte
	TokenSealed []byte // the token sealed under the server secret, for signing callbacks
	SMSURL      string // where inbound SMS are POSTed; "" for none
	CreatedAt   time.Time
}

// Service is an app's verification service with its own settings.
type Service struct {
	SID        string
	AccountSID string
	Name       string
	CodeLength int
	TTL        time.Duration
	CreatedAt  time.Time
	EventsURL  string // where verification events are POSTed as JSON; "" for none
}

// Verification statuses.
const (
	StatusPending     = "pending"
	StatusApproved    = "approved"
	StatusMaxAttempts = "max_attempts_reached"
	StatusExpired     = "expired"
	StatusCanceled    = "canceled"
)

// Code is one code sent for a verification: its HMAC and when it stops being valid.
type Code struct {
	Hash      []byte // 32 bytes
	ExpiresAt time.Time
}

// Verification is one attempt to verify a phone number for a service.
type Verification struct {
	SID           string
	AccountSID    string
	ServiceSID    string
	To            string // E.164
	From          string
	Channel       string
	Status        string
	Codes         []Code
	SendAttempts  int
	CheckAttempts int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ExpiresAt     time.Time
}

// Message statuses for outbound messages.
const (
	MsgQueued      = "queued"
	MsgSent        = "sent"
	MsgDelivered   = "delivered"
	MsgUndelivered = "undelivered"
	MsgFailed      = "failed"
)

// Message is one SMS in the message log. Body is what may be shown: for a
// verification SMS the code is masked.
type Message struct {
	SID             string
	AccountSID      string
	VerificationSID string
	Direction       string // "outbound-api" or "inbound"
	From            string
	To              string
	Body            string
	Status          string
	Encoding        string
	Segments        int
	Connector       string
	ProviderID      string
	ErrorCode       int
	ErrorMessage    string
	CreatedAt       time.Time
	UpdatedAt       time.Time
	SentAt          time.Time // zero until sent
	StatusCallback  string    // URL that status changes are POSTed to; "" for none
}

// MessageFilter selects messages for Store.Messages.
type MessageFilter struct {
	AccountSID string
	Direction  string // "" for both
	To, From   string // exact; "" for any
	Status     string // "" for any
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

// Transition is what AdvanceMessage did.
type Transition struct {
	Changed bool    // the status changed
	Message Message // the message after the update
}

// Callback is a status callback waiting to be POSTed.
type Callback struct {
	SID           string // "CB..." time-ordered
	MessageSID    string
	AccountSID    string
	URL           string
	Params        string // the body: form-encoded, or JSON when ContentType is "json"
	ContentType   string // "" (form) or "json"
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// CallbackAttempt is the result of one POST of a callback.
type CallbackAttempt struct {
	CallbackSID string
	Attempt     int
	MessageSID  string
	URL         string
	At          time.Time
	StatusCode  int // 0: no HTTP answer
	Error       string
	Duration    time.Duration
}

// MessageUpdate is a status change of a message; see Tx.AdvanceMessage.
type MessageUpdate struct {
	SID          string
	Status       string
	From         []string // statuses the message may be in for Status to apply
	Connector    string   // "" keeps the current one
	ProviderID   string   // "" keeps the current one
	ErrorCode    int
	ErrorMessage string
	SentAt       time.Time // zero keeps the current one
	UpdatedAt    time.Time
	// Dequeue also takes the message out of the outbox (it was sent or
	// failed for good); ErrNotFound when it is not in it (deleted or
	// canceled meanwhile).
	Dequeue bool
	// Quiet: the caller knows no one listens for this message's status
	// changes (it has no StatusCallback); the store may then skip working
	// out the Transition, whose Changed is false.
	Quiet bool
}

// OutboxItem is a message waiting to be handed to a connector. Payload is the
// sealed (encrypted) real body: the message log keeps only the masked one.
type OutboxItem struct {
	MessageSID    string
	AccountSID    string
	From          string
	To            string
	Payload       []byte
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	ExpiresAt     time.Time // zero: never; a verification SMS is useless after its code expires
	CreatedAt     time.Time
	// Claimed, on Enqueue, stores the item already claimed, its lease running
	// until NextAttemptAt: the process that enqueued it delivers it itself.
	Claimed bool
	// Quiet: the message has no StatusCallback (see MessageUpdate.Quiet).
	Quiet bool
}

// SandboxMessage is a message delivered by the sandbox connector, kept with
// its real body so a developer can read the code.
type SandboxMessage struct {
	SID        string
	AccountSID string
	From       string
	To         string
	Body       string
	Segments   int
	Encoding   string
	CreatedAt  time.Time
}

// Tx is a unit of work. Its methods must be called only from the function
// passed to Store.Update, and only during that call.
type Tx interface {
	Service(accountSID, name string) (Service, error)
	InsertService(s Service) error
	// SetServiceEventsURL sets where a service's verification events go.
	SetServiceEventsURL(serviceSID, url string) error
	// SetServiceCodes sets a service's code length and lifetime (for codes sent from now on).
	SetServiceCodes(serviceSID string, codeLength int, ttl time.Duration) error
	// DueExpirations returns up to limit pending verifications whose last
	// code expired after since and at or before now, earliest first.
	DueExpirations(since, now time.Time, limit int) ([]Verification, error)
	// RecordCheck stores v's status, check attempts and update time only
	// (cheaper than UpdateVerification when codes and expiry are unchanged).
	RecordCheck(v Verification) error
	// ServiceBySID returns a service.
	ServiceBySID(sid string) (Service, error)

	// LatestVerification returns the newest verification for the account,
	// service and number, whatever its status: the latest CreatedAt, and of
	// equal ones the greatest SID (otpgate.NewSID counts up).
	LatestVerification(accountSID, serviceSID, to string) (Verification, error)
	InsertVerification(v Verification) error
	// UpdateVerification stores v's status, codes, counters, times and sender.
	UpdateVerification(v Verification) error

	InsertMessage(m Message) error
	Message(sid string) (Message, error)
	// Account returns an account (for its settings, inside a unit of work).
	Account(sid string) (Account, error)
	// RedactMessage empties a message's body.
	RedactMessage(sid string, at time.Time) error
	// DeleteMessage removes a message, and its outbox item if any.
	DeleteMessage(sid string) error
	// AdvanceMessage applies u to its message. The status (with the error
	// code and message) changes only if the message's current status is one
	// of u.From; connector, provider id and sent time are set when given.
	// It returns whether the status changed, with the message as it is now.
	// An unknown SID is ErrNotFound.
	AdvanceMessage(u MessageUpdate) (Transition, error)

	// EnqueueCallback stores a status callback to deliver.
	EnqueueCallback(c Callback) error
	// FinishCallback records an attempt and removes the callback (delivered,
	// or given up).
	FinishCallback(c Callback, a CallbackAttempt) error
	// RetryCallback records an attempt and makes the callback due again at next.
	RetryCallback(c Callback, a CallbackAttempt, next time.Time) error

	// Enqueue puts an existing message in the outbox (ErrNotFound when the
	// message does not exist).
	Enqueue(item OutboxItem) error
	// InsertQueuedMessage inserts a message already in the outbox: InsertMessage
	// and Enqueue in one write.
	InsertQueuedMessage(m Message, item OutboxItem) error
	// DeleteOutbox removes a message from the outbox (it was sent or failed for good).
	DeleteOutbox(messageSID string) error
	// CancelOutbox removes a message from the outbox if no dispatcher holds
	// it; ErrNotFound when it is not there or is being sent.
	CancelOutbox(messageSID string) error
	// RescheduleOutbox releases the claim on an item and sets when it is next due.
	RescheduleOutbox(messageSID string, attempts int, next time.Time, lastError string) error

	InsertSandboxMessage(m SandboxMessage) error

	// InsertMessageParts records the SMSC's ids of a message's parts, in
	// order (part 1 first), under the connector that sent them.
	InsertMessageParts(messageSID, connector string, smscIDs []string) error
	// PartReceipt records a receipt's status on the part whose id is one of
	// keys (the forms an id may take) and returns the message's SID with the
	// status of every part. ErrNotFound when no part has any of the keys.
	PartReceipt(connector string, keys []string, status string, errorCode int) (messageSID string, parts []PartStatus, err error)
	// InsertOrphanReceipt keeps a receipt whose id no part has (yet).
	InsertOrphanReceipt(r OrphanReceipt) error
	// TakeOrphanReceipts removes and returns the orphan receipts with any of keys.
	TakeOrphanReceipts(connector string, keys []string) ([]OrphanReceipt, error)

	// AddInboundPart keeps one part of a long inbound message (a part seen
	// before is kept once) and returns every part kept for the same message
	// (connector, from, to, ref, total), in order.
	AddInboundPart(p InboundPart) ([]InboundPart, error)
	// DeleteInboundParts removes the parts of one message.
	DeleteInboundParts(p InboundPart) error
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

// PartStatus is one part's receipt status ("" while none came).
type PartStatus struct {
	Part      int
	Status    string
	ErrorCode int
}

// OrphanReceipt is a receipt kept until its message is known.
type OrphanReceipt struct {
	Connector    string
	SMSCID       string
	Status       string
	ErrorCode    int
	ErrorMessage string
	ReceivedAt   time.Time
}

// Store is a database behind otpgate.
type Store interface {
	// Update runs fn in a transaction. If fn returns an error, nothing it
	// wrote is kept and Update returns that error. If Update returns nil,
	// everything fn wrote is durable (it survives a crash of the process or
	// the machine). fn may run on another goroutine and must not block. fn
	// may run more than once (a backend may retry a transaction), so it must
	// do nothing but call Tx methods and set its own results, afresh on each run.
	Update(ctx context.Context, fn func(Tx) error) error

	Account(ctx context.Context, sid string) (Account, error)
	Accounts(ctx context.Context) ([]Account, error)
	// AccountsVersion changes whenever an account is added or removed.
	AccountsVersion(ctx context.Context) (int64, error)
	InsertAccount(ctx context.Context, a Account) error
	// SetAccountSMSURL sets where the account's inbound SMS are POSTed.
	SetAccountSMSURL(ctx context.Context, sid, url string) error

	// ClaimOutbox takes up to limit items due at now, oldest due first, and
	// leases them until leaseUntil: no other claim returns them before then
	// unless they are rescheduled. Items of a crashed claimer come back once
	// the lease runs out.
	ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]OutboxItem, error)
	// ReleaseLeases makes every claimed item due again (for start-up, when no
	// other dispatcher shares the store).
	ReleaseLeases(ctx context.Context) (int, error)
	// NextDue returns when the earliest unclaimed item is due, or ErrNotFound.
	NextDue(ctx context.Context) (time.Time, error)

	Message(ctx context.Context, accountSID, sid string) (Message, error)
	// ClaimCallbacks leases up to limit due callbacks, each the oldest
	// pending one of its message (callbacks of a message go in order).
	ClaimCallbacks(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Callback, error)
	// CallbackAttempts lists the attempts made for a message's callbacks, oldest first.
	CallbackAttempts(ctx context.Context, messageSID string) ([]CallbackAttempt, error)
	// AccountTokenSealed returns the account's sealed auth token (nil if none was kept).
	AccountTokenSealed(ctx context.Context, sid string) ([]byte, error)
	// Messages lists an account's messages ("" for inbound ones not yet
	// assigned to an account), newest first.
	Messages(ctx context.Context, f MessageFilter) ([]Message, error)
	// SandboxMessages lists the account's sandbox messages to a number,
	// newest first (by CreatedAt, then SID).
	SandboxMessages(ctx context.Context, accountSID, to string, limit int) ([]SandboxMessage, error)

	Close() error
}
