package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/otpgate/otpgate/internal/sqlstore"
	"github.com/otpgate/otpgate/internal/store"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/verification"
)

// The reads: from the pool, outside the group commits; they see what is
// committed.

// Account returns the account with the given SID.
func (s *Store) Account(ctx context.Context, sid string) (account.Account, error) {
	return sqlstore.ScanAccountDetail(readRow{s.pool.QueryRow(ctx, `SELECT `+sqlstore.AccountDetailCols+` FROM accounts WHERE sid = $1`, sid)})
}

// readRow is a row read from the pool: an error scanning it is
// store.ErrNotFound for no row, store.ErrUnavailable for an outage.
type readRow struct{ row pgx.Row }

func (r readRow) Scan(dest ...any) error { return unavailable(sqlstore.NotFound(r.row.Scan(dest...))) }

// Accounts returns every account.
func (s *Store) Accounts(ctx context.Context) ([]account.Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.AccountCols+` FROM accounts ORDER BY seq`)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanAccount)
	return out, unavailable(err)
}

// AccountsVersion changes whenever an account is added or removed, or its
// tokens or its being disabled change.
func (s *Store) AccountsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT (coalesce(max(seq), 0) * 1000003 + count(*) + coalesce(sum(rev), 0) * 7919)::bigint FROM accounts`).Scan(&v)
	return v, unavailable(err)
}

// AccountTokenSealed returns the account's sealed auth token.
func (s *Store) AccountTokenSealed(ctx context.Context, sid string) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT token_sealed FROM accounts WHERE sid = $1`, sid).Scan(&b)
	return b, unavailable(sqlstore.NotFound(err))
}

// NextDue returns when the earliest unclaimed outbox message is due.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var n *int64
	if err := s.pool.QueryRow(ctx, `SELECT min(ob_due) FROM messages WHERE ob_queued`).Scan(&n); err != nil {
		return time.Time{}, unavailable(err)
	}
	if n == nil {
		return time.Time{}, store.ErrNotFound
	}
	return fromNanos(*n), nil
}

// Message returns one of the account's messages.
func (s *Store) Message(ctx context.Context, accountSID, sid string) (message.Message, error) {
	m, err := sqlstore.ScanMessage(s.pool.QueryRow(ctx, `SELECT `+sqlstore.MessageCols+` FROM messages WHERE sid = $1 AND account_sid = $2`, sid, accountSID))
	return m, unavailable(err)
}

// Messages lists an account's messages, newest first.
func (s *Store) Messages(ctx context.Context, f message.Filter) ([]message.Message, error) {
	limit := sqlstore.ListLimit(f.Limit)
	args := []any{f.AccountSID}
	q := `SELECT ` + sqlstore.MessageCols + ` FROM messages WHERE account_sid = $1`
	add := func(cond string, v ...any) {
		for _, x := range v {
			args = append(args, x)
			cond = replaceFirst(cond, "?", "$"+strconv.Itoa(len(args)))
		}
		q += " AND " + cond
	}
	if f.To != "" {
		add("to_number = ?", f.To)
	}
	if f.ToPrefix != "" {
		add("substr(to_number, 1, ?::int) = ?", len(f.ToPrefix), f.ToPrefix)
	}
	if f.From != "" {
		add("from_addr = ?", f.From)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if !f.CreatedFrom.IsZero() {
		add("created_at >= ?", nanos(f.CreatedFrom))
	}
	if !f.CreatedUntil.IsZero() {
		add("created_at < ?", nanos(f.CreatedUntil))
	}
	if !f.SentFrom.IsZero() {
		add("sent_at >= ? AND sent_at <> 0", nanos(f.SentFrom))
	}
	if !f.SentUntil.IsZero() {
		add("sent_at < ? AND sent_at <> 0", nanos(f.SentUntil))
	}
	order := sqlstore.PageOrder(f.Cursor)
	if c := f.Cursor; c != nil {
		if c.Before {
			add("(created_at, sid) > (?, ?)", nanos(c.CreatedAt), c.SID)
		} else {
			add("(created_at, sid) < (?, ?)", nanos(c.CreatedAt), c.SID)
		}
	}
	args = append(args, limit)
	q += " ORDER BY created_at " + order + ", sid " + order + " LIMIT $" + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanMessage)
	return sqlstore.Page(out, order), unavailable(err)
}

func replaceFirst(s, old, repl string) string {
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + repl + s[i+len(old):]
		}
	}
	return s
}

// SandboxEntries lists the account's sandbox messages to a number, newest first.
func (s *Store) SandboxEntries(ctx context.Context, accountSID, to string, limit int) ([]message.SandboxEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.SandboxCols+`
		FROM sandbox_messages WHERE account_sid = $1 AND to_number = $2 ORDER BY created_at DESC, sid DESC LIMIT $3`, accountSID, to, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanSandboxEntry)
	return out, unavailable(err)
}

// Service returns the account's service of that name.
func (s *Store) Service(ctx context.Context, accountSID, name string) (verification.Service, error) {
	svc, err := sqlstore.ScanService(s.pool.QueryRow(ctx, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE account_sid = $1 AND name = $2`, accountSID, name))
	return svc, unavailable(err)
}

// ServiceBySID returns a service.
func (s *Store) ServiceBySID(ctx context.Context, sid string) (verification.Service, error) {
	svc, err := sqlstore.ScanService(s.pool.QueryRow(ctx, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE sid = $1`, sid))
	return svc, unavailable(err)
}

// Services returns the account's services, oldest first.
func (s *Store) Services(ctx context.Context, accountSID string) ([]verification.Service, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.ServiceCols+` FROM services WHERE account_sid = $1 ORDER BY created_at, sid`, accountSID)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanService)
	return out, unavailable(err)
}

// VerificationBySID returns one of the account's verifications.
func (s *Store) VerificationBySID(ctx context.Context, accountSID, sid string) (verification.Verification, error) {
	v, err := sqlstore.ScanVerification(s.pool.QueryRow(ctx, `SELECT `+sqlstore.VerificationCols+` FROM verifications WHERE sid = $1 AND account_sid = $2`, sid, accountSID))
	return v, unavailable(err)
}

// LatestVerification returns the newest verification of a key.
func (s *Store) LatestVerification(ctx context.Context, key verification.Key) (verification.Verification, error) {
	v, err := sqlstore.ScanVerification(s.pool.QueryRow(ctx, `SELECT `+sqlstore.VerificationCols+` FROM verifications
		WHERE account_sid = $1 AND service_sid = $2 AND to_number = $3 ORDER BY created_at DESC, sid DESC LIMIT 1`, key.AccountSID, key.ServiceSID, key.To))
	return v, unavailable(err)
}

// DueExpirations returns pending verifications whose codes expired in (since, now].
func (s *Store) DueExpirations(ctx context.Context, since, now time.Time, limit int) ([]verification.Verification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.VerificationCols+` FROM verifications
		WHERE expires_at > $1 AND expires_at <= $2 AND status = 'pending' ORDER BY expires_at LIMIT $3`, nanos(since), nanos(now), limit)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanVerification)
	return out, unavailable(err)
}

// fallbackRead reads fallbacks with their SMS's status.
const fallbackRead = `SELECT f.verification_sid, f.account_sid, f.message_sid, f.address, f.locale, f.due_at, f.created_at, m.status
	FROM fallbacks f LEFT JOIN messages m ON m.sid = f.message_sid `

// DueFallbacks returns up to limit fallbacks due at now or whose SMS
// failed, earliest first; see verify.Store.
func (s *Store) DueFallbacks(ctx context.Context, now time.Time, limit int) ([]verification.Fallback, error) {
	rows, err := s.pool.Query(ctx, fallbackRead+`WHERE f.due_at <= $1 OR m.status IN ('failed', 'undelivered', 'canceled')
		ORDER BY f.due_at LIMIT $2`, nanos(now), limit)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanFallback)
	return out, unavailable(err)
}

// CallbackBacklog counts the callbacks not yet delivered or given up, and
// says when the oldest was made; see webhook.Store.
func (s *Store) CallbackBacklog(ctx context.Context) (int, time.Time, error) {
	var n int
	var oldest *int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*), min(created_at) FROM callbacks`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, unavailable(err)
	}
	if oldest == nil {
		return n, time.Time{}, nil
	}
	return n, fromNanos(*oldest), nil
}
