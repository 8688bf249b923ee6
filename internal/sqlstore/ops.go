package sqlstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// The steps of the writes that are the same in both stores: which rows to
// read, keep and write, in what order, and what the op returns. A store
// runs them in its own transaction T, whose methods (the interfaces below)
// are its SQL.

// Submit runs fn as one op of a store's group-commit writer, with prio; a
// writer may run fn more than once (a failed group is run again), so fn
// starts afresh each time.
type Submit[T any] func(ctx context.Context, prio Priority, fn func(T) error) error

// One runs fn as one op and returns what its last run made.
func One[T, R any](ctx context.Context, submit Submit[T], prio Priority, fn func(T) (R, error)) (R, error) {
	var out R
	err := submit(ctx, prio, func(t T) error {
		var err error
		out, err = fn(t)
		return err
	})
	return out, err
}

// CallbackWriter stores callbacks in the op's transaction.
type CallbackWriter interface {
	InsertCallbacks(cbs []callback.Callback) error
}

// CheckWriter is what CountCheck writes with.
type CheckWriter interface {
	CallbackWriter
	// LatestVerification reads the newest verification of key (locked
	// where the dialect locks rows); store.ErrNotFound when there is none.
	LatestVerification(key verification.Key) (verification.Verification, error)
	// CountCheck adds a check to the pending verification sid if it has
	// had fewer than max; the rows it changed.
	CountCheck(sid string, max int, now time.Time) (int64, error)
	// SetVerificationStatus sets the verification's status.
	SetVerificationStatus(sid string, status verification.Status, now time.Time) error
}

// LatestCounter is a CheckWriter that counts the usual check in one
// statement: on PostgreSQL one round trip, not two. (On SQLite the UPDATE
// ... RETURNING cost as much as the read and the update apart.)
type LatestCounter interface {
	// CountLatest adds a check to the newest verification of key if it is
	// live at now, pending, and has had fewer than max, and returns it as
	// it is after the count (locked where the dialect locks rows);
	// store.ErrNotFound, having changed nothing, otherwise.
	CountLatest(key verification.Key, max int, now time.Time) (verification.Verification, error)
}

// CountCheck counts a check of key's latest verification and stores what
// judge decides; see verify.Store.
func CountCheck[T CheckWriter](ctx context.Context, submit Submit[T], key verification.Key, max int, now time.Time,
	judge func(verification.Verification) (verification.Status, []callback.Callback)) (verification.Verification, bool, error) {
	var v verification.Verification
	var counted bool
	err := submit(ctx, Normal, func(t T) error {
		counted = false
		// Where the store counts the usual check in one statement, and
		// that counts nothing, the verification, read, says why (or, where
		// another node started a new one meanwhile, is counted as usual).
		err := store.ErrNotFound
		if lc, ok := any(t).(LatestCounter); ok {
			v, err = lc.CountLatest(key, max, now)
		}
		if errors.Is(err, store.ErrNotFound) {
			v, err = t.LatestVerification(key)
			if err == nil && !v.Live(now) {
				err = store.ErrNotFound
			}
			if err != nil || v.Status != verification.Pending || v.CheckAttempts >= max {
				return err // not counted: the verification says why
			}
			n, err := t.CountCheck(v.SID, max, now)
			if err != nil || n != 1 {
				return err
			}
			v.CheckAttempts++
			v.UpdatedAt = now
		} else if err != nil {
			return err
		}
		counted = true
		status, cbs := judge(v)
		if status == v.Status {
			return nil
		}
		v.Status = status
		if err := t.SetVerificationStatus(v.SID, status, now); err != nil {
			return err
		}
		return t.InsertCallbacks(cbs)
	})
	return v, counted, err
}

// ResolveWriter is what Resolve writes with.
type ResolveWriter interface {
	CallbackWriter
	// ResolveVerification moves a verification as r says if r's guard
	// holds; the rows it changed (1 or 0).
	ResolveVerification(r verification.Resolution) (int64, error)
}

// Resolve applies resolutions and stores the events of those applied (an
// event's Subject is its verification); see verify.Store.
func Resolve[T ResolveWriter](ctx context.Context, submit Submit[T], rs []verification.Resolution, events []callback.Callback) (int, error) {
	var applied int
	err := submit(ctx, Normal, func(t T) error {
		applied = 0
		done := map[string]bool{}
		for _, r := range rs {
			n, err := t.ResolveVerification(r)
			if err != nil {
				return err
			}
			if n == 1 {
				applied++
				done[r.SID] = true
			}
		}
		var keep []callback.Callback
		for _, e := range events {
			if done[e.Subject] {
				keep = append(keep, e)
			}
		}
		return t.InsertCallbacks(keep)
	})
	return applied, err
}

// RedactWriter is what RedactMessage writes with.
type RedactWriter interface {
	// RedactMessage empties the body of the account's message sid if its
	// status is one of from; the rows it changed.
	RedactMessage(accountSID, sid string, from []message.Status, at time.Time) (int64, error)
	// RedactSandbox empties the body of the message's sandbox copy.
	RedactSandbox(accountSID, sid string) error
	// MissingOrConflict tells why a guarded write to one of the account's
	// messages changed nothing (see Unchanged).
	MissingOrConflict(accountSID, sid string) error
}

// RedactMessage empties a message's body and its sandbox copy's; see
// messaging.Store.
func RedactMessage[T RedactWriter](ctx context.Context, submit Submit[T], accountSID, sid string, from []message.Status, at time.Time) error {
	return submit(ctx, Normal, func(t T) error {
		n, err := t.RedactMessage(accountSID, sid, from, at)
		if err == nil && n == 1 {
			err = t.RedactSandbox(accountSID, sid)
		}
		if err != nil || n == 1 {
			return err
		}
		return t.MissingOrConflict(accountSID, sid)
	})
}

// Unchanged is why a guarded write to one of accountSID's messages changed
// nothing, given the owner read of the message and err, how reading it
// went: store.ErrNotFound when there is no such message or another
// account's, else store.ErrConflict (its state did not allow the write).
func Unchanged(accountSID, owner string, err error) error {
	err = NotFound(err)
	if errors.Is(err, store.ErrNotFound) || (err == nil && owner != accountSID) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return store.ErrConflict
}

// PartWriter is what ReceiptOnPart writes with.
type PartWriter interface {
	// FindPart finds the part one of keys names (the earliest key first):
	// its message, how many parts the message has, and the part's key;
	// store.ErrNotFound when none.
	FindPart(connector string, keys []string) (sid string, total int, key string, err error)
	// SetPartStatus records a part's status.
	SetPartStatus(connector, key string, status message.Status, code int) error
	// PartStatuses reads the statuses of a message's parts, in order.
	PartStatuses(sid string) ([]message.PartStatus, error)
	// AdvanceOnReceipt moves a message to status when it may
	// (message.Before), with the status callback that owes.
	AdvanceOnReceipt(sid string, status message.Status, code int, errMsg string, at time.Time) error
}

// SentAt is the time an outcome says its message was sent: its time for
// sent or delivered, else zero.
func SentAt(o message.Outcome) time.Time {
	if o.Status == message.Sent || o.Status == message.Delivered {
		return o.At
	}
	return time.Time{}
}

// ReceiptOnPart records a receipt on the part one of its keys names and
// moves the message as its parts decide (message.FromParts);
// store.ErrNotFound when no part has a key.
func ReceiptOnPart(t PartWriter, r message.Receipt) error {
	if len(r.Keys) == 0 {
		return store.ErrNotFound
	}
	sid, total, key, err := t.FindPart(r.Connector, r.Keys)
	if err != nil {
		return err
	}
	return ReceiptOnFoundPart(t, r, sid, total, key)
}

// ReceiptOnFoundPart is ReceiptOnPart once FindPart found the part: key
// of message sid, one of total.
func ReceiptOnFoundPart(t PartWriter, r message.Receipt, sid string, total int, key string) error {
	if total == 1 {
		// The part is the message.
		return t.AdvanceOnReceipt(sid, r.Status, r.ErrorCode, r.ErrorMessage, r.At)
	}
	if err := t.SetPartStatus(r.Connector, key, r.Status, r.ErrorCode); err != nil {
		return err
	}
	parts, err := t.PartStatuses(sid)
	if err != nil {
		return err
	}
	status, code, ok := message.FromParts(parts)
	if !ok {
		return nil
	}
	errMsg := ""
	if status != message.Delivered {
		errMsg = r.ErrorMessage
	}
	return t.AdvanceOnReceipt(sid, status, code, errMsg, r.At)
}

// ScanPartStatus reads a row of a part's part, status and error_code.
func ScanPartStatus(row Scanner) (message.PartStatus, error) {
	var p message.PartStatus
	var status string
	if err := row.Scan(&p.Part, &status, &p.ErrorCode); err != nil {
		return message.PartStatus{}, err
	}
	p.Status = message.Status(status)
	return p, nil
}

// OutcomeWriter is what RecordOutcome writes with.
type OutcomeWriter interface {
	PartWriter
	// Dequeue records a send's outcome on its message (sentAt, when not
	// zero, is when it was sent) and takes it out of the outbox, with the
	// status callback that owes; store.ErrNotFound when it is not there.
	Dequeue(o message.Outcome, sentAt time.Time) error
	// InsertPart records that key names part of total of message sid.
	InsertPart(connector, key, sid string, part, total int) error
	// TakeOrphan deletes a receipt that came for one of keys before its
	// part was known, and returns its status, error code and message;
	// found false when there is none.
	TakeOrphan(connector string, keys []string) (r message.Receipt, found bool, err error)
	// InsertSandbox keeps a sandbox inbox entry (once: a repeat of its SID
	// is ignored).
	InsertSandbox(e message.SandboxEntry) error
}

// RecordOutcome records a send's outcome, its parts' keys, and the
// receipts that came before the parts were known; see dispatch.Store.
func RecordOutcome(t OutcomeWriter, o message.Outcome) error {
	if err := t.Dequeue(o, SentAt(o)); err != nil {
		return err // a message deleted meanwhile stays out of the inbox too
	}
	if o.Inbox != nil {
		if err := t.InsertSandbox(*o.Inbox); err != nil {
			return err
		}
	}
	for i, keys := range o.PartKeys {
		if len(keys) == 0 {
			continue
		}
		if err := t.InsertPart(o.Connector, keys[0], o.SID, i+1, len(o.PartKeys)); err != nil {
			return err
		}
	}
	// Receipts that came before the parts were known.
	for _, keys := range o.PartKeys {
		if len(keys) == 0 {
			continue
		}
		r, found, err := t.TakeOrphan(o.Connector, keys)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		r.Connector, r.Keys, r.At = o.Connector, keys, o.At
		if err := ReceiptOnPart(t, r); err != nil {
			return err
		}
	}
	return nil
}

// ReceiptWriter is what ApplyReceipt writes with.
type ReceiptWriter interface {
	// ApplyReceipt records a receipt in the op's transaction.
	ApplyReceipt(r message.Receipt) error
	// Callbacks is how many callbacks the op stored.
	Callbacks() int
}

// ApplyReceipt records a receipt as one lazy op; whether it stored a
// callback. See dispatch.Store.
func ApplyReceipt[T ReceiptWriter](ctx context.Context, submit Submit[T], r message.Receipt) (bool, error) {
	queued := false
	err := submit(ctx, Lazy, func(t T) error {
		err := t.ApplyReceipt(r)
		queued = t.Callbacks() > 0
		return err
	})
	return queued, err
}

// InboundParts reads the rows of a long inbound message's parts (seq,
// text, received_at) as parts of p's message.
func InboundParts(rows Rows, p message.InboundPart) ([]message.InboundPart, error) {
	return Collect(rows, func(row Scanner) (message.InboundPart, error) {
		q := message.InboundPart{Connector: p.Connector, From: p.From, To: p.To, Ref: p.Ref, Total: p.Total}
		var at int64
		if err := row.Scan(&q.Seq, &q.Text, &at); err != nil {
			return message.InboundPart{}, err
		}
		q.ReceivedAt = FromNanos(at)
		return q, nil
	})
}

// MessageArgs are m's values in the order of MessageCols.
func MessageArgs(m message.Message) []any {
	return []any{m.SID, m.AccountSID, m.VerificationSID, string(m.Direction), m.From, m.To, m.Body, string(m.Status),
		m.Encoding, m.Segments, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage, Nanos(m.CreatedAt), Nanos(m.UpdatedAt), Nanos(m.SentAt), m.StatusCallback, string(m.Channel.Or()), m.Subject}
}

// ClaimedCallbacks reads the rows of a claim of callbacks (sid,
// message_sid, account_sid, url, params, attempts, created_at,
// content_type), leased until leaseUntil, in SID order (creation order).
func ClaimedCallbacks(rows Rows, leaseUntil time.Time) ([]callback.Callback, error) {
	out, err := Collect(rows, func(row Scanner) (callback.Callback, error) {
		var c callback.Callback
		var created int64
		var ct string
		if err := row.Scan(&c.SID, &c.Subject, &c.AccountSID, &c.URL, &c.Body, &c.Attempts, &created, &ct); err != nil {
			return callback.Callback{}, err
		}
		c.CreatedAt, c.NextAttemptAt, c.ContentType = FromNanos(created), leaseUntil.UTC(), callback.ContentType(ct)
		return c, nil
	})
	slices.SortFunc(out, func(a, b callback.Callback) int { return strings.Compare(a.SID, b.SID) })
	return out, err
}

// SafeListRoom is store.ErrFull when changing accountSID's safe list, as
// list reads it, would take it past max (guardstate.SafeListFull); nil when it
// would not or max is 0 (no cap, and the list is not read).
func SafeListRoom(list func(accountSID string) ([]string, error), accountSID string, add, remove []string, max int) error {
	if max <= 0 {
		return nil
	}
	have, err := list(accountSID)
	if err != nil {
		return err
	}
	if guardstate.SafeListFull(have, add, remove, max) {
		return store.ErrFull
	}
	return nil
}
