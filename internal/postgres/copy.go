package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"

	_ "modernc.org/sqlite" // to read the embedded database being moved

	"github.com/otpgate/otpgate/internal/sqlstore"
)

// copyTable is one table moved from SQLite: the columns read there (in
// order), the columns written here, and how a row read becomes a row written.
type copyTable struct {
	name    string
	read    string // SELECT ... FROM the SQLite table
	columns []string
	convert func(row []any) []any // nil: as read
}

// asBool turns SQLite's 0/1 into a boolean.
func asBool(v any) bool {
	switch x := v.(type) {
	case int64:
		return x != 0
	case bool:
		return x
	}
	return false
}

var copyTables = []copyTable{
	{name: "accounts", read: `SELECT sid, name, token_hash, created_at, token_sealed, sms_url, countries,
			secondary_hash, secondary_sealed, secondary_created_at, disabled, rev, policy FROM accounts ORDER BY rowid`,
		columns: []string{"sid", "name", "token_hash", "created_at", "token_sealed", "sms_url", "countries",
			"secondary_hash", "secondary_sealed", "secondary_created_at", "disabled", "rev", "policy"},
		convert: func(r []any) []any { r[10] = asBool(r[10]); return r }},
	{name: "services", read: `SELECT sid, account_sid, name, code_length, ttl_ns, created_at, events_url, countries, texts,
			fallback_channel, fallback_after_ns FROM services`,
		columns: []string{"sid", "account_sid", "name", "code_length", "ttl_ns", "created_at", "events_url", "countries", "texts",
			"fallback_channel", "fallback_after_ns"}},
	{name: "fallbacks", read: `SELECT ` + sqlstore.FallbackCols + ` FROM fallbacks`,
		columns: []string{"verification_sid", "account_sid", "message_sid", "address", "locale", "due_at", "created_at"}},
	{name: "verifications", read: `SELECT ` + sqlstore.VerificationCols + ` FROM verifications`,
		columns: []string{"sid", "account_sid", "service_sid", "to_number", "from_addr", "channel", "status", "codes", "send_attempts", "check_attempts", "created_at", "updated_at", "expires_at"}},
	// Messages with their outbox: a claim held on SQLite is released (its
	// message is due again at once here).
	{name: "messages", read: `SELECT ` + sqlstore.MessageCols + `, ob_queued, ob_payload, ob_attempts,
			CASE WHEN ob_claimed = 1 THEN ob_created_at ELSE ob_due END, ob_last_error, ob_expires_at, ob_created_at, final_at FROM messages`,
		columns: []string{"sid", "account_sid", "verification_sid", "direction", "from_addr", "to_number", "body", "status", "encoding", "segments",
			"connector", "provider_id", "error_code", "error_message", "created_at", "updated_at", "sent_at", "status_callback", "channel", "subject",
			"ob_queued", "ob_payload", "ob_attempts", "ob_due", "ob_last_error", "ob_expires_at", "ob_created_at", "final_at"},
		convert: func(r []any) []any { r[20] = asBool(r[20]); return r }},
	{name: "sandbox_messages", read: `SELECT ` + sqlstore.SandboxCols + ` FROM sandbox_messages`,
		columns: []string{"sid", "account_sid", "from_addr", "to_number", "body", "segments", "encoding", "created_at", "channel", "subject"}},
	{name: "message_parts", read: `SELECT connector, smsc_id, message_sid, part, total, status, error_code FROM message_parts`,
		columns: []string{"connector", "smsc_id", "message_sid", "part", "total", "status", "error_code"}},
	{name: "orphan_receipts", read: `SELECT connector, smsc_id, status, error_code, error_message, received_at FROM orphan_receipts`,
		columns: []string{"connector", "smsc_id", "status", "error_code", "error_message", "received_at"}},
	{name: "inbound_parts", read: `SELECT connector, from_addr, to_addr, ref, total, seq, text, received_at FROM inbound_parts`,
		columns: []string{"connector", "from_addr", "to_addr", "ref", "total", "seq", "text", "received_at"}},
	// Callbacks still to send; a claim held on SQLite is released.
	{name: "callbacks", read: `SELECT sid, message_sid, account_sid, url, params, content_type, attempts,
			CASE WHEN claimed = 1 THEN created_at ELSE next_attempt_at END, created_at FROM callbacks`,
		columns: []string{"sid", "message_sid", "account_sid", "url", "params", "content_type", "attempts", "next_attempt_at", "created_at"}},
	{name: "callback_attempts", read: `SELECT callback_sid, attempt, message_sid, url, at, status_code, error, duration_ns FROM callback_attempts`,
		columns: []string{"callback_sid", "attempt", "message_sid", "url", "at", "status_code", "error", "duration_ns"}},
	// The abuse guard's state: rate-limit counts, the pumping guard's
	// counts, blocks and safe lists, so limits and blocks hold across the move.
	{name: "rate_limits", read: `SELECT key, slots, forget_at FROM rate_limits`, columns: []string{"key", "slots", "forget_at"}},
	{name: "guard_counts", read: `SELECT account_sid, key, minute, sends, approvals FROM guard_counts`,
		columns: []string{"account_sid", "key", "minute", "sends", "approvals"}},
	{name: "guard_blocks", read: `SELECT account_sid, key, level, since, until, lifted, sends, approvals, window_ns, reason FROM guard_blocks`,
		columns: []string{"account_sid", "key", "level", "since", "until", "lifted", "sends", "approvals", "window_ns", "reason"},
		convert: func(r []any) []any { r[5] = asBool(r[5]); return r }},
	{name: "guard_safe", read: `SELECT account_sid, entry FROM guard_safe`, columns: []string{"account_sid", "entry"}},
	// The operator's tokens (revoked ones too, so an id is never reused);
	// the console's sessions are not moved: operators sign in again.
	{name: "operator_tokens", read: `SELECT id, name, account_sid, token_hash, created_at, revoked_at FROM operator_tokens`,
		columns: []string{"id", "name", "account_sid", "token_hash", "created_at", "revoked_at"}},
	// TOTP factors (secrets sealed as they were: the server secret is the
	// same), their entities and challenges.
	{name: "totp_entities", read: `SELECT ` + sqlstore.EntityCols + ` FROM totp_entities`, columns: columnsOf(sqlstore.EntityCols)},
	{name: "totp_factors", read: `SELECT ` + sqlstore.FactorCols + ` FROM totp_factors`, columns: columnsOf(sqlstore.FactorCols)},
	{name: "totp_challenges", read: `SELECT ` + sqlstore.ChallengeCols + ` FROM totp_challenges`, columns: columnsOf(sqlstore.ChallengeCols)},
	// The audit log, so who changed what before the move stays on record.
	{name: "audit_log", read: `SELECT ` + sqlstore.AuditCols + ` FROM audit_log`,
		columns: []string{"id", "at", "account_sid", "actor", "actor_name", "kind", "action", "target", "before", "after", "outcome", "detail", "request_id"}},
}

// CopyFromSQLite moves everything an embedded (SQLite) deployment keeps
// into the PostgreSQL database rawURL names, in one transaction: accounts,
// services, verifications, messages with their outbox, parts and receipts,
// callbacks still to send and every attempt, the sandbox inbox, the rate
// limits' counts, the SMS-pumping guard's state, the operator's tokens,
// the audit log, TOTP factors, and the fingerprint of the server secret (server_meta).
// The SQLite database must be at the same schema version (otpgate migrate
// it first) and no server may be using it; the PostgreSQL database is
// migrated, must hold no account yet, and no fingerprint of another
// secret. progress, if set, hears each table's row count.
func CopyFromSQLite(ctx context.Context, sqlitePath, rawURL string, progress func(table string, rows int64)) error {
	src, err := sql.Open("sqlite", "file:"+sqlitePath+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer src.Close()
	var have int
	if err := src.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("--from %s: not an otpgate database: %w", sqlitePath, err)
	}
	if have != Version() {
		return fmt.Errorf("--from %s is at schema version %d, this otpgate's is %d: run `otpgate migrate` on it first (or use the otpgate that made it)", sqlitePath, have, Version())
	}
	st, err := Open(ctx, rawURL, Options{Writers: 1})
	if err != nil {
		return err
	}
	defer st.Close()
	var accounts int
	if err := st.pool.QueryRow(ctx, `SELECT count(*) FROM accounts`).Scan(&accounts); err != nil {
		return err
	}
	if accounts > 0 {
		return fmt.Errorf("--to %s already holds %d accounts: copy into an empty database", Redact(rawURL), accounts)
	}
	return pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		n, err := copyServerMeta(ctx, src, tx, rawURL)
		if err != nil {
			return err
		}
		if progress != nil {
			progress("server_meta", n)
		}
		for _, t := range copyTables {
			rows, err := src.QueryContext(ctx, t.read)
			if err != nil {
				return fmt.Errorf("read %s: %w", t.name, err)
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, &sqlRows{rows: rows, n: len(t.columns), convert: t.convert})
			rows.Close()
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
			if progress != nil {
				progress(t.name, n)
			}
		}
		return nil
	})
}

// sqlRows feeds SQLite rows to COPY.
type sqlRows struct {
	rows    *sql.Rows
	n       int
	convert func([]any) []any
	err     error
	vals    []any
}

func (r *sqlRows) Next() bool {
	if !r.rows.Next() {
		r.err = r.rows.Err()
		return false
	}
	vals := make([]any, r.n)
	ptrs := make([]any, r.n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if r.err = r.rows.Scan(ptrs...); r.err != nil {
		return false
	}
	for i, v := range vals {
		if b, ok := v.([]byte); ok {
			vals[i] = append([]byte(nil), b...)
		}
	}
	if r.convert != nil {
		vals = r.convert(vals)
	}
	r.vals = vals
	return true
}

func (r *sqlRows) Values() ([]any, error) { return r.vals, r.err }
func (r *sqlRows) Err() error             { return r.err }

// copyServerMeta moves server_meta, the fingerprint of the server secret:
// into a database that has none, or the same. A database set up with
// another secret (a node started on it) is refused: the data moved would
// be unreadable to its nodes, or theirs to the nodes of the moved data.
func copyServerMeta(ctx context.Context, src *sql.DB, tx pgx.Tx, rawURL string) (int64, error) {
	rows, err := src.QueryContext(ctx, `SELECT key, value FROM server_meta ORDER BY key`)
	if err != nil {
		return 0, fmt.Errorf("read server_meta: %w", err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var key string
		var value, have []byte
		if err := rows.Scan(&key, &value); err != nil {
			return n, err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO server_meta (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = server_meta.value RETURNING value`, key, value).Scan(&have); err != nil {
			return n, fmt.Errorf("copy server_meta: %w", err)
		}
		if !bytes.Equal(have, value) {
			if key == secretFingerprintKey {
				return n, fmt.Errorf("--to %s was set up with another server secret than --from (a node with another secret started on it): copy into a database no node has started on, and start its nodes with the secret of --from", Redact(rawURL))
			}
			return n, fmt.Errorf("--to %s: its server_meta %s differs from --from's", Redact(rawURL), key)
		}
		n++
	}
	return n, rows.Err()
}
