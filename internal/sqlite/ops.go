package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/policy"
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
func (s *Store) InsertSend(ctx context.Context, m message.Message, o message.Outbound, v *verification.Change, limits ...store.Limit) error {
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
		takes, err := store.TakeLimits(limits, m.CreatedAt, func(key string) ([]byte, error) {
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
		due, claimed := o.CreatedAt, false
		if !o.LeaseUntil.IsZero() {
			due, claimed = o.LeaseUntil, true
		}
		_, err = t.exec(t.st.insertQueued, m.SID, m.AccountSID, m.VerificationSID, m.Direction, m.From, m.To, m.Body, m.Status,
			m.Encoding, m.Segments, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage, nanos(m.CreatedAt), nanos(m.UpdatedAt), nanos(m.SentAt), m.StatusCallback,
			o.Payload, nanos(due), claimed, nanos(o.ExpiresAt), nanos(o.CreatedAt))
		return err
	})
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
	var out verification.Service
	err := s.submit(ctx, normal, func(t *tx) error {
		if _, err := t.exec(t.st.insertService, svc.SID, svc.AccountSID, svc.Name, svc.CodeLength, int64(svc.TTL), nanos(svc.CreatedAt), svc.EventsURL, svc.Countries, verification.EncodeTexts(svc.Texts)); err != nil {
			return err
		}
		var err error
		out, err = sqlstore.ScanService(t.st.service.QueryRowContext(bg, svc.AccountSID, svc.Name))
		return err
	})
	return out, err
}

// UpdateService stores a service's settings (code length, lifetime, events URL).
func (s *Store) UpdateService(ctx context.Context, svc verification.Service) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne(t.st.updateService, "update service "+svc.SID, svc.CodeLength, int64(svc.TTL), svc.EventsURL, svc.Countries, verification.EncodeTexts(svc.Texts), svc.SID)
	})
}

// DeleteService deletes one of the account's services and its
// verifications (their messages stay in the log).
func (s *Store) DeleteService(ctx context.Context, accountSID, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.execOne(t.st.deleteService, "delete service "+sid, sid, accountSID); err != nil {
			return err
		}
		_, err := t.exec(t.st.deleteServiceVerifications, sid, accountSID)
		return err
	})
}

// CountCheck counts a check; see verify.Store.
func (s *Store) CountCheck(ctx context.Context, key verification.Key, max int, now time.Time,
	judge func(verification.Verification) (verification.Status, []callback.Callback)) (verification.Verification, bool, error) {
	var v verification.Verification
	var counted bool
	err := s.submit(ctx, normal, func(t *tx) error {
		counted = false
		var err error
		v, err = sqlstore.ScanVerification(t.st.latestVerification.QueryRowContext(bg, key.AccountSID, key.ServiceSID, key.To))
		if err == nil && !v.Live(now) {
			err = store.ErrNotFound
		}
		if err != nil || v.Status != verification.Pending || v.CheckAttempts >= max {
			return err // not counted: the verification says why
		}
		n, err := t.exec(t.st.countCheck, nanos(now), v.SID, max)
		if err != nil || n != 1 {
			return err
		}
		v.CheckAttempts++
		counted = true
		v.UpdatedAt = now
		status, cbs := judge(v)
		if status == v.Status {
			return nil
		}
		v.Status = status
		if _, err := t.exec(t.st.setVerificationStatus, status, nanos(now), v.SID); err != nil {
			return err
		}
		return t.insertCallbacks(cbs)
	})
	return v, counted, err
}

// Resolve applies resolutions; see verify.Store.
func (s *Store) Resolve(ctx context.Context, rs []verification.Resolution, events []callback.Callback) (int, error) {
	var applied int
	err := s.submit(ctx, normal, func(t *tx) error {
		applied = 0
		done := map[string]bool{}
		for _, r := range rs {
			n, err := t.exec(t.st.resolveVerification, r.To, statusList(r.From), nanos(r.ExpiredBy), nanos(r.At), r.SID)
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
		return t.insertCallbacks(keep)
	})
	return applied, err
}

// RedactMessage empties a message's body; see messaging.Store.
func (s *Store) RedactMessage(ctx context.Context, accountSID, sid string, from []message.Status, at time.Time) error {
	return s.submit(ctx, normal, func(t *tx) error {
		n, err := t.exec(t.st.redactMessage, nanos(at), sid, accountSID, statusList(from))
		if err == nil && n == 1 {
			_, err = t.exec(t.st.redactSandbox, sid, accountSID) // its sandbox copy too
		}
		if err != nil || n == 1 {
			return err
		}
		return t.missingOrConflict(accountSID, sid)
	})
}

// missingOrConflict tells why a guarded write to one of the account's
// messages changed nothing.
func (t *tx) missingOrConflict(accountSID, sid string) error {
	m, err := sqlstore.ScanMessage(t.st.message.QueryRowContext(bg, sid))
	if errors.Is(err, store.ErrNotFound) || (err == nil && m.AccountSID != accountSID) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return store.ErrConflict
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
			return t.missingOrConflict(accountSID, sid)
		}
		return t.insertCallbacks(callback.ForStatusChange(m, true, at))
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
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		var err error
		n, err = t.exec(t.st.forgetSandbox, nanos(before))
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
		if err := rows.Scan(&o.SID, &o.AccountSID, &o.From, &o.To, &o.Payload, &o.Attempts, &o.LastError, &expires, &created, &wasDue, &o.StatusCallback); err != nil {
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
	return s.submit(ctx, lazy, func(t *tx) error {
		sentAt := time.Time{}
		if o.Status == message.Sent || o.Status == message.Delivered {
			sentAt = o.At
		}
		if err := t.advance(t.st.advanceDequeue, o.SID, o.Status, o.ErrorCode, o.ErrorMessage, o.Connector, o.ProviderID, sentAt, o.At); err != nil {
			return err
		}
		for i, keys := range o.PartKeys {
			if len(keys) == 0 {
				continue
			}
			if _, err := t.exec(t.st.insertPart, o.Connector, keys[0], o.SID, i+1, len(o.PartKeys)); err != nil {
				return err
			}
		}
		// Receipts that came before the parts were known.
		for _, keys := range o.PartKeys {
			if len(keys) == 0 {
				continue
			}
			k1, k2, k3 := keys3(keys)
			var r message.Receipt
			var key string
			err := t.st.findOrphan.QueryRowContext(bg, o.Connector, k1, k2, k3).Scan(&key, &r.Status, &r.ErrorCode, &r.ErrorMessage)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := t.exec(t.st.deleteOrphan, o.Connector, key); err != nil {
				return err
			}
			r.Connector, r.Keys, r.At = o.Connector, keys, o.At
			if err := t.receiptOnPart(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// ApplyReceipt records a receipt; see dispatch.Store.
func (s *Store) ApplyReceipt(ctx context.Context, r message.Receipt) (bool, error) {
	queued := false
	err := s.submit(ctx, lazy, func(t *tx) error {
		err := t.applyReceipt(r)
		queued = t.callbacks > 0
		return err
	})
	return queued, err
}

func (t *tx) applyReceipt(r message.Receipt) error {
	if r.MessageSID != "" {
		return t.advance(t.st.advance, r.MessageSID, r.Status, r.ErrorCode, r.ErrorMessage, "", "", time.Time{}, r.At)
	}
	err := t.receiptOnPart(r)
	if !errors.Is(err, store.ErrNotFound) || len(r.Keys) == 0 {
		return err
	}
	_, err = t.exec(t.st.insertOrphan, r.Connector, r.Keys[0], r.Status, r.ErrorCode, r.ErrorMessage, nanos(r.At))
	return err
}

// receiptOnPart records a receipt on the part one of its keys names and
// moves the message as its parts decide; ErrNotFound when no part has a key.
func (t *tx) receiptOnPart(r message.Receipt) error {
	if len(r.Keys) == 0 {
		return store.ErrNotFound
	}
	var sid, key string
	var total int
	k1, k2, k3 := keys3(r.Keys)
	err := t.st.findPart.QueryRowContext(bg, r.Connector, k1, k2, k3).Scan(&sid, &total, &key)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	if total == 1 {
		// The part is the message.
		return t.advance(t.st.advance, sid, r.Status, r.ErrorCode, r.ErrorMessage, "", "", time.Time{}, r.At)
	}
	if _, err := t.exec(t.st.setPartStatus, r.Status, r.ErrorCode, r.Connector, key); err != nil {
		return err
	}
	rows, err := t.st.partsOf.QueryContext(bg, sid)
	if err != nil {
		return err
	}
	var parts []message.PartStatus
	for rows.Next() {
		var p message.PartStatus
		if err := rows.Scan(&p.Part, &p.Status, &p.ErrorCode); err != nil {
			rows.Close()
			return err
		}
		parts = append(parts, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
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
	return t.advance(t.st.advance, sid, status, code, errMsg, "", "", time.Time{}, r.At)
}

// advance moves a message to status when it may (message.Before) and
// stores its status callback when the status moved. With advanceDequeue it
// also takes the message out of the outbox, ErrNotFound when it is not there.
func (t *tx) advance(st *sql.Stmt, sid string, status message.Status, code int, errMsg, connector, pid string, sentAt, at time.Time) error {
	before := t.wrote
	if err := t.beforeWrite(); err != nil {
		return err
	}
	var moved bool
	var m message.Message
	err := st.QueryRowContext(bg, statusList(message.Before(status)), status, code, errMsg, connector, pid, nanos(sentAt), nanos(at), sid).
		Scan(&moved, &m.SID, &m.AccountSID, &m.Status, &m.To, &m.From, &m.ErrorCode, &m.ErrorMessage, &m.StatusCallback)
	if errors.Is(err, sql.ErrNoRows) {
		t.unchanged(before)
		return fmt.Errorf("advance message %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		t.failed = err
		return err
	}
	return t.insertCallbacks(callback.ForStatusChange(m, moved, at))
}

// AddInboundPart keeps a part of a long inbound message; see inbound.Store.
func (s *Store) AddInboundPart(ctx context.Context, p message.InboundPart) ([]message.InboundPart, error) {
	var out []message.InboundPart
	err := s.submit(ctx, normal, func(t *tx) error {
		out = out[:0]
		if _, err := t.exec(t.st.insertInboundPart, p.Connector, p.From, p.To, p.Ref, p.Total, p.Seq, p.Text, nanos(p.ReceivedAt)); err != nil {
			return err
		}
		rows, err := t.st.inboundParts.QueryContext(bg, p.Connector, p.From, p.To, p.Ref, p.Total)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			q := message.InboundPart{Connector: p.Connector, From: p.From, To: p.To, Ref: p.Ref, Total: p.Total}
			var at int64
			if err := rows.Scan(&q.Seq, &q.Text, &at); err != nil {
				return err
			}
			q.ReceivedAt = fromNanos(at)
			out = append(out, q)
		}
		return rows.Err()
	})
	return out, err
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
		if _, err := t.exec(t.st.insertMessage, m.SID, m.AccountSID, m.VerificationSID, m.Direction, m.From, m.To, m.Body, m.Status,
			m.Encoding, m.Segments, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage, nanos(m.CreatedAt), nanos(m.UpdatedAt), nanos(m.SentAt), m.StatusCallback); err != nil {
			return err
		}
		return t.insertCallbacks(cbs)
	})
}

// ClaimCallbacks leases due callbacks; see webhook.Store.
func (s *Store) ClaimCallbacks(ctx context.Context, now, leaseUntil time.Time, limit int) ([]callback.Callback, error) {
	var out []callback.Callback
	err := s.submit(ctx, normal, func(t *tx) error {
		out = out[:0]
		rows, err := t.query(t.st.claimCallbacks, nanos(leaseUntil), nanos(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c callback.Callback
			var created int64
			if err := rows.Scan(&c.SID, &c.Subject, &c.AccountSID, &c.URL, &c.Body, &c.Attempts, &created, &c.ContentType); err != nil {
				t.failed = err
				return err
			}
			c.CreatedAt, c.NextAttemptAt = fromNanos(created), leaseUntil.UTC()
			out = append(out, c)
		}
		if err := rows.Err(); err != nil {
			t.failed = err
			return err
		}
		slices.SortFunc(out, func(a, b callback.Callback) int { return strings.Compare(a.SID, b.SID) })
		return nil
	})
	return out, err
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
	return s.submit(ctx, lazy, func(t *tx) error {
		_, err := t.exec(t.st.insertSandbox, e.SID, e.AccountSID, e.From, e.To, e.Body, e.Segments, e.Encoding, nanos(e.CreatedAt))
		return err
	})
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
