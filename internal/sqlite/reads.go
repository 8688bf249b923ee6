package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/sqlstore"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// The reads: from a pool of read-only connections, which see what the
// writer committed and never wait for it (WAL).

// Account returns the account with the given SID.
func (s *Store) Account(ctx context.Context, sid string) (account.Account, error) {
	return sqlstore.ScanAccountDetail(s.queryRow(ctx, `SELECT `+sqlstore.AccountDetailCols+` FROM accounts WHERE sid = ?`, sid))
}

// Accounts returns every account.
func (s *Store) Accounts(ctx context.Context) ([]account.Account, error) {
	rows, err := s.query(ctx, `SELECT `+sqlstore.AccountCols+` FROM accounts ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanAccount)
}

// AccountsVersion changes whenever an account is added or removed, or its
// tokens or its being disabled change.
func (s *Store) AccountsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.queryRow(ctx, `SELECT coalesce(max(rowid), 0) * 1000003 + count(*) + coalesce(sum(rev), 0) * 7919 FROM accounts`).Scan(&v)
	return v, err
}

// AccountTokenSealed returns the account's sealed auth token.
func (s *Store) AccountTokenSealed(ctx context.Context, sid string) ([]byte, error) {
	var b []byte
	err := s.queryRow(ctx, `SELECT token_sealed FROM accounts WHERE sid = ?`, sid).Scan(&b)
	return b, sqlstore.NotFound(err)
}

// NextDue returns when the earliest outbox item is due.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var n *int64
	if err := s.queryRow(ctx, `SELECT min(ob_due) FROM messages WHERE ob_queued = 1`).Scan(&n); err != nil {
		return time.Time{}, err
	}
	if n == nil {
		return time.Time{}, store.ErrNotFound
	}
	return fromNanos(*n), nil
}

// Message returns one of the account's messages.
func (s *Store) Message(ctx context.Context, accountSID, sid string) (message.Message, error) {
	m, err := sqlstore.ScanMessage(s.queryRow(ctx, `SELECT `+sqlstore.MessageCols+` FROM messages WHERE sid = ? AND account_sid = ?`, sid, accountSID))
	return m, err
}

// Messages lists an account's messages, newest first.
func (s *Store) Messages(ctx context.Context, f message.Filter) ([]message.Message, error) {
	limit := sqlstore.ListLimit(f.Limit)
	q := `SELECT ` + sqlstore.MessageCols + ` FROM messages WHERE account_sid = ?`
	args := []any{f.AccountSID}
	add := func(cond string, v ...any) { q += " AND " + cond; args = append(args, v...) }
	if f.To != "" {
		add("to_number = ?", f.To)
	}
	if f.ToPrefix != "" {
		add("substr(to_number, 1, ?) = ?", len(f.ToPrefix), f.ToPrefix)
	}
	if f.From != "" {
		add("from_addr = ?", f.From)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if !f.CreatedFrom.IsZero() {
		add("created_at >= ?", nanos(f.CreatedFrom))
	}
	if !f.CreatedUntil.IsZero() {
		add("created_at < ?", nanos(f.CreatedUntil))
	}
	if !f.SentFrom.IsZero() {
		add("sent_at >= ? AND sent_at != 0", nanos(f.SentFrom))
	}
	if !f.SentUntil.IsZero() {
		add("sent_at < ? AND sent_at != 0", nanos(f.SentUntil))
	}
	order := sqlstore.PageOrder(f.Cursor)
	if c := f.Cursor; c != nil {
		if c.Before {
			add("(created_at > ? OR (created_at = ? AND sid > ?))", nanos(c.CreatedAt), nanos(c.CreatedAt), c.SID)
		} else {
			add("(created_at < ? OR (created_at = ? AND sid < ?))", nanos(c.CreatedAt), nanos(c.CreatedAt), c.SID)
		}
	}
	q += " ORDER BY created_at " + order + ", sid " + order + " LIMIT ?"
	args = append(args, limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanMessage)
	return sqlstore.Page(out, order), err
}

// SandboxEntries lists the account's sandbox messages to a number, newest first.
func (s *Store) SandboxEntries(ctx context.Context, accountSID, to string, limit int) ([]message.SandboxEntry, error) {
	rows, err := s.query(ctx, `SELECT `+sqlstore.SandboxCols+`
		FROM sandbox_messages WHERE account_sid = ? AND to_number = ? ORDER BY created_at DESC, sid DESC LIMIT ?`, accountSID, to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanSandboxEntry)
}

// Service returns the account's service of that name.
func (s *Store) Service(ctx context.Context, accountSID, name string) (verification.Service, error) {
	return sqlstore.ScanService(s.queryRow(ctx, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE account_sid = ? AND name = ?`, accountSID, name))
}

// ServiceBySID returns a service.
func (s *Store) ServiceBySID(ctx context.Context, sid string) (verification.Service, error) {
	return sqlstore.ScanService(s.queryRow(ctx, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE sid = ?`, sid))
}

// Services returns the account's services, oldest first.
func (s *Store) Services(ctx context.Context, accountSID string) ([]verification.Service, error) {
	rows, err := s.query(ctx, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE account_sid = ? ORDER BY created_at, sid`, accountSID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanService)
}

// VerificationBySID returns one of the account's verifications.
func (s *Store) VerificationBySID(ctx context.Context, accountSID, sid string) (verification.Verification, error) {
	return sqlstore.ScanVerification(s.queryRow(ctx, `SELECT `+sqlstore.VerificationCols+` FROM verifications WHERE sid = ? AND account_sid = ?`, sid, accountSID))
}

// LatestVerification returns the newest verification of a key.
func (s *Store) LatestVerification(ctx context.Context, key verification.Key) (verification.Verification, error) {
	return sqlstore.ScanVerification(s.queryRow(ctx, `SELECT `+sqlstore.VerificationCols+` FROM verifications
		WHERE account_sid = ? AND service_sid = ? AND to_number = ? ORDER BY created_at DESC, sid DESC LIMIT 1`, key.AccountSID, key.ServiceSID, key.To))
}

// DueExpirations returns pending verifications whose codes expired in (since, now].
func (s *Store) DueExpirations(ctx context.Context, since, now time.Time, limit int) ([]verification.Verification, error) {
	rows, err := s.query(ctx, `SELECT `+sqlstore.VerificationCols+` FROM verifications
		WHERE expires_at > ? AND expires_at <= ? AND status = 'pending' ORDER BY expires_at LIMIT ?`, nanos(since), nanos(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanVerification)
}

// DueFallbacks returns up to limit fallbacks due at now or whose SMS
// failed, earliest first; see verify.Store.
func (s *Store) DueFallbacks(ctx context.Context, now time.Time, limit int) ([]verification.Fallback, error) {
	rows, err := s.query(ctx, `SELECT f.verification_sid, f.account_sid, f.message_sid, f.address, f.locale, f.due_at, f.created_at, m.status
		FROM fallbacks f LEFT JOIN messages m ON m.sid = f.message_sid
		WHERE f.due_at <= ? OR m.status IN ('failed', 'undelivered', 'canceled') ORDER BY f.due_at LIMIT ?`, nanos(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanFallback)
}

// queryRow runs a read through a statement prepared once per query text
// (parsing SQL is a tenth of a send's CPU otherwise).
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return s.readDB.QueryRowContext(ctx, q, args...) // reports the error when scanned
	}
	return st.QueryRowContext(ctx, args...)
}

func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// prepared returns the read pool's statement for q, preparing it once. The
// queries are a fixed set (Messages makes at most a few hundred variants).
func (s *Store) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.reads.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.readDB.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.reads.LoadOrStore(q, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// CallbackBacklog counts the callbacks not yet delivered or given up, and
// says when the oldest was made; see webhook.Store.
func (s *Store) CallbackBacklog(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	if err := s.queryRow(ctx, `SELECT count(*), min(created_at) FROM callbacks`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, err
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, fromNanos(oldest.Int64), nil
}
