package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/sqlstore"
	"github.com/otpgate/otpgate/internal/store"
)

// stmts are the writer connection's prepared statements.
type stmts struct {
	begin, commit, rollback, savepoint, rollbackTo, release, restartWAL *sql.Stmt

	service, serviceBySID, insertService                     *sql.Stmt
	latestVerification, insertVerification, sendVerification *sql.Stmt
	blocking                                                 *sql.Stmt
	countCheck, setVerificationStatus, resolveVerification   *sql.Stmt
	insertQueued, insertMessage, message                     *sql.Stmt
	insertDelivered                                          *sql.Stmt
	redactMessage, cancelMessage, deleteMessage              *sql.Stmt
	advance, advanceDequeue                                  *sql.Stmt
	advanceQuiet, advanceDequeueQuiet                        *sql.Stmt
	receiptQuiet                                             *sql.Stmt
	claimOutbox, rescheduleOutbox, releaseLeases             *sql.Stmt
	insertPart, findPart, setPartStatus, partsOf             *sql.Stmt
	insertOrphan, findOrphan, deleteOrphan, forgetOrphans    *sql.Stmt
	someOrphans                                              *sql.Stmt
	insertInboundPart, inboundParts, deleteInboundParts      *sql.Stmt
	insertCallback, insertAttempt, deleteCallback            *sql.Stmt
	retryCallback, claimCallbacks, releaseCallbacks          *sql.Stmt
	releaseCallback                                          *sql.Stmt
	insertSandbox, insertAccount, setSMSURL, updateService   *sql.Stmt
	setCountries, setPolicy, limitSlots, putLimit            *sql.Stmt
	forgetLimits, insertFallback, claimFallback              *sql.Stmt
	insertLimit, deleteService, deleteServiceVerifications   *sql.Stmt
	setSecondary, deleteSecondary, promoteSecondary          *sql.Stmt
	setPrimary, setDisabled                                  *sql.Stmt
	redactSandbox, deleteSandbox, forgetSandbox              *sql.Stmt
	guardAdd, guardPutBlock, guardLift, guardLiftCounts      *sql.Stmt
	guardSafeList, guardSafeAdd, guardSafeRemove             *sql.Stmt
	guardForgetPrefixes, guardForgetCounts, guardForgetBlock *sql.Stmt
	consoleStmts                                             // console.go
	auditStmts                                               // audit.go
	metaStmts                                                // meta.go
	factorStmts                                              // factors.go
	all                                                      []*sql.Stmt
}

// dequeueSet takes a message out of the outbox.
const dequeueSet = `ob_queued = 0, ob_payload = NULL, ob_claimed = 0`

// advanceSet moves a message's status if it is one of ?1 (",st1,st2,"),
// and sets what an outcome or receipt brings. last_transition records
// whether the status moved, for RETURNING (which sees the row after).
const advanceSet = `UPDATE messages SET
		status          = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?2 ELSE status END,
		error_code      = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?3 ELSE error_code END,
		error_message   = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?4 ELSE error_message END,
		last_transition = CASE WHEN instr(?1, ',' || status || ',') > 0 THEN ?2 ELSE '' END,
		connector       = CASE WHEN ?5 != '' THEN ?5 ELSE connector END,
		provider_id     = CASE WHEN ?6 != '' THEN ?6 ELSE provider_id END,
		sent_at         = CASE WHEN ?7 != 0 THEN ?7 ELSE sent_at END,
		final_at        = CASE WHEN instr(?1, ',' || status || ',') > 0 AND ?2 IN ('delivered', 'undelivered', 'failed') THEN ?8 ELSE final_at END,
		updated_at      = ?8`

// quietSet is advanceSet for a row whose status moves (the caller's WHERE
// says so).
const quietSet = `UPDATE messages SET
		status          = ?2,
		error_code      = ?3,
		error_message   = ?4,
		last_transition = ?2,
		connector       = CASE WHEN ?5 != '' THEN ?5 ELSE connector END,
		provider_id     = CASE WHEN ?6 != '' THEN ?6 ELSE provider_id END,
		sent_at         = CASE WHEN ?7 != 0 THEN ?7 ELSE sent_at END,
		final_at        = CASE WHEN ?2 IN ('delivered', 'undelivered', 'failed') THEN ?8 ELSE final_at END,
		updated_at      = ?8`

// advanced is what an advance returns: whether the status moved, and the
// message as callback.ForStatusChange needs it.
const advanced = `last_transition != '', sid, account_sid, status, to_number, from_addr, error_code, error_message, status_callback`

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

	p(&s.service, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE account_sid = ? AND name = ?`)
	p(&s.serviceBySID, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE sid = ?`)
	p(&s.insertService, `INSERT INTO services (`+sqlstore.ServiceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_sid, name) DO NOTHING`)
	p(&s.deleteService, `DELETE FROM services WHERE sid = ? AND account_sid = ?`)
	p(&s.deleteServiceVerifications, `DELETE FROM verifications WHERE service_sid = ? AND account_sid = ?`)
	p(&s.updateService, `UPDATE services SET code_length = ?, ttl_ns = ?, events_url = ?, countries = ?, texts = ?, fallback_channel = ?, fallback_after_ns = ? WHERE sid = ?`)
	// A verification's fallback, recorded with its code SMS (a resend's replaces it).
	p(&s.insertFallback, `INSERT INTO fallbacks (`+sqlstore.FallbackCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (verification_sid) DO UPDATE SET message_sid = excluded.message_sid, address = excluded.address, locale = excluded.locale,
		due_at = excluded.due_at, created_at = excluded.created_at`)
	p(&s.claimFallback, `DELETE FROM fallbacks WHERE verification_sid = ? AND message_sid = ?`)

	p(&s.latestVerification, `SELECT `+sqlstore.VerificationCols+` FROM verifications WHERE account_sid = ? AND service_sid = ? AND to_number = ? ORDER BY created_at DESC, sid DESC LIMIT 1`)
	// Whether a verification of a key is live and pending or locked
	// (verification.Blocks): a new one may not start. Asked in the op that
	// inserts (the writer is alone, so nothing comes in between); an
	// INSERT ... SELECT from the same table would cost twice as much.
	p(&s.blocking, `SELECT 1 FROM verifications WHERE account_sid = ? AND service_sid = ? AND to_number = ?
		AND status IN ('pending', 'max_attempts_reached') AND expires_at > ? LIMIT 1`)
	p(&s.insertVerification, `INSERT INTO verifications (`+sqlstore.VerificationCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	// One more code, if no other send or check moved the verification on.
	p(&s.sendVerification, `UPDATE verifications SET codes = ?, send_attempts = ?, updated_at = ?, expires_at = ?, from_addr = ?
		WHERE sid = ? AND send_attempts = ? AND status = 'pending'`)
	// One more check, with the limit (the op read the row first: the
	// writer is alone, so this is its compare-and-set).
	p(&s.countCheck, `UPDATE verifications SET check_attempts = check_attempts + 1, updated_at = ?
		WHERE sid = ? AND status = 'pending' AND check_attempts < ?`)
	p(&s.setVerificationStatus, `UPDATE verifications SET status = ?, updated_at = ? WHERE sid = ?`)
	// ?2 is ",st1,st2," the statuses it may be in; ?3 the latest expiry it
	// may have (0: any).
	p(&s.resolveVerification, `UPDATE verifications SET status = ?1, updated_at = ?4
		WHERE sid = ?5 AND instr(?2, ',' || status || ',') > 0 AND (?3 = 0 OR expires_at <= ?3)`)

	p(&s.insertQueued, `INSERT INTO messages (`+sqlstore.MessageCols+`, ob_queued, ob_payload, ob_attempts, ob_due, ob_claimed, ob_last_error, ob_expires_at, ob_created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 0, ?, ?, '', ?, ?)`)
	p(&s.insertMessage, `INSERT INTO messages (`+sqlstore.MessageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	// A message delivered in the write that stores it, as an outcome's
	// advance (quietSet, dequeueSet) leaves one stored queued: with its
	// last_transition and final_at, and what its outbox entry was.
	p(&s.insertDelivered, `INSERT INTO messages (`+sqlstore.MessageCols+`, last_transition, final_at, ob_due, ob_expires_at, ob_created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.message, `SELECT `+sqlstore.MessageCols+` FROM messages WHERE sid = ?`)
	p(&s.redactMessage, `UPDATE messages SET body = '', updated_at = ? WHERE sid = ? AND account_sid = ? AND instr(?, ',' || status || ',') > 0`)
	p(&s.cancelMessage, `UPDATE messages SET status = 'canceled', last_transition = 'canceled', updated_at = ?, `+dequeueSet+`
		WHERE sid = ? AND account_sid = ? AND status = 'queued' AND ob_queued = 1 AND ob_claimed = 0
		RETURNING `+sqlstore.MessageCols)
	p(&s.deleteMessage, `DELETE FROM messages WHERE sid = ? AND account_sid = ?`)
	p(&s.redactSandbox, `UPDATE sandbox_messages SET body = '' WHERE sid = ? AND account_sid = ?`)
	p(&s.deleteSandbox, `DELETE FROM sandbox_messages WHERE sid = ? AND account_sid = ?`)
	p(&s.forgetSandbox, `DELETE FROM sandbox_messages WHERE created_at < ?`)
	p(&s.advance, advanceSet+` WHERE sid = ?9 RETURNING `+advanced)
	p(&s.advanceDequeue, advanceSet+`, `+dequeueSet+` WHERE sid = ?9 AND ob_queued = 1 RETURNING `+advanced)
	// The common case, cheaper: the status moves and the message has no
	// status callback, so nothing is to be returned.
	p(&s.advanceQuiet, quietSet+` WHERE sid = ?9 AND status_callback = '' AND instr(?1, ',' || status || ',') > 0`)
	p(&s.advanceDequeueQuiet, quietSet+`, `+dequeueSet+` WHERE sid = ?9 AND ob_queued = 1 AND status_callback = '' AND instr(?1, ',' || status || ',') > 0`)
	// A receipt's common case in one statement: a message of one part,
	// stored under the receipt's first key, whose status moves and that has
	// no status callback.
	p(&s.receiptQuiet, quietSet+` WHERE sid = (SELECT message_sid FROM message_parts WHERE connector = ?9 AND smsc_id = ?10 AND total = 1)
		AND status_callback = '' AND instr(?1, ',' || status || ',') > 0`)

	// RETURNING gives rows in no set order; claimed_due (the old due time,
	// as SET reads the row before the update) lets the caller sort them.
	p(&s.claimOutbox, `UPDATE messages SET ob_claimed_due = ob_due, ob_due = ?1, ob_claimed = 1
		WHERE sid IN (SELECT sid FROM messages WHERE ob_queued = 1 AND ob_due <= ?2 ORDER BY ob_due LIMIT ?3)
		RETURNING sid, account_sid, from_addr, to_number, ob_payload, ob_attempts, ob_last_error, ob_expires_at, ob_created_at, ob_claimed_due, status_callback, channel, subject`)
	p(&s.rescheduleOutbox, `UPDATE messages SET ob_attempts = ?, ob_due = ?, ob_last_error = ?, ob_claimed = 0 WHERE sid = ? AND ob_queued = 1`)
	p(&s.releaseLeases, `UPDATE messages SET ob_due = ob_created_at, ob_claimed = 0 WHERE ob_queued = 1 AND ob_claimed = 1`)

	p(&s.insertPart, `INSERT INTO message_parts (connector, smsc_id, message_sid, part, total) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (connector, smsc_id) DO UPDATE SET message_sid = excluded.message_sid, part = excluded.part, total = excluded.total, status = '', error_code = 0`)
	// The part a key names (FindPart tries up to three).
	p(&s.findPart, `SELECT message_sid, total FROM message_parts WHERE connector = ? AND smsc_id = ?`)
	p(&s.setPartStatus, `UPDATE message_parts SET status = ?, error_code = ? WHERE connector = ? AND smsc_id = ?`)
	p(&s.partsOf, `SELECT part, status, error_code FROM message_parts WHERE message_sid = ? AND total != 1 ORDER BY part`)
	p(&s.insertOrphan, `INSERT INTO orphan_receipts (connector, smsc_id, status, error_code, error_message, received_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (connector, smsc_id) DO UPDATE SET status = excluded.status, error_code = excluded.error_code, error_message = excluded.error_message, received_at = excluded.received_at`)
	p(&s.findOrphan, `SELECT smsc_id, status, error_code, error_message FROM orphan_receipts WHERE connector = ?1 AND smsc_id IN (?2, ?3, ?4)`)
	p(&s.deleteOrphan, `DELETE FROM orphan_receipts WHERE connector = ? AND smsc_id = ?`)
	p(&s.forgetOrphans, `DELETE FROM orphan_receipts WHERE received_at < ?`)
	p(&s.someOrphans, `SELECT EXISTS (SELECT 1 FROM orphan_receipts)`)

	p(&s.insertInboundPart, `INSERT INTO inbound_parts (connector, from_addr, to_addr, ref, total, seq, text, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`)
	p(&s.inboundParts, `SELECT seq, text, received_at FROM inbound_parts WHERE connector = ? AND from_addr = ? AND to_addr = ? AND ref = ? AND total = ? ORDER BY seq`)
	p(&s.deleteInboundParts, `DELETE FROM inbound_parts WHERE connector = ? AND from_addr = ? AND to_addr = ? AND ref = ? AND total = ?`)

	p(&s.insertCallback, `INSERT INTO callbacks (sid, message_sid, account_sid, url, params, attempts, next_attempt_at, created_at, content_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
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
	p(&s.releaseCallback, `UPDATE callbacks SET next_attempt_at = ?, claimed = 0 WHERE sid = ? AND claimed = 1 AND next_attempt_at = ?`)

	p(&s.insertSandbox, `INSERT INTO sandbox_messages (sid, account_sid, from_addr, to_number, body, segments, encoding, created_at, channel, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING`)
	p(&s.insertAccount, `INSERT INTO accounts (sid, name, token_hash, created_at, token_sealed, policy) VALUES (?, ?, ?, ?, ?, ?)`)
	p(&s.setSMSURL, `UPDATE accounts SET sms_url = ? WHERE sid = ?`)
	p(&s.setCountries, `UPDATE accounts SET countries = ? WHERE sid = ?`)
	p(&s.setPolicy, `UPDATE accounts SET policy = ? WHERE sid = ?`)
	p(&s.setSecondary, `UPDATE accounts SET secondary_hash = ?, secondary_sealed = ?, secondary_created_at = ?, rev = rev + 1 WHERE sid = ?`)
	p(&s.deleteSecondary, `UPDATE accounts SET secondary_hash = NULL, secondary_sealed = NULL, secondary_created_at = 0, rev = rev + 1
		WHERE sid = ? AND secondary_hash IS NOT NULL`)
	p(&s.promoteSecondary, `UPDATE accounts SET token_hash = secondary_hash, token_sealed = secondary_sealed,
		secondary_hash = NULL, secondary_sealed = NULL, secondary_created_at = 0, rev = rev + 1 WHERE sid = ? AND secondary_hash IS NOT NULL`)
	p(&s.setPrimary, `UPDATE accounts SET token_hash = ?, token_sealed = ?, rev = rev + 1 WHERE sid = ?`)
	p(&s.setDisabled, `UPDATE accounts SET disabled = ?, rev = rev + 1 WHERE sid = ?`)
	p(&s.limitSlots, `SELECT slots FROM rate_limits WHERE key = ?`)
	p(&s.putLimit, `INSERT INTO rate_limits (key, slots, forget_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET slots = excluded.slots, forget_at = excluded.forget_at`)
	p(&s.forgetLimits, `DELETE FROM rate_limits WHERE forget_at <= ?`)
	p(&s.insertLimit, `INSERT INTO rate_limits (key, slots, forget_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`)
	p(&s.guardAdd, `INSERT INTO guard_counts (account_sid, key, minute, sends, approvals) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account_sid, key, minute) DO UPDATE SET sends = sends + excluded.sends, approvals = approvals + excluded.approvals`)
	p(&s.guardPutBlock, `INSERT INTO guard_blocks (account_sid, key, level, since, until, lifted, sends, approvals, window_ns, reason)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)
		ON CONFLICT (account_sid, key) DO UPDATE SET level = excluded.level, since = excluded.since, until = excluded.until, lifted = 0,
			sends = excluded.sends, approvals = excluded.approvals, window_ns = excluded.window_ns, reason = excluded.reason
		WHERE guard_blocks.lifted = 1 OR guard_blocks.until <= excluded.since`)
	p(&s.guardLift, `UPDATE guard_blocks SET until = ?1, lifted = 1 WHERE account_sid = ?2 AND key = ?3 AND lifted = 0 AND until > ?1
		RETURNING `+sqlstore.GuardBlockCols)
	p(&s.guardLiftCounts, `DELETE FROM guard_counts WHERE account_sid = ? AND key = ?`)
	p(&s.guardSafeList, `SELECT entry FROM guard_safe WHERE account_sid = ?`)
	p(&s.guardSafeAdd, `INSERT INTO guard_safe (account_sid, entry) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	p(&s.guardSafeRemove, `DELETE FROM guard_safe WHERE account_sid = ? AND entry = ?`)
	p(&s.guardForgetPrefixes, `DELETE FROM guard_counts WHERE minute < ? AND key LIKE 'prefix:%'`)
	p(&s.guardForgetCounts, `DELETE FROM guard_counts WHERE minute < ?`)
	p(&s.guardForgetBlock, `DELETE FROM guard_blocks WHERE until < ?`)
	s.prepareConsole(p)
	s.prepareAudit(p)
	s.prepareMeta(p)
	s.prepareFactors(p)
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

// tx is what the writer hands to each op: the write connection's
// statements, run in the group's transaction. An op's first write opens a
// savepoint in a safe pass, so an op that fails leaves no trace in the group.
type tx struct {
	st          *stmts
	safe        bool // wrap the op's writes in a savepoint
	inSavepoint bool
	wrote       bool
	failed      error
	callbacks   int // callbacks the op stored
	// noOrphans is the writer's: orphan_receipts is empty (see
	// writer.checkOrphans).
	noOrphans *bool
}

func (t *tx) reset(safe bool) {
	t.safe, t.inSavepoint, t.wrote, t.failed, t.callbacks = safe, false, false, nil, 0
}

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

// exec runs a write and returns how many rows it changed. A write that
// changed no row (a guard that did not hold) leaves the op as clean as it
// was: an op that then fails costs its group no second pass.
func (t *tx) exec(s *sql.Stmt, args ...any) (int64, error) {
	before := t.wrote
	if err := t.beforeWrite(); err != nil {
		return 0, err
	}
	res, err := s.ExecContext(bg, args...)
	if err != nil {
		t.failed = err
		return 0, err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		t.wrote = before
	}
	return n, err
}

// execOne runs a write that must change exactly one row; ErrNotFound if it
// changed none.
func (t *tx) execOne(s *sql.Stmt, what string, args ...any) error {
	n, err := t.exec(s, args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// query runs a write that returns rows (UPDATE ... RETURNING). A caller
// that finds it returned none calls unchanged with wrote's value from before.
func (t *tx) query(s *sql.Stmt, args ...any) (*sql.Rows, error) {
	if err := t.beforeWrite(); err != nil {
		return nil, err
	}
	rows, err := s.QueryContext(bg, args...)
	if err != nil {
		t.failed = err
	}
	return rows, err
}

// unchanged notes that the op's last write changed nothing: it has written
// only what it had before.
func (t *tx) unchanged(before bool) { t.wrote = before }

func (t *tx) InsertCallbacks(cbs []callback.Callback) error {
	for _, c := range cbs {
		if _, err := t.exec(t.st.insertCallback, c.SID, c.Subject, c.AccountSID, c.URL, c.Body, c.Attempts,
			nanos(c.NextAttemptAt), nanos(c.CreatedAt), string(c.ContentType)); err != nil {
			return err
		}
		t.callbacks++
	}
	return nil
}

// statusList is statuses as ",st1,st2," for the statements' instr tests.
func statusList[S ~string](ss []S) string {
	var b strings.Builder
	b.WriteByte(',')
	for _, s := range ss {
		b.WriteString(string(s))
		b.WriteByte(',')
	}
	return b.String()
}

// keys3 pads up to three keys to three (repeating the first) for the
// statements that look a part or a receipt up under any of its keys.
func keys3(keys []string) (string, string, string) {
	k := [3]string{}
	for i := range k {
		if i < len(keys) {
			k[i] = keys[i]
		} else if len(keys) > 0 {
			k[i] = keys[0]
		}
	}
	return k[0], k[1], k[2]
}
