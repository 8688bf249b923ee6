package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/otpgate/otpgate/internal/sqlstore"
	"github.com/otpgate/otpgate/internal/store"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/verification"
)

// The writes, each one op of a group commit (see writer.go); their
// contracts are the interfaces' (pipeline.Store, verify.Store, ...).

// InsertSend stores a send; see pipeline.Store. A new verification and its
// SMS are one statement (after the verification's lock): the message is
// inserted only if the verification was.
//
// Rate limits are counted in the same transaction, exact across nodes. A
// new verification whose keys have no counts yet (the common case: a
// number's first code in the hour) costs nothing more than that statement:
// it first inserts each key's first count where no row is (ON CONFLICT DO
// NOTHING, which waits for another transaction inserting the same key), and
// the verification and the message only if every key was new. Otherwise,
// and for resends and messages, the keys' rows are made (empty) where
// missing and read under row locks (FOR UPDATE), then written with the
// message.
//
// A fallback the change records or claims is written last, once the send
// is: a claim that finds its fallback gone fails the op, which is rolled
// back.
func (s *Store) InsertSend(ctx context.Context, m message.Message, o message.Outbound, v *verification.Change, limits ...ratelimit.Limit) error {
	return s.submit(ctx, normal, func(t *tx) error {
		err := t.insertSend(m, o, v, limits)
		if err == nil && o.Delivered != nil {
			err = sqlstore.RecordOutcome(t, *o.Delivered)
		}
		if err != nil || v == nil {
			return err
		}
		return sqlstore.WriteFallback(t, *v, m.SID)
	})
}

// InsertFallback records a fallback; see sqlstore.FallbackWriter.
func (t *tx) InsertFallback(f verification.Fallback) error {
	_, err := t.exec(`INSERT INTO fallbacks (`+sqlstore.FallbackCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (verification_sid) DO UPDATE SET message_sid = excluded.message_sid, address = excluded.address, locale = excluded.locale,
		due_at = excluded.due_at, created_at = excluded.created_at`,
		f.VerificationSID, f.AccountSID, f.MessageSID, f.Address, f.Locale, nanos(f.DueAt), nanos(f.CreatedAt))
	return err
}

// ClaimFallback deletes a fallback; see sqlstore.FallbackWriter.
func (t *tx) ClaimFallback(f verification.Fallback) (int64, error) {
	return t.exec(`DELETE FROM fallbacks WHERE verification_sid = $1 AND message_sid = $2`, f.VerificationSID, f.MessageSID)
}

// DropFallback deletes a fallback that is not owed any more; see
// verify.Store.
func (s *Store) DropFallback(ctx context.Context, f verification.Fallback) (bool, error) {
	return sqlstore.DropFallback(ctx, s.submit, f)
}

// insertSend is InsertSend's op but for the fallback.
func (t *tx) insertSend(m message.Message, o message.Outbound, v *verification.Change, limits []ratelimit.Limit) error {
	wrote := t.wrote
	due, claimed := o.Due()
	by := ""
	if claimed {
		by = t.node
	}
	margs := []any{m.SID, m.AccountSID, m.VerificationSID, string(m.Direction), m.From, m.To, m.Body, string(m.Status),
		m.Encoding, m.Segments, m.Connector, m.ProviderID, m.ErrorCode, m.ErrorMessage, nanos(m.CreatedAt), nanos(m.UpdatedAt), nanos(m.SentAt), m.StatusCallback,
		string(m.Channel.Or()), m.Subject, o.Payload, nanos(due), claimed, by, nanos(o.ExpiresAt), nanos(o.CreatedAt)}
	var ours []string // keys whose first count the try below inserted
	if v == nil && len(limits) > 0 {
		// A message: its keys' first counts and the message in one
		// statement, when every key is new (a number's first SMS in the
		// window, the common case); else the locked path below.
		first, err := ratelimit.TakeAll(limits, m.CreatedAt, func(string) ([]byte, error) { return nil, nil })
		if err != nil {
			return err
		}
		sent, inserted, err := t.insertFirstCounts(margs, first)
		if err != nil || sent {
			return err
		}
		ours = inserted
	}
	if v != nil && v.New {
		// Every writer of a new verification holds its key's lock.
		if err := t.lock(keyOf(v.V.Key())); err != nil {
			return err
		}
		if len(limits) > 0 {
			first, err := ratelimit.TakeAll(limits, m.CreatedAt, func(string) ([]byte, error) { return nil, nil })
			if err != nil {
				return err
			}
			sent, conflict, inserted, err := t.insertVerified(margs, v, first, true)
			if err != nil || sent {
				return err
			}
			if conflict {
				return store.ErrConflict
			}
			ours = inserted
		}
	}
	var takes []ratelimit.Taken
	if len(limits) > 0 {
		stored, placed, err := t.lockLimits(limits)
		if err != nil {
			return err
		}
		for _, k := range ours {
			delete(stored, k) // this op's own first count, from the try
		}
		takes, err = ratelimit.TakeAll(limits, m.CreatedAt, func(key string) ([]byte, error) { return stored[key], nil })
		if err != nil {
			// Refused: take back the rows this op made, so it changed nothing.
			if undo := append(ours, placed...); len(undo) > 0 {
				if _, derr := t.exec(`DELETE FROM rate_limits WHERE key = ANY($1)`, undo); derr != nil {
					return derr
				}
				t.wrote = wrote
			}
			return err
		}
	}
	if v != nil && v.New {
		sent, _, _, err := t.insertVerified(margs, v, takes, false)
		if err == nil && !sent {
			err = store.ErrConflict
		}
		return err
	}
	if v != nil {
		if err := t.addCode(v.V); err != nil {
			return err
		}
	}
	if len(takes) == 0 {
		_, err := t.exec(insertQueued+` VALUES (`+queuedValues+`)`, margs...)
		return err
	}
	cte, args := limitsCTE(takes, margs)
	_, err := t.count(`WITH m AS (`+insertQueued+` VALUES (`+queuedValues+`) RETURNING 1)`+cte+`
		SELECT count(*) FROM m`, args...)
	return err
}

// liveVerification is true when the verification's key ($28-$30) has one
// that blocks a new one at $40.
const liveVerification = `EXISTS (SELECT 1 FROM verifications WHERE account_sid = $28 AND service_sid = $29 AND to_number = $30
	AND status IN ('pending', 'max_attempts_reached') AND expires_at > $40)`

// insertVerified inserts a new verification and its message (margs, $1-$26)
// unless a live one blocks it, with the limits' counts. With first, each
// count is inserted only where its key has no row, and the verification and
// the message only if every key was new; inserted names the keys it
// inserted, conflict says a live verification blocked it. Otherwise the
// counts are written (the rows locked by lockLimits) if the message was.
func (t *tx) insertVerified(margs []any, v *verification.Change, takes []ratelimit.Taken, first bool) (sent, conflict bool, inserted []string, err error) {
	c := v.V
	args := append(margs, c.SID, c.AccountSID, c.ServiceSID, c.To, c.From, c.Channel, string(c.Status),
		sqlstore.EncodeCodes(c.Codes), c.SendAttempts, c.CheckAttempts, nanos(c.CreatedAt), nanos(c.UpdatedAt), nanos(c.ExpiresAt), nanos(c.CreatedAt))
	insertV := `INSERT INTO verifications (` + sqlstore.VerificationCols + `) SELECT $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39`
	if !first {
		cte, args := limitsCTE(takes, args)
		n, err := t.count(`WITH v AS (`+insertV+` WHERE NOT `+liveVerification+` RETURNING 1),
			m AS (`+insertQueued+` SELECT `+queuedValues+` WHERE EXISTS (SELECT 1 FROM v) RETURNING 1)`+cte+`
			SELECT count(*) FROM m`, args...)
		return n > 0, false, nil, err
	}
	keys, slots, forget := make([]string, len(takes)), make([][]byte, len(takes)), make([]int64, len(takes))
	for i, tk := range takes {
		keys[i], slots[i], forget[i] = tk.Key, tk.Slots, nanos(tk.ForgetAt)
	}
	args = append(args, keys, slots, forget, len(takes))
	var n int64
	err = t.queryRow(`WITH l AS (
			INSERT INTO rate_limits (key, slots, forget_at)
			SELECT * FROM unnest($41::text[], $42::bytea[], $43::bigint[]) WHERE NOT `+liveVerification+`
			ON CONFLICT (key) DO NOTHING RETURNING key),
		v AS (`+insertV+` WHERE (SELECT count(*) FROM l) = $44 RETURNING 1),
		m AS (`+insertQueued+` SELECT `+queuedValues+` WHERE EXISTS (SELECT 1 FROM v) RETURNING 1)
		SELECT (SELECT count(*) FROM m), `+liveVerification+`, ARRAY(SELECT key FROM l)`, args...).Scan(&n, &conflict, &inserted)
	if err != nil {
		return false, false, nil, err
	}
	if n > 0 || len(inserted) > 0 {
		t.wrote = true
	}
	return n > 0, conflict, inserted, nil
}

// insertFirstCounts inserts a message (margs, $1-$26) and its limits'
// first counts, each only where its key has no row, the message only if
// every key was new. inserted names the keys it inserted.
func (t *tx) insertFirstCounts(margs []any, takes []ratelimit.Taken) (sent bool, inserted []string, err error) {
	keys, slots, forget := make([]string, len(takes)), make([][]byte, len(takes)), make([]int64, len(takes))
	for i, tk := range takes {
		keys[i], slots[i], forget[i] = tk.Key, tk.Slots, nanos(tk.ForgetAt)
	}
	var n int64
	if len(takes) == 1 { // the usual case (a limit per number only): no arrays to encode
		var fresh bool
		err = t.queryRow(`WITH l AS (
				INSERT INTO rate_limits (key, slots, forget_at) VALUES ($27, $28, $29)
				ON CONFLICT (key) DO NOTHING RETURNING key),
			m AS (`+insertQueued+` SELECT `+queuedValues+` WHERE EXISTS (SELECT 1 FROM l) RETURNING 1)
			SELECT (SELECT count(*) FROM m), EXISTS (SELECT 1 FROM l)`, append(margs, keys[0], slots[0], forget[0])...).Scan(&n, &fresh)
		if err != nil {
			return false, nil, err
		}
		if fresh {
			t.wrote, inserted = true, keys
		}
		return n > 0, inserted, nil
	}
	args := append(margs, keys, slots, forget, len(takes))
	err = t.queryRow(`WITH l AS (
			INSERT INTO rate_limits (key, slots, forget_at)
			SELECT * FROM unnest($27::text[], $28::bytea[], $29::bigint[])
			ON CONFLICT (key) DO NOTHING RETURNING key),
		m AS (`+insertQueued+` SELECT `+queuedValues+` WHERE (SELECT count(*) FROM l) = $30 RETURNING 1)
		SELECT (SELECT count(*) FROM m), ARRAY(SELECT key FROM l)`, args...).Scan(&n, &inserted)
	if err != nil {
		return false, nil, err
	}
	if n > 0 || len(inserted) > 0 {
		t.wrote = true
	}
	return n > 0, inserted, nil
}

// limitsCTE is the clause of a statement inserting a message (as m) that
// writes the limits' counts if the message was inserted, and its arguments
// after args.
func limitsCTE(takes []ratelimit.Taken, args []any) (string, []any) {
	if len(takes) == 0 {
		return "", args
	}
	keys, slots, forget := make([]string, len(takes)), make([][]byte, len(takes)), make([]int64, len(takes))
	for i, tk := range takes {
		keys[i], slots[i], forget[i] = tk.Key, tk.Slots, nanos(tk.ForgetAt)
	}
	n := len(args)
	return fmt.Sprintf(`,
				l AS (INSERT INTO rate_limits (key, slots, forget_at)
					SELECT * FROM unnest($%d::text[], $%d::bytea[], $%d::bigint[]) WHERE EXISTS (SELECT 1 FROM m)
					ON CONFLICT (key) DO UPDATE SET slots = EXCLUDED.slots, forget_at = EXCLUDED.forget_at)`, n+1, n+2, n+3),
		append(args, keys, slots, forget)
}

// lockLimits makes the limits' rows where missing (empty, forgotten at the
// next sweep; placed names those it made) and reads them under row locks,
// in key order, in one round trip: the read, a statement after the insert,
// sees the rows another transaction inserted meanwhile (the insert waited
// for it), and holds them until this one ends.
func (t *tx) lockLimits(limits []ratelimit.Limit) (stored map[string][]byte, placed []string, err error) {
	var keys []string
	for _, l := range ratelimit.Sort(limits) {
		if n := len(keys); n == 0 || keys[n-1] != l.Key {
			keys = append(keys, l.Key)
		}
	}
	b, pending := t.batch()
	b.Queue(`INSERT INTO rate_limits (key, slots, forget_at) SELECT k, '', 0 FROM unnest($1::text[]) AS u(k)
		ON CONFLICT (key) DO NOTHING RETURNING key`, keys)
	b.Queue(`SELECT key, slots FROM rate_limits WHERE key = ANY($1) ORDER BY key FOR UPDATE`, keys)
	br := t.tx.SendBatch(bg, b)
	stored = map[string][]byte{}
	err = func() error {
		if err := t.skip(br, pending); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return err
			}
			placed = append(placed, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if rows, err = br.Query(); err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var slots []byte
			if err := rows.Scan(&k, &slots); err != nil {
				return err
			}
			stored[k] = slots
		}
		return rows.Err()
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.failed = err
		return nil, nil, err
	}
	if len(placed) > 0 {
		t.wrote = true
	}
	return stored, placed, nil
}

// ForgetLimits deletes the rate-limit counts that no longer count (their
// newest slot left the window) and returns how many.
func (s *Store) ForgetLimits(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		var err error
		n, err = t.exec(`DELETE FROM rate_limits WHERE forget_at <= $1`, nanos(now))
		return err
	})
	return int(n), err
}

// insertQueued and queuedValues insert a queued message ($1-$26).
const (
	insertQueued = `INSERT INTO messages (` + sqlstore.MessageCols + `, ob_queued, ob_payload, ob_due, ob_claimed, ob_claimed_by, ob_expires_at, ob_created_at)`
	queuedValues = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, true, $21, $22, $23, $24, $25, $26`
)

// addCode stores one more code of a verification, only if no other send
// moved it on (a compare-and-set on its send attempts).
func (t *tx) addCode(v verification.Verification) error {
	n, err := t.exec(`UPDATE verifications SET codes = $1, send_attempts = $2, updated_at = $3, expires_at = $4, from_addr = $5
		WHERE sid = $6 AND send_attempts = $7 AND status = 'pending'`,
		sqlstore.EncodeCodes(v.Codes), v.SendAttempts, nanos(v.UpdatedAt), nanos(v.ExpiresAt), v.From, v.SID, v.SendAttempts-1)
	if err == nil && n != 1 {
		err = store.ErrConflict
	}
	return err
}

// CreateService inserts a service, or returns the one of that name.
func (s *Store) CreateService(ctx context.Context, svc verification.Service) (verification.Service, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) (verification.Service, error) {
		if _, err := t.exec(`INSERT INTO services (`+sqlstore.ServiceCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (account_sid, name) DO NOTHING`,
			svc.SID, svc.AccountSID, svc.Name, svc.CodeLength, int64(svc.TTL), nanos(svc.CreatedAt), svc.EventsURL, svc.Countries, verification.EncodeTexts(svc.Texts),
			svc.FallbackChannel, int64(svc.FallbackAfter)); err != nil {
			return verification.Service{}, err
		}
		return sqlstore.ScanService(t.queryRow(`SELECT `+sqlstore.ServiceCols+` FROM services WHERE account_sid = $1 AND name = $2`, svc.AccountSID, svc.Name))
	})
}

// DeleteService deletes one of the account's services and its
// verifications (their messages stay in the log).
func (s *Store) DeleteService(ctx context.Context, accountSID, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.execOne("delete service "+sid, `DELETE FROM services WHERE sid = $1 AND account_sid = $2`, sid, accountSID); err != nil {
			return err
		}
		if _, err := t.exec(`DELETE FROM verifications WHERE service_sid = $1 AND account_sid = $2`, sid, accountSID); err != nil {
			return err
		}
		return t.deleteServiceFactors(accountSID, sid)
	})
}

// UpdateService stores a service's settings.
func (s *Store) UpdateService(ctx context.Context, svc verification.Service) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("update service "+svc.SID, `UPDATE services SET code_length = $1, ttl_ns = $2, events_url = $3, countries = $4, texts = $5,
			fallback_channel = $6, fallback_after_ns = $7 WHERE sid = $8`,
			svc.CodeLength, int64(svc.TTL), svc.EventsURL, svc.Countries, verification.EncodeTexts(svc.Texts),
			svc.FallbackChannel, int64(svc.FallbackAfter), svc.SID)
	})
}

// CountCheck counts a check; see verify.Store. The verification's row is
// locked while it is counted and judged: concurrent checks on any node
// take turns.
func (s *Store) CountCheck(ctx context.Context, key verification.Key, max int, now time.Time,
	judge func(verification.Verification) (verification.Status, []callback.Callback)) (verification.Verification, bool, error) {
	return sqlstore.CountCheck(ctx, s.submit, key, max, now, judge)
}

// CountLatest counts the usual check on key's newest verification, locking
// it; see sqlstore.LatestCounter. A check on another node waits for the row
// and, as the UPDATE checks its conditions again on the newest version,
// counts only under the limit.
func (t *tx) CountLatest(key verification.Key, max int, now time.Time) (verification.Verification, error) {
	v, err := sqlstore.ScanVerification(t.queryRow(`UPDATE verifications SET check_attempts = check_attempts + 1, updated_at = $4
		WHERE sid = (SELECT sid FROM verifications WHERE account_sid = $1 AND service_sid = $2 AND to_number = $3
			ORDER BY created_at DESC, sid DESC LIMIT 1)
		AND status = 'pending' AND expires_at > $4 AND check_attempts < $5
		RETURNING `+sqlstore.VerificationCols,
		key.AccountSID, key.ServiceSID, key.To, nanos(now), max))
	if !errors.Is(err, store.ErrNotFound) {
		// Counted; or counted and then unreadable (its codes), when the op
		// fails: it wrote, so the group undoes it.
		t.wrote = true
	}
	return v, err
}

// LatestVerification reads and locks key's newest verification; see
// sqlstore.CheckWriter.
func (t *tx) LatestVerification(key verification.Key) (verification.Verification, error) {
	return sqlstore.ScanVerification(t.queryRow(`SELECT `+sqlstore.VerificationCols+` FROM verifications
		WHERE account_sid = $1 AND service_sid = $2 AND to_number = $3 ORDER BY created_at DESC, sid DESC LIMIT 1 FOR UPDATE`,
		key.AccountSID, key.ServiceSID, key.To))
}

// CountCheck counts a check with the limit, on the locked row.
func (t *tx) CountCheck(sid string, max int, now time.Time) (int64, error) {
	return t.exec(`UPDATE verifications SET check_attempts = check_attempts + 1, updated_at = $1
		WHERE sid = $2 AND status = 'pending' AND check_attempts < $3`, nanos(now), sid, max)
}

// SetVerificationStatus sets a verification's status.
func (t *tx) SetVerificationStatus(sid string, status verification.Status, now time.Time) error {
	_, err := t.exec(`UPDATE verifications SET status = $1, updated_at = $2 WHERE sid = $3`, string(status), nanos(now), sid)
	return err
}

// Resolve applies resolutions; see verify.Store.
func (s *Store) Resolve(ctx context.Context, rs []verification.Resolution, events []callback.Callback) (int, error) {
	return sqlstore.Resolve(ctx, s.submit, rs, events)
}

// ResolveVerification applies a resolution if its guard holds.
func (t *tx) ResolveVerification(r verification.Resolution) (int64, error) {
	return t.exec(`UPDATE verifications SET status = $1, updated_at = $2
		WHERE sid = $3 AND status = ANY($4) AND ($5::bigint = 0 OR expires_at <= $5::bigint)`,
		string(r.To), nanos(r.At), r.SID, statuses(r.From), nanos(r.ExpiredBy))
}

// RedactMessage empties a message's body; see messaging.Store.
func (s *Store) RedactMessage(ctx context.Context, accountSID, sid string, from []message.Status, at time.Time) error {
	return sqlstore.RedactMessage(ctx, s.submit, accountSID, sid, from, at)
}

// RedactMessage empties a message's body if its status is one of from.
func (t *tx) RedactMessage(accountSID, sid string, from []message.Status, at time.Time) (int64, error) {
	return t.exec(`UPDATE messages SET body = '', updated_at = $1 WHERE sid = $2 AND account_sid = $3 AND status = ANY($4)`,
		nanos(at), sid, accountSID, statuses(from))
}

// RedactSandbox empties the body of a message's sandbox copy.
func (t *tx) RedactSandbox(accountSID, sid string) error {
	_, err := t.exec(`UPDATE sandbox_messages SET body = '' WHERE sid = $1 AND account_sid = $2`, sid, accountSID)
	return err
}

// MissingOrConflict tells why a guarded write to one of the account's
// messages changed nothing.
func (t *tx) MissingOrConflict(accountSID, sid string) error {
	var owner string
	err := t.queryRow(`SELECT account_sid FROM messages WHERE sid = $1`, sid).Scan(&owner)
	return sqlstore.Unchanged(accountSID, owner, err)
}

// CancelMessage cancels a queued message; see messaging.Store.
func (s *Store) CancelMessage(ctx context.Context, accountSID, sid string, at time.Time) error {
	return s.submit(ctx, normal, func(t *tx) error {
		m, err := sqlstore.ScanMessage(t.queryRow(`UPDATE messages SET status = 'canceled', updated_at = $1, ob_queued = false, ob_payload = NULL, ob_claimed = false
			WHERE sid = $2 AND account_sid = $3 AND status = 'queued' AND ob_queued AND NOT ob_claimed
			RETURNING `+sqlstore.MessageCols, nanos(at), sid, accountSID))
		if errors.Is(err, store.ErrNotFound) {
			return t.MissingOrConflict(accountSID, sid)
		}
		if err != nil {
			return err
		}
		t.wrote = true
		return t.InsertCallbacks(callback.ForStatusChange(m, true, at))
	})
}

// DeleteMessage removes a message; see messaging.Store.
func (s *Store) DeleteMessage(ctx context.Context, accountSID, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.execOne("delete message "+sid, `DELETE FROM messages WHERE sid = $1 AND account_sid = $2`, sid, accountSID); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM sandbox_messages WHERE sid = $1 AND account_sid = $2`, sid, accountSID) // its sandbox copy too
		return err
	})
}

// ForgetSandbox deletes sandbox inbox entries made before before.
func (s *Store) ForgetSandbox(ctx context.Context, before time.Time) (int, error) {
	return s.forget(ctx, `DELETE FROM sandbox_messages WHERE created_at < $1`, before)
}

// ForgetOrphanReceipts deletes the receipts received before before that
// no part was found for; see dispatch.OrphanStore.
func (s *Store) ForgetOrphanReceipts(ctx context.Context, before time.Time) (int, error) {
	return s.forget(ctx, `DELETE FROM orphan_receipts WHERE received_at < $1`, before)
}

// forget runs one of the statements that delete rows made before a time ($1).
func (s *Store) forget(ctx context.Context, query string, before time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		var err error
		n, err = t.exec(query, nanos(before))
		return err
	})
	return int(n), err
}

// ClaimOutbox leases due messages for this node; rows another node is
// claiming at the same moment are skipped, not waited for.
func (s *Store) ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]message.Outbound, error) {
	var out []message.Outbound
	err := s.submit(ctx, urgent, func(t *tx) error {
		out = out[:0]
		rows, err := t.query(`UPDATE messages m SET ob_due = $1, ob_claimed = true, ob_claimed_by = $4
			FROM (SELECT sid, ob_due AS was_due FROM messages WHERE ob_queued AND ob_due <= $2 ORDER BY ob_due LIMIT $3 FOR UPDATE SKIP LOCKED) d
			WHERE m.sid = d.sid
			RETURNING m.sid, m.account_sid, m.from_addr, m.to_number, m.ob_payload, m.ob_attempts, m.ob_last_error, m.ob_expires_at, m.ob_created_at, m.status_callback, m.channel, m.subject, d.was_due`,
			nanos(leaseUntil), nanos(now), limit, t.node)
		if err != nil {
			return err
		}
		defer rows.Close()
		var due []int64
		for rows.Next() {
			var o message.Outbound
			var created, expires, wasDue int64
			if err := rows.Scan(&o.SID, &o.AccountSID, &o.From, &o.To, &o.Payload, &o.Attempts, &o.LastError, &expires, &created, &o.StatusCallback, &o.Channel, &o.Subject, &wasDue); err != nil {
				t.failed = err
				return err
			}
			o.CreatedAt, o.ExpiresAt, o.LeaseUntil = fromNanos(created), fromNanos(expires), leaseUntil.UTC()
			out = append(out, o)
			due = append(due, wasDue)
		}
		if err := rows.Err(); err != nil {
			t.failed = err
			return err
		}
		if len(out) > 0 {
			t.wrote = true
		}
		out = sqlstore.SortClaimed(out, due)
		return nil
	})
	return out, err
}

// RescheduleOutbox releases a message's lease; see dispatch.Store.
func (s *Store) RescheduleOutbox(ctx context.Context, sid string, attempts int, next time.Time, lastError string) error {
	return s.submit(ctx, urgent, func(t *tx) error {
		return t.execOne("reschedule outbox message "+sid,
			`UPDATE messages SET ob_attempts = $1, ob_due = $2, ob_last_error = $3, ob_claimed = false, ob_claimed_by = '' WHERE sid = $4 AND ob_queued`,
			attempts, nanos(next), lastError, sid)
	})
}

// ReleaseLeases makes the messages and callbacks this node claimed due now:
// at start-up, its last run's claims (no other node's).
func (s *Store) ReleaseLeases(ctx context.Context) (int, error) {
	var n int64
	err := s.submit(ctx, normal, func(t *tx) error {
		var err error
		if n, err = t.exec(`UPDATE messages SET ob_due = ob_created_at, ob_claimed = false, ob_claimed_by = ''
			WHERE ob_queued AND ob_claimed AND ob_claimed_by = $1`, t.node); err != nil {
			return err
		}
		_, err = t.exec(`UPDATE callbacks SET next_attempt_at = created_at, claimed = false, claimed_by = '' WHERE claimed AND claimed_by = $1`, t.node)
		return err
	})
	return int(n), err
}

// RecordOutcome records a send's outcome; see dispatch.Store. The parts'
// keys are locked first, so a receipt for one of them on another node
// waits for the parts to be known.
func (s *Store) RecordOutcome(ctx context.Context, o message.Outcome) error {
	return s.submit(ctx, lazy, func(t *tx) error {
		var locks []string
		for _, keys := range o.PartKeys {
			for _, k := range keys {
				locks = append(locks, partKey(o.Connector, k))
			}
		}
		if err := t.lock(locks...); err != nil {
			return err
		}
		if len(o.PartKeys) == 1 && len(o.PartKeys[0]) > 0 {
			return t.outcomeOfOnePart(o)
		}
		return sqlstore.RecordOutcome(t, o)
	})
}

// outcomeOfOnePart is sqlstore.RecordOutcome for a message of one part (a
// code SMS), its statements in one round trip: the message out of the
// outbox (advance's quiet update), its part, and a receipt that came
// before the part. When the quiet update moved nothing, advance's full
// statement runs after them; if it fails, the op does, and its part and
// receipt go back with it. Where the committer lets ops bet (tx.expect),
// the three wait to go with the group's next statement instead, on the bet
// that the message moves and no receipt came first.
func (t *tx) outcomeOfOnePart(o message.Outcome) error {
	sentAt := sqlstore.SentAt(o)
	keys := o.PartKeys[0]
	from := statuses(message.Before(o.Status))
	dequeue := []any{from, string(o.Status), o.ErrorCode, o.ErrorMessage, o.Connector, o.ProviderID, nanos(sentAt), nanos(o.At), o.SID}
	if t.expect(1, quietDequeue, dequeue...) {
		// The usual outcome: the message moved, its part recorded, no
		// receipt came before it.
		t.later(true, insertPart, o.Connector, keys[0], o.SID, 1, 1)
		t.expect(0, takeOrphan, o.Connector, keys)
		return t.failed
	}
	b, pending := t.batch()
	b.Queue(quietDequeue, dequeue...)
	b.Queue(insertPart, o.Connector, keys[0], o.SID, 1, 1)
	b.Queue(takeOrphan, o.Connector, keys)
	br := t.tx.SendBatch(bg, b)
	var moved int64
	var r message.Receipt
	var found bool
	err := func() error {
		if err := t.skip(br, pending); err != nil {
			return err
		}
		tag, err := br.Exec()
		if err != nil {
			return err
		}
		moved = tag.RowsAffected()
		if _, err := br.Exec(); err != nil {
			return err
		}
		found, err = scanOrphan(br.QueryRow(), &r)
		return err
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.failed = err
		return err
	}
	t.wrote = true // the part
	if moved != 1 {
		if err := t.advanceFully(true, from, o.SID, o.Status, o.ErrorCode, o.ErrorMessage, o.Connector, o.ProviderID, sentAt, o.At); err != nil {
			return err
		}
	}
	if !found {
		return nil
	}
	r.Connector, r.Keys, r.At = o.Connector, keys, o.At
	return sqlstore.ReceiptOnPart(t, r)
}

// Dequeue records an outcome on its message and takes it out of the outbox.
func (t *tx) Dequeue(o message.Outcome, sentAt time.Time) error {
	return t.advance(true, o.SID, o.Status, o.ErrorCode, o.ErrorMessage, o.Connector, o.ProviderID, sentAt, o.At)
}

// InsertPart records which message and part a key names.
func (t *tx) InsertPart(connector, key, sid string, part, total int) error {
	t.later(true, insertPart, connector, key, sid, part, total)
	return t.failed
}

const insertPart = `INSERT INTO message_parts (connector, smsc_id, message_sid, part, total) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (connector, smsc_id) DO UPDATE SET message_sid = excluded.message_sid, part = excluded.part, total = excluded.total, status = '', error_code = 0`

const takeOrphan = `DELETE FROM orphan_receipts WHERE (connector, smsc_id) IN
	(SELECT connector, smsc_id FROM orphan_receipts WHERE connector = $1 AND smsc_id = ANY($2) LIMIT 1)
	RETURNING smsc_id, status, error_code, error_message`

// scanOrphan reads takeOrphan's row, if there is one.
func scanOrphan(row pgx.Row, r *message.Receipt) (bool, error) {
	var key, status string
	err := row.Scan(&key, &status, &r.ErrorCode, &r.ErrorMessage)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Status = message.Status(status)
	return true, nil
}

// TakeOrphan deletes and returns a receipt that came for one of keys
// before its part was known, in one statement.
func (t *tx) TakeOrphan(connector string, keys []string) (message.Receipt, bool, error) {
	var r message.Receipt
	found, err := scanOrphan(t.queryRow(takeOrphan, connector, keys), &r)
	if found {
		t.wrote = true
	}
	return r, found, err
}

// ApplyReceipt records a receipt; see dispatch.Store.
func (s *Store) ApplyReceipt(ctx context.Context, r message.Receipt) (bool, error) {
	return sqlstore.ApplyReceipt(ctx, s.submit, r)
}

// ApplyReceipt records a receipt on its message, or on the part one of its
// keys names (under the keys' locks), or keeps it as an orphan until the
// part is known.
func (t *tx) ApplyReceipt(r message.Receipt) error {
	if r.MessageSID != "" {
		return t.advance(false, r.MessageSID, r.Status, r.ErrorCode, r.ErrorMessage, "", "", time.Time{}, r.At)
	}
	locks := make([]string, len(r.Keys))
	for i, k := range r.Keys {
		locks[i] = partKey(r.Connector, k)
	}
	if err := t.lock(locks...); err != nil {
		return err
	}
	// The usual receipt, for a message of one part whose status it moves
	// and that has no status callback: one statement, the part found in it
	// (left pending, on that bet, where the committer lets ops bet).
	from := statuses(message.Before(r.Status))
	if moved, err := t.quiet(quietReceipt, from, string(r.Status), r.ErrorCode, r.ErrorMessage, "", "", 0, nanos(r.At), r.Connector, r.Keys); err != nil || moved {
		return err
	}
	sid, total, key, err := t.FindPart(r.Connector, r.Keys)
	if err == nil && total == 1 {
		// The statement above was the quiet one for this message.
		err = t.advanceFully(false, from, sid, r.Status, r.ErrorCode, r.ErrorMessage, "", "", time.Time{}, r.At)
	} else if err == nil {
		err = sqlstore.ReceiptOnFoundPart(t, r, sid, total, key)
	}
	if !errors.Is(err, store.ErrNotFound) || len(r.Keys) == 0 {
		return err
	}
	_, err = t.exec(`INSERT INTO orphan_receipts (connector, smsc_id, status, error_code, error_message, received_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (connector, smsc_id) DO UPDATE SET status = excluded.status, error_code = excluded.error_code, error_message = excluded.error_message, received_at = excluded.received_at`,
		r.Connector, r.Keys[0], string(r.Status), r.ErrorCode, r.ErrorMessage, nanos(r.At))
	return err
}

// Callbacks is how many callbacks the op stored.
func (t *tx) Callbacks() int { return t.callbacks }

// FindPart finds the part one of keys names, the earliest key first.
func (t *tx) FindPart(connector string, keys []string) (sid string, total int, key string, err error) {
	err = t.queryRow(`SELECT message_sid, total, smsc_id FROM message_parts WHERE connector = $1 AND smsc_id = ANY($2)
		ORDER BY array_position($2, smsc_id) LIMIT 1`, connector, keys).Scan(&sid, &total, &key)
	return sid, total, key, sqlstore.NotFound(err)
}

// SetPartStatus records a part's status.
func (t *tx) SetPartStatus(connector, key string, status message.Status, code int) error {
	_, err := t.exec(`UPDATE message_parts SET status = $1, error_code = $2 WHERE connector = $3 AND smsc_id = $4`,
		string(status), code, connector, key)
	return err
}

// PartStatuses reads the statuses of a message's parts.
func (t *tx) PartStatuses(sid string) ([]message.PartStatus, error) {
	rows, err := t.query(`SELECT part, status, error_code FROM message_parts WHERE message_sid = $1 AND total <> 1 ORDER BY part`, sid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	parts, err := sqlstore.Collect(rows, sqlstore.ScanPartStatus)
	if err != nil {
		t.failed = err
	}
	return parts, err
}

// AdvanceOnReceipt moves a message as a receipt says.
func (t *tx) AdvanceOnReceipt(sid string, status message.Status, code int, errMsg string, at time.Time) error {
	return t.advance(false, sid, status, code, errMsg, "", "", time.Time{}, at)
}

// quietSet is advance's update for a message whose status moves (the
// statement's WHERE says so, re-checked on the newest row if another
// transaction changed it meanwhile).
const quietSet = `UPDATE messages SET
		status        = $2::text,
		error_code    = $3::integer,
		error_message = $4::text,
		connector     = CASE WHEN $5::text <> '' THEN $5::text ELSE connector END,
		provider_id   = CASE WHEN $6::text <> '' THEN $6::text ELSE provider_id END,
		sent_at       = CASE WHEN $7::bigint <> 0 THEN $7::bigint ELSE sent_at END,
		final_at      = CASE WHEN $2::text IN ('delivered', 'undelivered', 'failed') THEN $8::bigint ELSE final_at END,
		updated_at    = $8::bigint`

// quietReceipt is quietSet for the message of the part a receipt's keys
// ($10) name, the earliest key's first (as FindPart), when it is a
// message of one part.
const quietReceipt = quietSet + ` WHERE sid = (SELECT CASE WHEN total = 1 THEN message_sid END FROM message_parts
		WHERE connector = $9 AND smsc_id = ANY($10::text[]) ORDER BY array_position($10::text[], smsc_id) LIMIT 1)
	AND status_callback = '' AND status = ANY($1::text[])`

const (
	quietAdvance = quietSet + ` WHERE sid = $9 AND status_callback = '' AND status = ANY($1::text[])`
	quietDequeue = quietSet + `, ob_queued = false, ob_payload = NULL, ob_claimed = false, ob_claimed_by = ''
		WHERE sid = $9 AND ob_queued AND status_callback = '' AND status = ANY($1::text[])`
)

// advance moves a message to status when it may (message.Before), sets
// what an outcome or receipt brings, and stores its status callback when the
// status moved. With dequeue it also takes the message out of the outbox,
// ErrNotFound when it is not there.
//
// It first tries the common case in a cheaper statement: a message whose
// status moves and that has no status callback, with no row lock taken
// before the update and nothing returned. When that changes no row, the
// full statement runs. Where the committer lets ops bet (tx.expect), the
// cheaper statement waits to go with the group's next one, on the bet that
// it moves the message.
func (t *tx) advance(dequeue bool, sid string, status message.Status, code int, errMsg, connector, pid string, sentAt, at time.Time) error {
	from := statuses(message.Before(status))
	quiet := quietAdvance
	if dequeue {
		quiet = quietDequeue
	}
	if moved, err := t.quiet(quiet, from, string(status), code, errMsg, connector, pid, nanos(sentAt), nanos(at), sid); err != nil || moved {
		return err
	}
	return t.advanceFully(dequeue, from, sid, status, code, errMsg, connector, pid, sentAt, at)
}

// quiet runs one of the quiet updates (quietAdvance, quietDequeue,
// quietReceipt), or leaves it pending on the bet that it moves its message
// (tx.expect); moved false says it did not, and the full path must run.
func (t *tx) quiet(sql string, args ...any) (moved bool, err error) {
	if t.expect(1, sql, args...) {
		return true, t.failed
	}
	n, err := t.exec(sql, args...)
	return n == 1, err
}

// advanceFully is advance's full statement, for any message: it locks the
// row, returns whether the status moved and stores its status callback.
func (t *tx) advanceFully(dequeue bool, from []string, sid string, status message.Status, code int, errMsg, connector, pid string, sentAt, at time.Time) error {
	q := `WITH old AS (SELECT sid, status FROM messages WHERE sid = $9 FOR UPDATE)
		UPDATE messages m SET
			status        = CASE WHEN old.status = ANY($1::text[]) THEN $2::text ELSE m.status END,
			error_code    = CASE WHEN old.status = ANY($1::text[]) THEN $3::integer ELSE m.error_code END,
			error_message = CASE WHEN old.status = ANY($1::text[]) THEN $4::text ELSE m.error_message END,
			connector     = CASE WHEN $5::text <> '' THEN $5::text ELSE m.connector END,
			provider_id   = CASE WHEN $6::text <> '' THEN $6::text ELSE m.provider_id END,
			sent_at       = CASE WHEN $7::bigint <> 0 THEN $7::bigint ELSE m.sent_at END,
			final_at      = CASE WHEN old.status = ANY($1::text[]) AND $2::text IN ('delivered', 'undelivered', 'failed') THEN $8::bigint ELSE m.final_at END,
			updated_at    = $8::bigint`
	if dequeue {
		q += `, ob_queued = false, ob_payload = NULL, ob_claimed = false, ob_claimed_by = ''
		FROM old WHERE m.sid = old.sid AND m.ob_queued`
	} else {
		q += ` FROM old WHERE m.sid = old.sid`
	}
	q += ` RETURNING old.status = ANY($1::text[]), m.sid, m.account_sid, m.status, m.to_number, m.from_addr, m.error_code, m.error_message, m.status_callback`
	var moved bool
	var m message.Message
	err := t.queryRow(q, from, string(status), code, errMsg, connector, pid, nanos(sentAt), nanos(at), sid).
		Scan(&moved, &m.SID, &m.AccountSID, &m.Status, &m.To, &m.From, &m.ErrorCode, &m.ErrorMessage, &m.StatusCallback)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("advance message %s: %w", sid, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	t.wrote = true
	return t.InsertCallbacks(callback.ForStatusChange(m, moved, at))
}

// AddInboundPart keeps a part of a long inbound message; see inbound.Store.
func (s *Store) AddInboundPart(ctx context.Context, p message.InboundPart) ([]message.InboundPart, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) ([]message.InboundPart, error) {
		if _, err := t.exec(`INSERT INTO inbound_parts (connector, from_addr, to_addr, ref, total, seq, text, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING`, p.Connector, p.From, p.To, p.Ref, p.Total, p.Seq, p.Text, nanos(p.ReceivedAt)); err != nil {
			return nil, err
		}
		rows, err := t.query(`SELECT seq, text, received_at FROM inbound_parts WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND ref = $4 AND total = $5 ORDER BY seq`,
			p.Connector, p.From, p.To, p.Ref, p.Total)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out, err := sqlstore.InboundParts(rows, p)
		if err != nil {
			t.failed = err
		}
		return out, err
	})
}

// InsertInbound stores a received message; see inbound.Store.
func (s *Store) InsertInbound(ctx context.Context, m message.Message, parts *message.InboundPart, cbs []callback.Callback) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if p := parts; p != nil {
			n, err := t.exec(`DELETE FROM inbound_parts WHERE connector = $1 AND from_addr = $2 AND to_addr = $3 AND ref = $4 AND total = $5`,
				p.Connector, p.From, p.To, p.Ref, p.Total)
			if err != nil {
				return err
			}
			if n != int64(p.Total) {
				return store.ErrConflict
			}
		}
		if _, err := t.exec(`INSERT INTO messages (`+sqlstore.MessageCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
			sqlstore.MessageArgs(m)...); err != nil {
			return err
		}
		return t.InsertCallbacks(cbs)
	})
}

// ClaimCallbacks leases due callbacks, the oldest pending of each subject;
// rows another node is claiming are skipped.
func (s *Store) ClaimCallbacks(ctx context.Context, now, leaseUntil time.Time, limit int) ([]callback.Callback, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) ([]callback.Callback, error) {
		rows, err := t.query(`UPDATE callbacks SET next_attempt_at = $1, claimed = true, claimed_by = $4
			WHERE sid IN (SELECT c.sid FROM callbacks c WHERE c.next_attempt_at <= $2
				AND c.sid = (SELECT min(d.sid) FROM callbacks d WHERE d.message_sid = c.message_sid)
				ORDER BY c.next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING sid, message_sid, account_sid, url, params, attempts, created_at, content_type`,
			nanos(leaseUntil), nanos(now), limit, t.node)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out, err := sqlstore.ClaimedCallbacks(rows, leaseUntil)
		if err == nil && len(out) > 0 {
			t.wrote = true
		} else if err != nil {
			t.failed = err
		}
		return out, err
	})
}

func (t *tx) insertAttempt(a callback.Attempt) error {
	_, err := t.exec(`INSERT INTO callback_attempts (callback_sid, attempt, message_sid, url, at, status_code, error, duration_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT DO NOTHING`, a.CallbackSID, a.Attempt, a.Subject, a.URL, nanos(a.At), a.StatusCode, a.Error, int64(a.Duration))
	return err
}

// FinishCallback records the last attempt of a callback; see webhook.Store.
func (s *Store) FinishCallback(ctx context.Context, c callback.Callback, a callback.Attempt) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.insertAttempt(a); err != nil {
			return err
		}
		return t.execOne("finish callback "+c.SID, `DELETE FROM callbacks WHERE sid = $1`, c.SID)
	})
}

// RetryCallback records an attempt and makes the callback due at next.
func (s *Store) RetryCallback(ctx context.Context, c callback.Callback, a callback.Attempt, next time.Time) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.insertAttempt(a); err != nil {
			return err
		}
		return t.execOne("retry callback "+c.SID, `UPDATE callbacks SET attempts = $1, next_attempt_at = $2, claimed = false, claimed_by = '' WHERE sid = $3`,
			a.Attempt, nanos(next), c.SID)
	})
}

// ReleaseCallbacks gives claimed callbacks back; see webhook.Store.
func (s *Store) ReleaseCallbacks(ctx context.Context, rs []callback.Release) error {
	if len(rs) == 0 {
		return nil
	}
	sids, due, until := make([]string, len(rs)), make([]int64, len(rs)), make([]int64, len(rs))
	for i, r := range rs {
		sids[i], due[i], until[i] = r.SID, nanos(r.Due), nanos(r.LeaseUntil)
	}
	return s.submit(ctx, normal, func(t *tx) error {
		_, err := t.exec(`UPDATE callbacks c SET next_attempt_at = r.due, claimed = false, claimed_by = ''
			FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(sid, due, until)
			WHERE c.sid = r.sid AND c.claimed AND c.claimed_by = $4 AND c.next_attempt_at = r.until`, sids, due, until, t.node)
		return err
	})
}

// InsertSandboxEntry keeps a sandbox delivery; see sandbox.Store.
func (s *Store) InsertSandboxEntry(ctx context.Context, e message.SandboxEntry) error {
	return s.submit(ctx, lazy, func(t *tx) error { return t.InsertSandbox(e) })
}

// InsertSandbox keeps a sandbox inbox entry; see sqlstore.OutcomeWriter.
func (t *tx) InsertSandbox(e message.SandboxEntry) error {
	t.later(true, `INSERT INTO sandbox_messages (sid, account_sid, from_addr, to_number, body, segments, encoding, created_at, channel, subject)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (sid) DO NOTHING`,
		e.SID, e.AccountSID, e.From, e.To, e.Body, e.Segments, e.Encoding, nanos(e.CreatedAt), string(e.Channel.Or()), e.Subject)
	return t.failed
}

// InsertAccount adds an account; see account.Store.
func (s *Store) InsertAccount(ctx context.Context, a account.Account) error {
	return s.submit(ctx, normal, func(t *tx) error {
		_, err := t.exec(`INSERT INTO accounts (sid, name, token_hash, created_at, token_sealed, policy) VALUES ($1, $2, $3, $4, $5, $6)`,
			a.SID, a.Name, a.TokenHash, nanos(a.CreatedAt), a.TokenSealed, a.Policy.Encode())
		return err
	})
}

// SetAccountCountries sets where the account chose to send, within its
// ceiling (account.Account's Countries).
func (s *Store) SetAccountCountries(ctx context.Context, sid, countries string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("set countries of account "+sid, `UPDATE accounts SET countries = $1 WHERE sid = $2`, countries, sid)
	})
}

// SetAccountPolicy sets the ceilings the operator gave an account
// (account.Account's Policy).
func (s *Store) SetAccountPolicy(ctx context.Context, sid string, p policy.Policy) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("set the policy of account "+sid, `UPDATE accounts SET policy = $1 WHERE sid = $2`, p.Encode(), sid)
	})
}

// SetAccountSMSURL sets where the account's inbound SMS are POSTed.
func (s *Store) SetAccountSMSURL(ctx context.Context, sid, url string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("set sms_url of account "+sid, `UPDATE accounts SET sms_url = $1 WHERE sid = $2`, url, sid)
	})
}

// SetSecondaryToken gives an account a secondary auth token (replacing one
// it had); see account.Tokens.
func (s *Store) SetSecondaryToken(ctx context.Context, sid string, hash, sealed []byte, at time.Time) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("set the secondary token of account "+sid,
			`UPDATE accounts SET secondary_hash = $1, secondary_sealed = $2, secondary_created_at = $3, rev = rev + 1 WHERE sid = $4`,
			hash, sealed, nanos(at), sid)
	})
}

// DeleteSecondaryToken removes an account's secondary token; ErrNotFound if
// it has none.
func (s *Store) DeleteSecondaryToken(ctx context.Context, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("delete the secondary token of account "+sid,
			`UPDATE accounts SET secondary_hash = NULL, secondary_sealed = NULL, secondary_created_at = 0, rev = rev + 1
			WHERE sid = $1 AND secondary_hash IS NOT NULL`, sid)
	})
}

// PromoteSecondaryToken makes an account's secondary token its primary one
// (the old primary stops working); ErrNotFound if it has none.
func (s *Store) PromoteSecondaryToken(ctx context.Context, sid string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("promote the secondary token of account "+sid,
			`UPDATE accounts SET token_hash = secondary_hash, token_sealed = secondary_sealed,
			secondary_hash = NULL, secondary_sealed = NULL, secondary_created_at = 0, rev = rev + 1 WHERE sid = $1 AND secondary_hash IS NOT NULL`, sid)
	})
}

// SetPrimaryToken replaces an account's primary token.
func (s *Store) SetPrimaryToken(ctx context.Context, sid string, hash, sealed []byte) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("set the token of account "+sid, `UPDATE accounts SET token_hash = $1, token_sealed = $2, rev = rev + 1 WHERE sid = $3`,
			hash, sealed, sid)
	})
}

// SetAccountDisabled disables an account (no token authenticates it) or
// enables it again.
func (s *Store) SetAccountDisabled(ctx context.Context, sid string, disabled bool) error {
	return s.submit(ctx, normal, func(t *tx) error {
		return t.execOne("disable account "+sid, `UPDATE accounts SET disabled = $1, rev = rev + 1 WHERE sid = $2`, disabled, sid)
	})
}
