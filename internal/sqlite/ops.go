package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/sqlstore"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// The writes: each is one op of the writer (see writer.go), so one atomic
// step that shares a group commit with the others waiting. The outbox's
// claims go first in a group; what delivery learns (outcomes, receipts, the
// sandbox inbox) waits a few milliseconds to share a commit, so it seldom
// delays a send, and goes first once it waited.

// InsertSend stores a send; see pipeline.Store.
func (s *Store) InsertSend(ctx context.Context, m message.Message, o message.Outbound, v *verification.Change, limits ...ratelimit.Limit) error {
	return s.submit(ctx, normal, func(t *tx) error {
		// One limit (the default: per number) whose key has no counts yet,
		// the common case, costs one statement: its first count inserted
		// where no row is. Otherwise its row is read and written.
		if len(limits) == 1 {
			fresh, forget, _, ok := limits[0].Take(nil, m.CreatedAt)
			if ok {
				n, err := t.exec(t.st.insertLimit, limits[0].Key, fresh, nanos(forget))
				if err != nil {
					return err
				}
				if n == 1 {
					limits = nil
				}
			}
		}
		takes, err := ratelimit.TakeAll(limits, m.CreatedAt, func(key string) ([]byte, error) {
			var slots []byte
			err := t.st.limitSlots.QueryRowContext(bg, key).Scan(&slots)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil
			}
			return slots, err
		})
		if err != nil {
			return err
		}
		if v != nil {
			if err := t.writeChange(*v, m.CreatedAt); err != nil {
				return err
			}
		}
		for _, tk := range takes {
			if _, err := t.exec(t.st.putLimit, tk.Key, tk.Slots, nanos(tk.ForgetAt)); err != nil {
				return err
			}
		}
		if d := o.Delivered; d != nil && len(d.PartKeys) == 0 && m.StatusCallback == "" {
			err = t.insertDelivered(m, o, *d)
		} else {
			due, claimed := o.Due()
			_, err = t.exec(t.st.insertQueued, m.SID, m.AccountSID, m.VerificationSID, m.Direction, m.From, m.To, m.Body, m.Status,
				m.Encoding, m.Segments, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage, nanos(m.CreatedAt), nanos(m.UpdatedAt), nanos(m.SentAt), m.StatusCallback,
				string(m.Channel.Or()), m.Subject, o.Payload, nanos(due), claimed, nanos(o.ExpiresAt), nanos(o.CreatedAt))
			if err == nil && o.Delivered != nil {
				err = sqlstore.RecordOutcome(t, *o.Delivered) // its parts, or the callbacks it owes
			}
		}
		if err != nil || v == nil {
			return err
		}
		return sqlstore.WriteFallback(t, *v, m.SID)
	})
}

// insertDelivered stores m delivered in this write, with no parts and no
// status callback: the row out's advance (quietSet) would leave, never in
// the outbox, and out's inbox entry. One statement instead of the insert
// and the advance: no outbox entry written and taken out again.
func (t *tx) insertDelivered(m message.Message, o message.Outbound, out message.Outcome) error {
	var final time.Time
	if out.Status.Final() {
		final = out.At
	}
	m.Status, m.ErrorCode, m.ErrorMessage, m.UpdatedAt = out.Status, out.ErrorCode, out.ErrorMessage, out.At
	if out.Connector != "" {
		m.Connector = out.Connector
	}
	if out.ProviderID != "" {
		m.ProviderID = out.ProviderID
	}
	if sent := sqlstore.SentAt(out); !sent.IsZero() {
		m.SentAt = sent
	}
	due, _ := o.Due()
	args := append(sqlstore.MessageArgs(m), string(out.Status), nanos(final), nanos(due), nanos(o.ExpiresAt), nanos(o.CreatedAt))
	if _, err := t.exec(t.st.insertDelivered, args...); err != nil {
		return err
	}
	if out.Inbox == nil {
		return nil
	}
	return t.InsertSandbox(*out.Inbox)
}

// InsertFallback records a fallback; see sqlstore.FallbackWriter.
func (t *tx) InsertFallback(f verification.Fallback) error {
	_, err := t.exec(t.st.insertFallback, f.VerificationSID, f.AccountSID, f.MessageSID, f.Address, f.Locale, nanos(f.DueAt), nanos(f.CreatedAt))
	return err
}

// ClaimFallback deletes a fallback; see sqlstore.FallbackWriter.
func (t *tx) ClaimFallback(f verification.Fallback) (int64, error) {
	return t.exec(t.st.claimFallback, f.VerificationSID, f.MessageSID)
}

// DropFallback deletes a fallback that is not owed any more; see
// verify.Store.
func (s *Store) DropFallback(ctx context.Context, f verification.Fallback) (bool, error) {
	return sqlstore.DropFallback(ctx, s.submit, f)
}

// writeChange applies a send's verification change under its guard.
func (t *tx) writeChange(c verification.Change, now time.Time) error {
	v := c.V
	var n int64
	var err error
	if c.New {
		var one int
		err = t.st.blocking.QueryRowContext(bg, v.AccountSID, v.ServiceSID, v.To, nanos(now)).Scan(&one)
		if err == nil {
			return store.ErrConflict
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		n, err = t.exec(t.st.insertVerification, v.SID, v.AccountSID, v.ServiceSID, v.To, v.From, v.Channel, v.Status,
			sqlstore.EncodeCodes(v.Codes), v.SendAttempts, v.CheckAttempts, nanos(v.CreatedAt), nanos(v.UpdatedAt), nanos(v.ExpiresAt))
	} else {
		n, err = t.exec(t.st.sendVerification, sqlstore.EncodeCodes(v.Codes), v.SendAttempts, nanos(v.UpdatedAt), nanos(v.ExpiresAt), v.From,
			v.SID, v.SendAttempts-1)
	}
	if err == nil && n != 1 {
		err = store.ErrConflict
	}
	return err
}

// CreateService inserts a service, or returns the one of that name.
func (s *Store) CreateService(ctx context.Context, svc verification.Service) (verification.Service, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) (verification.Service, error) {
		if _, err := t.exec(t.st.insertService, svc.SID, svc.AccountSID, svc.Name, svc.CodeLength, int64(svc.TTL), nanos(svc.CreatedAt), svc.EventsURL, svc.Countries, verification.EncodeTexts(svc.Texts),
			svc.FallbackChannel, int64(svc.FallbackAfter)); err != nil {
			return verification.Service{}, err
		}
		return sqlstore.ScanService(t.st.service.QueryRowContext(bg, svc.AccountSID, svc.Name))
	})
}

// UpdateService stores a service's settings (code length, lifetime, events URL).
func (s *Store) UpdateService(ctx context.Context, svc verification.Service) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.updateService, "update service "+svc.SID, svc.CodeLength, int64(svc.TTL), svc.EventsURL, svc.Countries, verification.EncodeTexts(svc.Texts),
			svc.FallbackChannel, int64(svc.FallbackAfter), svc.SID)
	})
}

// DeleteService deletes one of the account's services and its
// verifications (their messages stay in the log).
func (s *Store) DeleteService(ctx context.Context, accountSID, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.execOne(t.st.deleteService, "delete service "+sid, sid, accountSID); err != nil {
			return err
		}
		if _, err := t.exec(t.st.deleteServiceVerifications, sid, accountSID); err != nil {
			return err
		}
		return t.deleteServiceFactors(accountSID, sid)
	})
}

// CountCheck counts a check; see verify.Store.
func (s *Store) CountCheck(ctx context.Context, key verification.Key, max int, now time.Time,
	judge func(verification.Verification) (verification.Status, []callback.Callback)) (verification.Verification, bool, error) {
	return sqlstore.CountCheck(ctx, s.submit, key, max, now, judge)
}

// LatestVerification reads key's newest verification; see sqlstore.CheckWriter.
func (t *tx) LatestVerification(key verification.Key) (verification.Verification, error) {
	return sqlstore.ScanVerification(t.st.latestVerification.QueryRowContext(bg, key.AccountSID, key.ServiceSID, key.To))
}

// CountCheck counts a check with the limit: the op read the row first and
// the writer is alone, so this is its compare-and-set.
func (t *tx) CountCheck(sid string, max int, now time.Time) (int64, error) {
	return t.exec(t.st.countCheck, nanos(now), sid, max)
}

// SetVerificationStatus sets a verification's status.
func (t *tx) SetVerificationStatus(sid string, status verification.Status, now time.Time) error {
	_, err := t.exec(t.st.setVerificationStatus, status, nanos(now), sid)
	return err
}

// Resolve applies resolutions; see verify.Store.
func (s *Store) Resolve(ctx context.Context, rs []verification.Resolution, events []callback.Callback) (int, error) {
	return sqlstore.Resolve(ctx, s.submit, rs, events)
}

// ResolveVerification applies a resolution if its guard holds.
func (t *tx) ResolveVerification(r verification.Resolution) (int64, error) {
	return t.exec(t.st.resolveVerification, r.To, statusList(r.From), nanos(r.ExpiredBy), nanos(r.At), r.SID)
}

// RedactMessage empties a message's body; see messaging.Store.
func (s *Store) RedactMessage(ctx context.Context, accountSID, sid string, from []message.Status, at time.Time) error {
	return sqlstore.RedactMessage(ctx, s.submit, accountSID, sid, from, at)
}

// RedactMessage empties a message's body if its status is one of from.
func (t *tx) RedactMessage(accountSID, sid string, from []message.Status, at time.Time) (int64, error) {
	return t.exec(t.st.redactMessage, nanos(at), sid, accountSID, statusList(from))
}

// RedactSandbox empties the body of a message's sandbox copy.
func (t *tx) RedactSandbox(accountSID, sid string) error {
	_, err := t.exec(t.st.redactSandbox, sid, accountSID)
	return err
}

// MissingOrConflict tells why a guarded write to one of the account's
// messages changed nothing.
func (t *tx) MissingOrConflict(accountSID, sid string) error {
	m, err := sqlstore.ScanMessage(t.st.message.QueryRowContext(bg, sid))
	return sqlstore.Unchanged(accountSID, m.AccountSID, err)
}

// CancelMessage cancels a queued message; see messaging.Store.
func (s *Store) CancelMessage(ctx context.Context, accountSID, sid string, at time.Time) error {
	return s.submit(ctx, normal, func(t *tx) error {
		before := t.wrote
		rows, err := t.query(t.st.cancelMessage, nanos(at), sid, accountSID)
		if err != nil {
			return err
		}
		var m message.Message
		found := rows.Next()
		if found {
			m, err = sqlstore.ScanMessage(rows)
		}
		rows.Close()
		if err != nil {
			t.failed = err
			return err
		}
		if !found {
			t.unchanged(before)
			return t.MissingOrConflict(accountSID, sid)
		}
		return t.InsertCallbacks(callback.ForStatusChange(m, true, at))
	})
}

// DeleteMessage removes a message; see messaging.Store.
func (s *Store) DeleteMessage(ctx context.Context, accountSID, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.execOne(t.st.deleteMessage, "delete message "+sid, sid, accountSID); err != nil {
			return err
		}
		_, err := t.exec(t.st.deleteSandbox, sid, accountSID) // its sandbox copy too
		return err
	})
}

// ForgetSandbox deletes sandbox inbox entries made before before.
func (s *Store) ForgetSandbox(ctx context.Context, before time.Time) (int, error) {
	return s.forget(ctx, func(st *stmts) *sql.Stmt { return st.forgetSandbox }, before)
}

// ForgetOrphanReceipts deletes the receipts received before before that
// no part was found for; see dispatch.OrphanStore.
func (s *Store) ForgetOrphanReceipts(ctx context.Context, before time.Time) (int, error) {
	return s.forget(ctx, func(st *stmts) *sql.Stmt { return st.forgetOrphans }, before)
}

// forget runs one of the statements that delete rows made before a time.
func (s *Store) forget(ctx context.Context, stmt func(*stmts) *sql.Stmt, before time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		var err error
		n, err = t.exec(stmt(t.st), nanos(before))
		return err
	})
	return int(n), err
}

// ClaimOutbox leases due messages; see dispatch.Store.
func (s *Store) ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]message.Outbound, error) {
	var out []message.Outbound
	err := s.submit(ctx, urgent, func(t *tx) error {
		var err error
		out, err = t.claim(now, leaseUntil, limit)
		return err
	})
	return out, err
}

func (t *tx) claim(now, leaseUntil time.Time, limit int) ([]message.Outbound, error) {
	rows, err := t.query(t.st.claimOutbox, nanos(leaseUntil), nanos(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []message.Outbound
	var due []int64
	for rows.Next() {
		var o message.Outbound
		var created, expires, wasDue int64
		if err := rows.Scan(&o.SID, &o.AccountSID, &o.From, &o.To, &o.Payload, &o.Attempts, &o.LastError, &expires, &created, &wasDue, &o.StatusCallback, &o.Channel, &o.Subject); err != nil {
			t.failed = err
			return nil, err
		}
		o.CreatedAt, o.ExpiresAt, o.LeaseUntil = fromNanos(created), fromNanos(expires), leaseUntil.UTC()
		items = append(items, o)
		due = append(due, wasDue)
	}
	if err := rows.Err(); err != nil {
		t.failed = err
		return nil, err
	}
	return sqlstore.SortClaimed(items, due), nil
}

// RescheduleOutbox releases a message's lease; see dispatch.Store.
func (s *Store) RescheduleOutbox(ctx context.Context, sid string, attempts int, next time.Time, lastError string) error {
	return s.submit(ctx, urgent, func(t *tx) error {
		return t.execOne(t.st.rescheduleOutbox, "reschedule outbox message "+sid, attempts, nanos(next), lastError, sid)
	})
}

// ReleaseLeases makes every claimed message and callback due now (at
// start-up, when this process is the only one using the store).
func (s *Store) ReleaseLeases(ctx context.Context) (int, error) {
	var n int64
	err := s.submit(ctx, normal, func(t *tx) error {
		var err error
		if n, err = t.exec(t.st.releaseLeases); err != nil {
			return err
		}
		_, err = t.exec(t.st.releaseCallbacks)
		return err
	})
	return int(n), err
}

// RecordOutcome records a send's outcome; see dispatch.Store.
func (s *Store) RecordOutcome(ctx context.Context, o message.Outcome) error {
	return s.submit(ctx, lazy, func(t *tx) error { return sqlstore.RecordOutcome(t, o) })
}

// Dequeue records an outcome on its message and takes it out of the outbox.
func (t *tx) Dequeue(o message.Outcome, sentAt time.Time) error {
	return t.advance(t.st.advanceDequeueQuiet, t.st.advanceDequeue, o.SID, o.Status, o.ErrorCode, o.ErrorMessage, o.Connector, o.ProviderID, sentAt, o.At)
}

// InsertPart records which message and part a key names.
func (t *tx) InsertPart(connector, key, sid string, part, total int) error {
	_, err := t.exec(t.st.insertPart, connector, key, sid, part, total)
	return err
}

// TakeOrphan deletes and returns a receipt that came for one of keys
// before its part was known.
func (t *tx) TakeOrphan(connector string, keys []string) (message.Receipt, bool, error) {
	if *t.noOrphans {
		return message.Receipt{}, false, nil
	}
	k1, k2, k3 := keys3(keys)
	var r message.Receipt
	var key string
	err := t.st.findOrphan.QueryRowContext(bg, connector, k1, k2, k3).Scan(&key, &r.Status, &r.ErrorCode, &r.ErrorMessage)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	_, err = t.exec(t.st.deleteOrphan, connector, key)
	return r, err == nil, err
}

// ApplyReceipt records a receipt; see dispatch.Store.
func (s *Store) ApplyReceipt(ctx context.Context, r message.Receipt) (bool, error) {
	return sqlstore.ApplyReceipt(ctx, s.submit, r)
}

// ApplyReceipt records a receipt on its message, or on the part one of its
// keys names, or keeps it as an orphan until the part is known.
func (t *tx) ApplyReceipt(r message.Receipt) error {
	if r.MessageSID != "" {
		return t.advance(t.st.advanceQuiet, t.st.advance, r.MessageSID, r.Status, r.ErrorCode, r.ErrorMessage, "", "", time.Time{}, r.At)
	}
	if len(r.Keys) > 0 {
		// A code's receipt is one statement: its message has one part,
		// stored under the receipt's first key, and no status callback, and
		// its status moves. Any other receipt (a part of a longer message, a
		// status callback, a status that does not move, a part stored under
		// another key) goes the long way, after this statement changed no row.
		n, err := t.exec(t.st.receiptQuiet, statusList(message.Before(r.Status)), r.Status, r.ErrorCode, r.ErrorMessage, "", "", int64(0), nanos(r.At),
			r.Connector, r.Keys[0])
		if err != nil || n == 1 {
			return err
		}
	}
	err := sqlstore.ReceiptOnPart(t, r)
	if !errors.Is(err, store.ErrNotFound) || len(r.Keys) == 0 {
		return err
	}
	*t.noOrphans = false // even should this op be undone: the writer looks again
	_, err = t.exec(t.st.insertOrphan, r.Connector, r.Keys[0], r.Status, r.ErrorCode, r.ErrorMessage, nanos(r.At))
	return err
}

// Callbacks is how many callbacks the op stored.
func (t *tx) Callbacks() int { return t.callbacks }

// FindPart finds the part one of up to three keys names, the earliest key
// first. It looks the keys up one at a time: the first names the part
// nearly always, and one statement that asked for all three and sorted what
// it found cost a receipt three times as much.
func (t *tx) FindPart(connector string, keys []string) (sid string, total int, key string, err error) {
	for i, k := range keys[:min(len(keys), 3)] {
		if slices.Contains(keys[:i], k) {
			continue
		}
		err = t.st.findPart.QueryRowContext(bg, connector, k).Scan(&sid, &total)
		if !errors.Is(err, sql.ErrNoRows) {
			return sid, total, k, err
		}
	}
	return "", 0, "", store.ErrNotFound
}

// SetPartStatus records a part's status.
func (t *tx) SetPartStatus(connector, key string, status message.Status, code int) error {
	_, err := t.exec(t.st.setPartStatus, status, code, connector, key)
	return err
}

// PartStatuses reads the statuses of a message's parts.
func (t *tx) PartStatuses(sid string) ([]message.PartStatus, error) {
	rows, err := t.st.partsOf.QueryContext(bg, sid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanPartStatus)
}

// AdvanceOnReceipt moves a message as a receipt says.
func (t *tx) AdvanceOnReceipt(sid string, status message.Status, code int, errMsg string, at time.Time) error {
	return t.advance(t.st.advanceQuiet, t.st.advance, sid, status, code, errMsg, "", "", time.Time{}, at)
}

// advance moves a message to status when it may (message.Before) and
// stores its status callback when the status moved. With advanceDequeue it
// also takes the message out of the outbox, ErrNotFound when it is not there.
//
// quiet is the same write for the common case, a message whose status
// moves and that has no status callback: it returns nothing, which costs
// SQLite less than st's RETURNING (a code SMS's outcome took 40% less of
// the writer's time). When it changes no row, st runs as before.
func (t *tx) advance(quiet, st *sql.Stmt, sid string, status message.Status, code int, errMsg, connector, pid string, sentAt, at time.Time) error {
	before := t.wrote
	from := statusList(message.Before(status))
	n, err := t.exec(quiet, from, status, code, errMsg, connector, pid, nanos(sentAt), nanos(at), sid)
	if err != nil || n == 1 {
		return err
	}
	if err := t.beforeWrite(); err != nil {
		return err
	}
	var moved bool
	var m message.Message
	err = st.QueryRowContext(bg, from, status, code, errMsg, connector, pid, nanos(sentAt), nanos(at), sid).
		Scan(&moved, &m.SID, &m.AccountSID, &m.Status, &m.To, &m.From, &m.ErrorCode, &m.ErrorMessage, &m.StatusCallback)
	if errors.Is(err, sql.ErrNoRows) {
		t.unchanged(before)
		return fmt.Errorf("advance message %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		t.failed = err
		return err
	}
	return t.InsertCallbacks(callback.ForStatusChange(m, moved, at))
}

// AddInboundPart keeps a part of a long inbound message; see inbound.Store.
func (s *Store) AddInboundPart(ctx context.Context, p message.InboundPart) ([]message.InboundPart, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) ([]message.InboundPart, error) {
		if _, err := t.exec(t.st.insertInboundPart, p.Connector, p.From, p.To, p.Ref, p.Total, p.Seq, p.Text, nanos(p.ReceivedAt)); err != nil {
			return nil, err
		}
		rows, err := t.st.inboundParts.QueryContext(bg, p.Connector, p.From, p.To, p.Ref, p.Total)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		return sqlstore.InboundParts(rows, p)
	})
}

// InsertInbound stores a received message; see inbound.Store.
func (s *Store) InsertInbound(ctx context.Context, m message.Message, parts *message.InboundPart, cbs []callback.Callback) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if p := parts; p != nil {
			n, err := t.exec(t.st.deleteInboundParts, p.Connector, p.From, p.To, p.Ref, p.Total)
			if err != nil {
				return err
			}
			if n != int64(p.Total) {
				return store.ErrConflict
			}
		}
		if _, err := t.exec(t.st.insertMessage, sqlstore.MessageArgs(m)...); err != nil {
			return err
		}
		return t.InsertCallbacks(cbs)
	})
}

// ClaimCallbacks leases due callbacks; see webhook.Store.
func (s *Store) ClaimCallbacks(ctx context.Context, now, leaseUntil time.Time, limit int) ([]callback.Callback, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) ([]callback.Callback, error) {
		rows, err := t.query(t.st.claimCallbacks, nanos(leaseUntil), nanos(now), limit)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out, err := sqlstore.ClaimedCallbacks(rows, leaseUntil)
		if err != nil {
			t.failed = err
		}
		return out, err
	})
}

func (t *tx) insertAttempt(a callback.Attempt) error {
	_, err := t.exec(t.st.insertAttempt, a.CallbackSID, a.Attempt, a.Subject, a.URL, nanos(a.At), a.StatusCode, a.Error, int64(a.Duration))
	return err
}

// FinishCallback records the last attempt of a callback; see webhook.Store.
func (s *Store) FinishCallback(ctx context.Context, c callback.Callback, a callback.Attempt) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.insertAttempt(a); err != nil {
			return err
		}
		return t.execOne(t.st.deleteCallback, "finish callback "+c.SID, c.SID)
	})
}

// RetryCallback records an attempt and makes the callback due at next; see webhook.Store.
func (s *Store) RetryCallback(ctx context.Context, c callback.Callback, a callback.Attempt, next time.Time) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.insertAttempt(a); err != nil {
			return err
		}
		return t.execOne(t.st.retryCallback, "retry callback "+c.SID, a.Attempt, nanos(next), c.SID)
	})
}

// ReleaseCallbacks gives claimed callbacks back; see webhook.Store.
func (s *Store) ReleaseCallbacks(ctx context.Context, rs []callback.Release) error {
	if len(rs) == 0 {
		return nil
	}
	return s.submit(ctx, normal, func(t *tx) error {
		for _, r := range rs {
			if _, err := t.exec(t.st.releaseCallback, nanos(r.Due), r.SID, nanos(r.LeaseUntil)); err != nil {
				return err
			}
		}
		return nil
	})
}

// InsertSandboxEntry keeps a sandbox delivery; see sandbox.Store.
func (s *Store) InsertSandboxEntry(ctx context.Context, e message.SandboxEntry) error {
	return s.submit(ctx, lazy, func(t *tx) error { return t.InsertSandbox(e) })
}

// InsertSandbox keeps a sandbox inbox entry; see sqlstore.OutcomeWriter.
func (t *tx) InsertSandbox(e message.SandboxEntry) error {
	_, err := t.exec(t.st.insertSandbox, e.SID, e.AccountSID, e.From, e.To, e.Body, e.Segments, e.Encoding, nanos(e.CreatedAt), string(e.Channel.Or()), e.Subject)
	return err
}

// InsertAccount adds an account; see account.Store.
func (s *Store) InsertAccount(ctx context.Context, a account.Account) error {
	return s.submit(ctx, normal, func(t *tx) error {
		_, err := t.exec(t.st.insertAccount, a.SID, a.Name, a.TokenHash, nanos(a.CreatedAt), a.TokenSealed, a.Policy.Encode())
		return err
	})
}

// ForgetLimits deletes the rate-limit counts that no longer count (their
// newest slot left the window) and returns how many.
func (s *Store) ForgetLimits(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		var err error
		n, err = t.exec(t.st.forgetLimits, nanos(now))
		return err
	})
	return int(n), err
}

// SetAccountCountries sets where the account chose to send, within its
// ceiling (account.Account's Countries).
func (s *Store) SetAccountCountries(ctx context.Context, sid, countries string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.setCountries, "set countries of account "+sid, countries, sid)
	})
}

// SetAccountPolicy sets the ceilings the operator gave an account
// (account.Account's Policy).
func (s *Store) SetAccountPolicy(ctx context.Context, sid string, p policy.Policy) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.setPolicy, "set the policy of account "+sid, p.Encode(), sid)
	})
}

// SetAccountSMSURL sets where the account's inbound SMS are POSTed.
func (s *Store) SetAccountSMSURL(ctx context.Context, sid, url string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.setSMSURL, "set sms_url of account "+sid, url, sid)
	})
}

// SetSecondaryToken gives an account a secondary auth token (replacing one
// it had); see account.Tokens.
func (s *Store) SetSecondaryToken(ctx context.Context, sid string, hash, sealed []byte, at time.Time) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.setSecondary, "set the secondary token of account "+sid, hash, sealed, nanos(at), sid)
	})
}

// DeleteSecondaryToken removes an account's secondary token; ErrNotFound if
// it has none.
func (s *Store) DeleteSecondaryToken(ctx context.Context, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.deleteSecondary, "delete the secondary token of account "+sid, sid)
	})
}

// PromoteSecondaryToken makes an account's secondary token its primary one
// (the old primary stops working); ErrNotFound if it has none.
func (s *Store) PromoteSecondaryToken(ctx context.Context, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.promoteSecondary, "promote the secondary token of account "+sid, sid)
	})
}

// SetPrimaryToken replaces an account's primary token.
func (s *Store) SetPrimaryToken(ctx context.Context, sid string, hash, sealed []byte) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.setPrimary, "set the token of account "+sid, hash, sealed, sid)
	})
}

// SetAccountDisabled disables an account (no token authenticates it) or
// enables it again.
func (s *Store) SetAccountDisabled(ctx context.Context, sid string, disabled bool) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.setDisabled, "disable account "+sid, disabled, sid)
	})
}
