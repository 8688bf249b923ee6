package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/otpgate/otpgate/internal/store"
)

// stmts are the writer connection's prepared statements.
type stmts struct {
	begin, commit, rollback, savepoint, rollbackTo, release, restartWAL *sql.Stmt

	service, insertService                                                                          *sql.Stmt
	serviceBySID, setEventsURL, dueExpirations                                                      *sql.Stmt
	setServiceCodes                                                                                 *sql.Stmt
	recordCheck                                                                                     *sql.Stmt
	latestVerification, insertVerification, updateVerification                                      *sql.Stmt
	insertMessage, message, advanceMessage                                                          *sql.Stmt
	redactMessage, deleteMessage, insertQueued                                                      *sql.Stmt
	advanceMessageQuiet                                                                             *sql.Stmt
	cancelOutbox                                                                                    *sql.Stmt
	advanceDequeue, advanceDequeueQuiet                                                             *sql.Stmt
	setSMSURL, account                                                                              *sql.Stmt
	enqueueCallback, insertAttempt, deleteCallback, retryCallback, claimCallbacks, releaseCallbacks *sql.Stmt
	enqueue, deleteOutbox, rescheduleOutbox, claimOutbox                                            *sql.Stmt
	insertPart, findPart, setPartStatus, partsOf                                                    *sql.Stmt
	insertOrphan, findOrphan, deleteOrphan                                                          *sql.Stmt
	insertInboundPart, inboundParts, deleteInboundParts                                             *sql.Stmt
	insertSandbox, insertAccount, releaseLeases                                                     *sql.Stmt
	all                                                                                             []*sql.Stmt
}

const verificationCols = `sid, account_sid, service_sid, to_number, from_addr, channel, status, codes, send_attempts, check_attempts, created_at, updated_at, expires_at`

// dequeueSet takes a message out of the outbox.
const dequeueSet = `ob_queued = 0, ob_payload = NULL, ob_claimed = 0`

// advanceSet is AdvanceMessage's update; see Tx.AdvanceMessage.
const advanceSet = `UPDATE messages SET
		status        = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?2 ELSE status END,
		error_code    = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?3 ELSE error_code END,
		error_message = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?4 ELSE error_message END,
		connector     = CASE WHEN ?5 != '' THEN ?5 ELSE connector END,
		provider_id   = CASE WHEN ?6 != '' THEN ?6 ELSE provider_id END,
		sent_at       = CASE WHEN ?7 != 0 THEN ?7 ELSE sent_at END,
		updated_at    = ?8`

const messageCols = `sid, account_sid, verification_sid, direction, from_addr, to_number, body, status, encoding, segments, connector, provider_id, error_code, error_message, created_at, updated_at, sent_at, status_callback`

func (s *stmts) prepare(ctx context.Context, c *sql.Conn) error {
	var err error
	p := func(dst **sql.Stmt, q string) {
		if err != nil {
			return
		}
		*dst, err = c.PrepareContext(ctx, q)
		if err != nil {
			err = fmt.Errorf("prepare %q: %w", q, err)
			return
		}
		s.all = append(s.all, *dst)
	}
	p(&s.begin, `BEGIN IMMEDIATE`)
	p(&s.commit, `COMMIT`)
	p(&s.rollback, `ROLLBACK`)
	p(&s.savepoint, `SAVEPOINT op`)
	p(&s.rollbackTo, `ROLLBACK TO op`)
	p(&s.release, `RELEASE op`)
	p(&s.restartWAL, `PRAGMA wal_checkpoint(RESTART)`)
	p(&s.service, `SELECT sid, account_sid, name, code_length, ttl_ns, created_at, events_url FROM services WHERE account_sid = ? AND name = ?`)
	p(&s.serviceBySID, `SELECT sid, account_sid, name, code_length, ttl_ns, created_at, events_url FROM services WHERE sid = ?`)
	p(&s.setEventsURL, `UPDATE services SET events_url = ? WHERE sid = ?`)
	p(&s.setServiceCodes, `UPDATE services SET code_length = ?, ttl_ns = ? WHERE sid = ?`)
	p(&s.dueExpirations, `SELECT `+verificationCols+` FROM verifications WHERE expires_at > ? AND expires_at <= ? AND status = 'pending' ORDER BY expires_at LIMIT ?`)
	p(&s.recordCheck, `UPDATE verifications SET status = ?, check_attempts = ?, updated_at = ? WHERE sid = ?`)
	p(&s.insertService, `INSERT INTO services (sid, account_sid, name, code_length, ttl_ns, created_at, events_url) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	p(&s.latestVerification, `SELECT `+verificationCols+` FROM verifications WHERE account_sid = ? AND service_sid = ? AND to_number = ? ORDER BY created_at DESC, sid DESC LIMIT 1`)
	p(&s.insertVerification, `INSERT INTO verifications (`+verificationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.updateVerification, `UPDATE verifications SET status = ?, codes = ?, send_attempts = ?, check_attempts = ?, updated_at = ?, expires_at = ?, from_addr = ? WHERE sid = ?`)
	p(&s.insertMessage, `INSERT INTO messages (`+messageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.redactMessage, `UPDATE messages SET body = '', updated_at = ? WHERE sid = ?`)
	p(&s.deleteMessage, `DELETE FROM messages WHERE sid = ?`)
	p(&s.insertQueued, `INSERT INTO messages (`+messageCols+`, ob_queued, ob_payload, ob_attempts, ob_due, ob_claimed, ob_last_error, ob_expires_at, ob_created_at, ob_quiet)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`)
	// ?1 is ",st1,st2," the statuses the message may be in for ?2 to apply.
	p(&s.advanceMessage, advanceSet+`,
		last_transition = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?2 ELSE '' END
		WHERE sid = ?9
		RETURNING last_transition != '', `+messageCols)
	p(&s.advanceMessageQuiet, advanceSet+` WHERE sid = ?9`)
	p(&s.advanceDequeue, advanceSet+`, `+dequeueSet+`,
		last_transition = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?2 ELSE '' END
		WHERE sid = ?9 AND ob_queued = 1
		RETURNING last_transition != '', `+messageCols)
	p(&s.advanceDequeueQuiet, advanceSet+`, `+dequeueSet+` WHERE sid = ?9 AND ob_queued = 1`)
	p(&s.message, `SELECT `+messageCols+` FROM messages WHERE sid = ?`)
	p(&s.enqueue, `UPDATE messages SET ob_queued = 1, ob_payload = ?, ob_attempts = ?, ob_due = ?, ob_last_error = ?, ob_expires_at = ?,
		ob_created_at = ?, ob_claimed = ?, ob_quiet = ? WHERE sid = ?`)
	p(&s.deleteOutbox, `UPDATE messages SET `+dequeueSet+` WHERE sid = ? AND ob_queued = 1`)
	p(&s.cancelOutbox, `UPDATE messages SET `+dequeueSet+` WHERE sid = ? AND ob_queued = 1 AND ob_claimed = 0`)
	p(&s.rescheduleOutbox, `UPDATE messages SET ob_attempts = ?, ob_due = ?, ob_last_error = ?, ob_claimed = 0 WHERE sid = ? AND ob_queued = 1`)
	// RETURNING gives rows in no set order; claimed_due (the old due time,
	// as SET reads the row before the update) lets the caller sort them.
	p(&s.claimOutbox, `UPDATE messages SET ob_claimed_due = ob_due, ob_due = ?1, ob_claimed = 1
		WHERE sid IN (SELECT sid FROM messages WHERE ob_queued = 1 AND ob_due <= ?2 ORDER BY ob_due LIMIT ?3)
		RETURNING sid, account_sid, from_addr, to_number, ob_payload, ob_attempts, ob_last_error, ob_expires_at, ob_created_at, ob_claimed_due, ob_quiet`)
	p(&s.insertSandbox, `INSERT INTO sandbox_messages (sid, account_sid, from_addr, to_number, body, segments, encoding, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING`)
	p(&s.releaseLeases, `UPDATE messages SET ob_due = ob_created_at, ob_claimed = 0 WHERE ob_queued = 1 AND ob_claimed = 1`)
	p(&s.insertPart, `INSERT INTO message_parts (connector, smsc_id, message_sid, part) VALUES (?, ?, ?, ?)
		ON CONFLICT (connector, smsc_id) DO UPDATE SET message_sid = excluded.message_sid, part = excluded.part, status = '', error_code = 0`)
	p(&s.findPart, `SELECT message_sid FROM message_parts WHERE connector = ? AND smsc_id = ?`)
	p(&s.setPartStatus, `UPDATE message_parts SET status = ?, error_code = ? WHERE connector = ? AND smsc_id = ?`)
	p(&s.partsOf, `SELECT part, status, error_code FROM message_parts WHERE message_sid = ? ORDER BY part`)
	p(&s.insertOrphan, `INSERT INTO orphan_receipts (connector, smsc_id, status, error_code, error_message, received_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (connector, smsc_id) DO UPDATE SET status = excluded.status, error_code = excluded.error_code, error_message = excluded.error_message, received_at = excluded.received_at`)
	p(&s.findOrphan, `SELECT connector, smsc_id, status, error_code, error_message, received_at FROM orphan_receipts WHERE connector = ? AND smsc_id = ?`)
	p(&s.deleteOrphan, `DELETE FROM orphan_receipts WHERE connector = ? AND smsc_id = ?`)
	p(&s.insertInboundPart, `INSERT INTO inbound_parts (connector, from_addr, to_addr, ref, total, seq, text, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`)
	p(&s.inboundParts, `SELECT seq, text, received_at FROM inbound_parts WHERE connector = ? AND from_addr = ? AND to_addr = ? AND ref = ? AND total = ? ORDER BY seq`)
	p(&s.deleteInboundParts, `DELETE FROM inbound_parts WHERE connector = ? AND from_addr = ? AND to_addr = ? AND ref = ? AND total = ?`)
	p(&s.setSMSURL, `UPDATE accounts SET sms_url = ? WHERE sid = ?`)
	p(&s.account, `SELECT sid, name, token_hash, created_at, sms_url FROM accounts WHERE sid = ?`)
	p(&s.insertAccount, `INSERT INTO accounts (sid, name, token_hash, created_at, token_sealed) VALUES (?, ?, ?, ?, ?)`)
	p(&s.enqueueCallback, `INSERT INTO callbacks (sid, message_sid, account_sid, url, params, attempts, next_attempt_at, created_at, content_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.insertAttempt, `INSERT INTO callback_attempts (callback_sid, attempt, message_sid, url, at, status_code, error, duration_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`)
	p(&s.deleteCallback, `DELETE FROM callbacks WHERE sid = ?`)
	p(&s.retryCallback, `UPDATE callbacks SET attempts = ?, next_attempt_at = ?, claimed = 0 WHERE sid = ?`)
	p(&s.claimCallbacks, `UPDATE callbacks SET next_attempt_at = ?1, claimed = 1
		WHERE sid IN (SELECT c.sid FROM callbacks c WHERE c.next_attempt_at <= ?2
			AND c.sid = (SELECT min(d.sid) FROM callbacks d WHERE d.message_sid = c.message_sid)
			ORDER BY c.next_attempt_at LIMIT ?3)
		RETURNING sid, message_sid, account_sid, url, params, attempts, created_at, content_type`)
	p(&s.releaseCallbacks, `UPDATE callbacks SET next_attempt_at = created_at, claimed = 0 WHERE claimed = 1`)
	if err != nil {
		s.close()
	}
	return err
}

func (s *stmts) close() {
	for _, st := range s.all {
		st.Close()
	}
	s.all = nil
}

var _ store.Tx = (*tx)(nil)

// tx is the store.Tx the writer hands to each op. An op's first write opens a
// savepoint, so an op that fails leaves no trace in the group.
type tx struct {
	st          *stmts
	safe        bool // wrap the op's writes in a savepoint
	inSavepoint bool
	wrote       bool
	failed      error
}

func (t *tx) reset(safe bool) { t.safe, t.inSavepoint, t.wrote, t.failed = safe, false, false, nil }

// beforeWrite opens the op's savepoint in a safe pass and notes that the op wrote.
func (t *tx) beforeWrite() error {
	t.wrote = true
	if t.safe && !t.inSavepoint {
		if _, err := t.st.savepoint.ExecContext(bg); err != nil {
			t.failed = err
			return err
		}
		t.inSavepoint = true
	}
	return nil
}

var bg = context.Background()

func (t *tx) exec(s *sql.Stmt, args ...any) error {
	if err := t.beforeWrite(); err != nil {
		return err
	}
	if _, err := s.ExecContext(bg, args...); err != nil {
		t.failed = err
		return err
	}
	return nil
}

// execOne is exec for statements that must change exactly one row.
func (t *tx) execOne(s *sql.Stmt, what string, args ...any) error {
	if err := t.beforeWrite(); err != nil {
		return err
	}
	res, err := s.ExecContext(bg, args...)
	if err != nil {
		t.failed = err
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

func (t *tx) Service(accountSID, name string) (store.Service, error) {
	return scanService(t.st.service.QueryRowContext(bg, accountSID, name))
}

func (t *tx) ServiceBySID(sid string) (store.Service, error) {
	return scanService(t.st.serviceBySID.QueryRowContext(bg, sid))
}

func scanService(row scanner) (store.Service, error) {
	var s store.Service
	var ttl, created int64
	if err := row.Scan(&s.SID, &s.AccountSID, &s.Name, &s.CodeLength, &ttl, &created, &s.EventsURL); err != nil {
		return store.Service{}, notFound(err)
	}
	s.TTL, s.CreatedAt = time.Duration(ttl), fromNanos(created)
	return s, nil
}

func (t *tx) SetServiceEventsURL(serviceSID, url string) error {
	return t.execOne(t.st.setEventsURL, "set events_url of service "+serviceSID, url, serviceSID)
}

func (t *tx) RecordCheck(v store.Verification) error {
	return t.execOne(t.st.recordCheck, "record check on verification "+v.SID, v.Status, v.CheckAttempts, nanos(v.UpdatedAt), v.SID)
}

func (t *tx) SetServiceCodes(serviceSID string, codeLength int, ttl time.Duration) error {
	return t.execOne(t.st.setServiceCodes, "set codes of service "+serviceSID, codeLength, int64(ttl), serviceSID)
}

func (t *tx) DueExpirations(since, now time.Time, limit int) ([]store.Verification, error) {
	rows, err := t.st.dueExpirations.QueryContext(bg, nanos(since), nanos(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Verification
	for rows.Next() {
		v, err := scanVerification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *tx) InsertService(s store.Service) error {
	return t.exec(t.st.insertService, s.SID, s.AccountSID, s.Name, s.CodeLength, int64(s.TTL), nanos(s.CreatedAt), s.EventsURL)
}

func (t *tx) LatestVerification(accountSID, serviceSID, to string) (store.Verification, error) {
	return scanVerification(t.st.latestVerification.QueryRowContext(bg, accountSID, serviceSID, to))
}

func scanVerification(row scanner) (store.Verification, error) {
	var v store.Verification
	var codes []byte
	var created, updated, expires int64
	err := row.Scan(&v.SID, &v.AccountSID, &v.ServiceSID, &v.To, &v.From, &v.Channel, &v.Status, &codes,
		&v.SendAttempts, &v.CheckAttempts, &created, &updated, &expires)
	if err != nil {
		return store.Verification{}, notFound(err)
	}
	v.CreatedAt, v.UpdatedAt, v.ExpiresAt = fromNanos(created), fromNanos(updated), fromNanos(expires)
	v.Codes, err = decodeCodes(codes)
	return v, err
}

func (t *tx) InsertVerification(v store.Verification) error {
	return t.exec(t.st.insertVerification, v.SID, v.AccountSID, v.ServiceSID, v.To, v.From, v.Channel, v.Status,
		encodeCodes(v.Codes), v.SendAttempts, v.CheckAttempts, nanos(v.CreatedAt), nanos(v.UpdatedAt), nanos(v.ExpiresAt))
}

func (t *tx) UpdateVerification(v store.Verification) error {
	return t.execOne(t.st.updateVerification, "update verification "+v.SID, v.Status, encodeCodes(v.Codes), v.SendAttempts, v.CheckAttempts,
		nanos(v.UpdatedAt), nanos(v.ExpiresAt), v.From, v.SID)
}

func (t *tx) InsertMessage(m store.Message) error {
	return t.exec(t.st.insertMessage, m.SID, m.AccountSID, m.VerificationSID, m.Direction, m.From, m.To, m.Body, m.Status,
		m.Encoding, m.Segments, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage, nanos(m.CreatedAt), nanos(m.UpdatedAt), nanos(m.SentAt), m.StatusCallback)
}

func (t *tx) Message(sid string) (store.Message, error) {
	return scanMessage(t.st.message.QueryRowContext(bg, sid))
}

type scanner interface{ Scan(dest ...any) error }

func scanMessage(row scanner) (store.Message, error) {
	var m store.Message
	var created, updated, sent int64
	err := row.Scan(&m.SID, &m.AccountSID, &m.VerificationSID, &m.Direction, &m.From, &m.To, &m.Body, &m.Status,
		&m.Encoding, &m.Segments, &m.Connector, &m.ProviderID, &m.ErrorCode, &m.ErrorMessage, &created, &updated, &sent, &m.StatusCallback)
	if err != nil {
		return store.Message{}, notFound(err)
	}
	m.CreatedAt, m.UpdatedAt, m.SentAt = fromNanos(created), fromNanos(updated), fromNanos(sent)
	return m, nil
}

func (t *tx) Account(sid string) (store.Account, error) {
	var a store.Account
	var created int64
	err := t.st.account.QueryRowContext(bg, sid).Scan(&a.SID, &a.Name, &a.TokenHash, &created, &a.SMSURL)
	if err != nil {
		return store.Account{}, notFound(err)
	}
	a.CreatedAt = fromNanos(created)
	return a, nil
}

func (t *tx) RedactMessage(sid string, at time.Time) error {
	return t.execOne(t.st.redactMessage, "redact message "+sid, nanos(at), sid)
}

func (t *tx) DeleteMessage(sid string) error {
	return t.execOne(t.st.deleteMessage, "delete message "+sid, sid)
}

func (t *tx) InsertQueuedMessage(m store.Message, it store.OutboxItem) error {
	return t.exec(t.st.insertQueued, m.SID, m.AccountSID, m.VerificationSID, m.Direction, m.From, m.To, m.Body, m.Status,
		m.Encoding, m.Segments, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage, nanos(m.CreatedAt), nanos(m.UpdatedAt), nanos(m.SentAt), m.StatusCallback,
		it.Payload, it.Attempts, nanos(it.NextAttemptAt), it.Claimed, it.LastError, nanos(it.ExpiresAt), nanos(it.CreatedAt), it.Quiet)
}

func (t *tx) Enqueue(it store.OutboxItem) error {
	return t.execOne(t.st.enqueue, "enqueue message "+it.MessageSID, it.Payload, it.Attempts, nanos(it.NextAttemptAt), it.LastError,
		nanos(it.ExpiresAt), nanos(it.CreatedAt), it.Claimed, it.Quiet, it.MessageSID)
}

func (t *tx) DeleteOutbox(messageSID string) error {
	return t.execOne(t.st.deleteOutbox, "delete outbox item "+messageSID, messageSID)
}

func (t *tx) CancelOutbox(messageSID string) error {
	return t.execOne(t.st.cancelOutbox, "cancel outbox item "+messageSID, messageSID)
}

func (t *tx) RescheduleOutbox(messageSID string, attempts int, next time.Time, lastError string) error {
	return t.execOne(t.st.rescheduleOutbox, "reschedule outbox item "+messageSID, attempts, nanos(next), lastError, messageSID)
}

func (t *tx) AdvanceMessage(u store.MessageUpdate) (store.Transition, error) {
	from := ","
	for _, f := range u.From {
		from += f + ","
	}
	if u.Quiet {
		// The plain UPDATE: RETURNING the row costs more than the status change.
		st := t.st.advanceMessageQuiet
		if u.Dequeue {
			st = t.st.advanceDequeueQuiet
		}
		err := t.execOne(st, "advance message "+u.SID, from, u.Status, u.ErrorCode, u.ErrorMessage,
			u.Connector, u.ProviderID, nanos(u.SentAt), nanos(u.UpdatedAt), u.SID)
		return store.Transition{}, err
	}
	if err := t.beforeWrite(); err != nil {
		return store.Transition{}, err
	}
	st := t.st.advanceMessage
	if u.Dequeue {
		st = t.st.advanceDequeue
	}
	row := st.QueryRowContext(bg, from, u.Status, u.ErrorCode, u.ErrorMessage,
		u.Connector, u.ProviderID, nanos(u.SentAt), nanos(u.UpdatedAt), u.SID)
	var tr store.Transition
	m, err := scanMessage(transitionScanner{row, &tr.Changed})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return tr, fmt.Errorf("advance message %s: %w", u.SID, store.ErrNotFound)
		}
		t.failed = err
		return tr, err
	}
	tr.Message = m
	return tr, nil
}

// transitionScanner reads RETURNING's extra first column, whether the status
// changed, before the message's columns.
type transitionScanner struct {
	row     *sql.Row
	changed *bool
}

func (s transitionScanner) Scan(dest ...any) error {
	return s.row.Scan(append([]any{s.changed}, dest...)...)
}

func (t *tx) EnqueueCallback(c store.Callback) error {
	return t.exec(t.st.enqueueCallback, c.SID, c.MessageSID, c.AccountSID, c.URL, c.Params, c.Attempts, nanos(c.NextAttemptAt), nanos(c.CreatedAt), c.ContentType)
}

func (t *tx) insertAttempt(a store.CallbackAttempt) error {
	return t.exec(t.st.insertAttempt, a.CallbackSID, a.Attempt, a.MessageSID, a.URL, nanos(a.At), a.StatusCode, a.Error, int64(a.Duration))
}

func (t *tx) FinishCallback(c store.Callback, a store.CallbackAttempt) error {
	if err := t.insertAttempt(a); err != nil {
		return err
	}
	return t.execOne(t.st.deleteCallback, "finish callback "+c.SID, c.SID)
}

func (t *tx) RetryCallback(c store.Callback, a store.CallbackAttempt, next time.Time) error {
	if err := t.insertAttempt(a); err != nil {
		return err
	}
	return t.execOne(t.st.retryCallback, "retry callback "+c.SID, a.Attempt, nanos(next), c.SID)
}

func (t *tx) claimCallbacks(now, leaseUntil time.Time, limit int) ([]store.Callback, error) {
	if err := t.beforeWrite(); err != nil {
		return nil, err
	}
	rows, err := t.st.claimCallbacks.QueryContext(bg, nanos(leaseUntil), nanos(now), limit)
	if err != nil {
		t.failed = err
		return nil, err
	}
	defer rows.Close()
	var out []store.Callback
	for rows.Next() {
		var c store.Callback
		var created int64
		if err := rows.Scan(&c.SID, &c.MessageSID, &c.AccountSID, &c.URL, &c.Params, &c.Attempts, &created, &c.ContentType); err != nil {
			t.failed = err
			return nil, err
		}
		c.CreatedAt, c.NextAttemptAt = fromNanos(created), leaseUntil
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		t.failed = err
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SID < out[j].SID })
	return out, nil
}

func (t *tx) InsertMessageParts(messageSID, connector string, smscIDs []string) error {
	for i, id := range smscIDs {
		if err := t.exec(t.st.insertPart, connector, id, messageSID, i+1); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) PartReceipt(connector string, keys []string, status string, errorCode int) (string, []store.PartStatus, error) {
	var sid string
	for _, k := range keys {
		err := t.st.findPart.QueryRowContext(bg, connector, k).Scan(&sid)
		if err == nil {
			if err := t.exec(t.st.setPartStatus, status, errorCode, connector, k); err != nil {
				return "", nil, err
			}
			break
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", nil, err
		}
	}
	if sid == "" {
		return "", nil, store.ErrNotFound
	}
	rows, err := t.st.partsOf.QueryContext(bg, sid)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	var parts []store.PartStatus
	for rows.Next() {
		var p store.PartStatus
		if err := rows.Scan(&p.Part, &p.Status, &p.ErrorCode); err != nil {
			return "", nil, err
		}
		parts = append(parts, p)
	}
	return sid, parts, rows.Err()
}

func (t *tx) InsertOrphanReceipt(r store.OrphanReceipt) error {
	return t.exec(t.st.insertOrphan, r.Connector, r.SMSCID, r.Status, r.ErrorCode, r.ErrorMessage, nanos(r.ReceivedAt))
}

func (t *tx) TakeOrphanReceipts(connector string, keys []string) ([]store.OrphanReceipt, error) {
	var out []store.OrphanReceipt
	for _, k := range keys {
		var r store.OrphanReceipt
		var at int64
		err := t.st.findOrphan.QueryRowContext(bg, connector, k).Scan(&r.Connector, &r.SMSCID, &r.Status, &r.ErrorCode, &r.ErrorMessage, &at)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := t.exec(t.st.deleteOrphan, connector, k); err != nil {
			return nil, err
		}
		r.ReceivedAt = fromNanos(at)
		out = append(out, r)
	}
	return out, nil
}

func (t *tx) AddInboundPart(p store.InboundPart) ([]store.InboundPart, error) {
	if err := t.exec(t.st.insertInboundPart, p.Connector, p.From, p.To, p.Ref, p.Total, p.Seq, p.Text, nanos(p.ReceivedAt)); err != nil {
		return nil, err
	}
	rows, err := t.st.inboundParts.QueryContext(bg, p.Connector, p.From, p.To, p.Ref, p.Total)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.InboundPart
	for rows.Next() {
		q := store.InboundPart{Connector: p.Connector, From: p.From, To: p.To, Ref: p.Ref, Total: p.Total}
		var at int64
		if err := rows.Scan(&q.Seq, &q.Text, &at); err != nil {
			return nil, err
		}
		q.ReceivedAt = fromNanos(at)
		out = append(out, q)
	}
	return out, rows.Err()
}

func (t *tx) DeleteInboundParts(p store.InboundPart) error {
	return t.exec(t.st.deleteInboundParts, p.Connector, p.From, p.To, p.Ref, p.Total)
}

func (t *tx) InsertSandboxMessage(m store.SandboxMessage) error {
	return t.exec(t.st.insertSandbox, m.SID, m.AccountSID, m.From, m.To, m.Body, m.Segments, m.Encoding, nanos(m.CreatedAt))
}

func (t *tx) claim(now, leaseUntil time.Time, limit int) ([]store.OutboxItem, error) {
	if err := t.beforeWrite(); err != nil {
		return nil, err
	}
	rows, err := t.st.claimOutbox.QueryContext(bg, nanos(leaseUntil), nanos(now), limit)
	if err != nil {
		t.failed = err
		return nil, err
	}
	defer rows.Close()
	var items []store.OutboxItem
	var due []int64
	for rows.Next() {
		var it store.OutboxItem
		var created, expires, wasDue int64
		if err := rows.Scan(&it.MessageSID, &it.AccountSID, &it.From, &it.To, &it.Payload, &it.Attempts, &it.LastError, &expires, &created, &wasDue, &it.Quiet); err != nil {
			t.failed = err
			return nil, err
		}
		it.CreatedAt, it.ExpiresAt, it.NextAttemptAt = fromNanos(created), fromNanos(expires), leaseUntil
		items = append(items, it)
		due = append(due, wasDue)
	}
	if err := rows.Err(); err != nil {
		t.failed = err
		return nil, err
	}
	// Oldest due first; ties in SID order, which is creation order.
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		if due[idx[a]] != due[idx[b]] {
			return due[idx[a]] < due[idx[b]]
		}
		return items[idx[a]].MessageSID < items[idx[b]].MessageSID
	})
	sorted := make([]store.OutboxItem, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	return sorted, nil
}

// Codes are stored as a blob of 40-byte entries: expiry (8 bytes, big-endian
// Unix nanoseconds) then the 32-byte HMAC.
const codeEntryLen = 40

func encodeCodes(codes []store.Code) []byte {
	b := make([]byte, 0, len(codes)*codeEntryLen)
	for _, c := range codes {
		b = binary.BigEndian.AppendUint64(b, uint64(nanos(c.ExpiresAt)))
		var h [32]byte
		copy(h[:], c.Hash)
		b = append(b, h[:]...)
	}
	return b
}

func decodeCodes(b []byte) ([]store.Code, error) {
	if len(b)%codeEntryLen != 0 {
		return nil, fmt.Errorf("sqlite: corrupt codes column (%d bytes)", len(b))
	}
	codes := make([]store.Code, 0, len(b)/codeEntryLen)
	for ; len(b) > 0; b = b[codeEntryLen:] {
		codes = append(codes, store.Code{
			ExpiresAt: fromNanos(int64(binary.BigEndian.Uint64(b[:8]))),
			Hash:      append([]byte(nil), b[8:codeEntryLen]...),
		})
	}
	return codes, nil
}
