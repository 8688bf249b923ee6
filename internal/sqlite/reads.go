package sqlite

import (
	"context"
	"slices"
	"time"

	"github.com/otpgate/otpgate/internal/store"
)

// Account returns the account with the given SID.
func (s *Store) Account(ctx context.Context, sid string) (store.Account, error) {
	var a store.Account
	var created int64
	err := s.readDB.QueryRowContext(ctx, `SELECT sid, name, token_hash, created_at, sms_url FROM accounts WHERE sid = ?`, sid).
		Scan(&a.SID, &a.Name, &a.TokenHash, &created, &a.SMSURL)
	if err != nil {
		return store.Account{}, notFound(err)
	}
	a.CreatedAt = fromNanos(created)
	return a, nil
}

// Accounts returns every account.
func (s *Store) Accounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.readDB.QueryContext(ctx, `SELECT sid, name, token_hash, created_at FROM accounts ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		var a store.Account
		var created int64
		if err := rows.Scan(&a.SID, &a.Name, &a.TokenHash, &created); err != nil {
			return nil, err
		}
		a.CreatedAt = fromNanos(created)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AccountsVersion changes whenever an account is added or removed.
func (s *Store) AccountsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.readDB.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) * 1000003 + count(*) FROM accounts`).Scan(&v)
	return v, err
}

// InsertAccount adds an account.
func (s *Store) InsertAccount(ctx context.Context, a store.Account) error {
	return s.submit(ctx, func(t *tx) error {
		return t.exec(t.st.insertAccount, a.SID, a.Name, a.TokenHash, nanos(a.CreatedAt), a.TokenSealed)
	})
}

// SetAccountSMSURL sets where the account's inbound SMS are POSTed.
func (s *Store) SetAccountSMSURL(ctx context.Context, sid, url string) error {
	return s.submit(ctx, func(t *tx) error {
		return t.execOne(t.st.setSMSURL, "set sms_url of account "+sid, url, sid)
	})
}

// ClaimOutbox leases up to limit due items; see store.Store.
func (s *Store) ClaimOutbox(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.OutboxItem, error) {
	var items []store.OutboxItem
	err := s.submit(ctx, func(t *tx) error {
		var err error
		items, err = t.claim(now, leaseUntil, limit)
		return err
	})
	return items, err
}

// ReleaseLeases makes every claimed item due now.
func (s *Store) ReleaseLeases(ctx context.Context) (int, error) {
	var n int64
	err := s.submit(ctx, func(t *tx) error {
		if err := t.beforeWrite(); err != nil {
			return err
		}
		res, err := t.st.releaseLeases.ExecContext(bg)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = t.st.releaseCallbacks.ExecContext(bg)
		return err
	})
	return int(n), err
}

// ClaimCallbacks leases due callbacks, the oldest pending of each message.
func (s *Store) ClaimCallbacks(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.Callback, error) {
	var out []store.Callback
	err := s.submit(ctx, func(t *tx) error {
		var err error
		out, err = t.claimCallbacks(now, leaseUntil, limit)
		return err
	})
	return out, err
}

// CallbackAttempts lists a message's callback attempts, oldest first.
func (s *Store) CallbackAttempts(ctx context.Context, messageSID string) ([]store.CallbackAttempt, error) {
	rows, err := s.readDB.QueryContext(ctx, `SELECT callback_sid, attempt, message_sid, url, at, status_code, error, duration_ns
		FROM callback_attempts WHERE message_sid = ? ORDER BY at, callback_sid, attempt`, messageSID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.CallbackAttempt
	for rows.Next() {
		var a store.CallbackAttempt
		var at, dur int64
		if err := rows.Scan(&a.CallbackSID, &a.Attempt, &a.MessageSID, &a.URL, &at, &a.StatusCode, &a.Error, &dur); err != nil {
			return nil, err
		}
		a.At, a.Duration = fromNanos(at), time.Duration(dur)
		out = append(out, a)
	}
	return out, rows.Err()
}

// AccountTokenSealed returns the account's sealed auth token.
func (s *Store) AccountTokenSealed(ctx context.Context, sid string) ([]byte, error) {
	var b []byte
	err := s.readDB.QueryRowContext(ctx, `SELECT token_sealed FROM accounts WHERE sid = ?`, sid).Scan(&b)
	return b, notFound(err)
}

// NextDue returns when the earliest outbox item is due.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	var n *int64
	if err := s.readDB.QueryRowContext(ctx, `SELECT min(ob_due) FROM messages WHERE ob_queued = 1`).Scan(&n); err != nil {
		return time.Time{}, err
	}
	if n == nil {
		return time.Time{}, store.ErrNotFound
	}
	return fromNanos(*n), nil
}

// Message returns one of the account's messages.
func (s *Store) Message(ctx context.Context, accountSID, sid string) (store.Message, error) {
	m, err := scanMessage(s.readDB.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages WHERE sid = ? AND account_sid = ?`, sid, accountSID))
	return m, err
}

// Messages lists an account's messages, newest first.
func (s *Store) Messages(ctx context.Context, f store.MessageFilter) ([]store.Message, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	q := `SELECT ` + messageCols + ` FROM messages WHERE account_sid = ?`
	args := []any{f.AccountSID}
	add := func(cond string, v ...any) { q += " AND " + cond; args = append(args, v...) }
	if f.Direction != "" {
		add("direction = ?", f.Direction)
	}
	if f.To != "" {
		add("to_number = ?", f.To)
	}
	if f.From != "" {
		add("from_addr = ?", f.From)
	}
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if !f.SentFrom.IsZero() {
		add("sent_at >= ? AND sent_at != 0", nanos(f.SentFrom))
	}
	if !f.SentUntil.IsZero() {
		add("sent_at < ? AND sent_at != 0", nanos(f.SentUntil))
	}
	order := "DESC"
	if c := f.Cursor; c != nil {
		if c.Before {
			add("(created_at > ? OR (created_at = ? AND sid > ?))", nanos(c.CreatedAt), nanos(c.CreatedAt), c.SID)
			order = "ASC"
		} else {
			add("(created_at < ? OR (created_at = ? AND sid < ?))", nanos(c.CreatedAt), nanos(c.CreatedAt), c.SID)
		}
	}
	q += " ORDER BY created_at " + order + ", sid " + order + " LIMIT ?"
	args = append(args, limit)
	rows, err := s.readDB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if order == "ASC" {
		slices.Reverse(out)
	}
	return out, rows.Err()
}

// SandboxMessages lists the account's sandbox messages to a number, newest first.
func (s *Store) SandboxMessages(ctx context.Context, accountSID, to string, limit int) ([]store.SandboxMessage, error) {
	rows, err := s.readDB.QueryContext(ctx, `SELECT sid, account_sid, from_addr, to_number, body, segments, encoding, created_at
		FROM sandbox_messages WHERE account_sid = ? AND to_number = ? ORDER BY created_at DESC, sid DESC LIMIT ?`, accountSID, to, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SandboxMessage
	for rows.Next() {
		var m store.SandboxMessage
		var created int64
		if err := rows.Scan(&m.SID, &m.AccountSID, &m.From, &m.To, &m.Body, &m.Segments, &m.Encoding, &created); err != nil {
			return nil, err
		}
		m.CreatedAt = fromNanos(created)
		out = append(out, m)
	}
	return out, rows.Err()
}
