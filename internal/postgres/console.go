package postgres

import (
	"context"
	"time"

	"github.com/otpgate/otpgate/internal/operator"
	"github.com/otpgate/otpgate/internal/sqlstore"
)

// The operator's tokens, the web console's sessions, and the aggregates its
// pages read; see operator.Token and operator.StatsQuery.

// InsertOperatorToken stores a new operator token.
func (s *Store) InsertOperatorToken(ctx context.Context, t operator.Token) error {
	return s.submit(ctx, normal, func(tx *tx) error {
		_, err := tx.exec(`INSERT INTO operator_tokens (id, name, account_sid, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
			t.ID, t.Name, t.AccountSID, t.Hash, nanos(t.CreatedAt))
		return err
	})
}

// OperatorTokens returns every operator token, revoked ones too, oldest
// first.
func (s *Store) OperatorTokens(ctx context.Context) ([]operator.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.OperatorTokenCols+` FROM operator_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanOperatorToken)
	return out, unavailable(err)
}

// OperatorTokenByHash returns the operator token with that hash (revoked
// or not); ErrNotFound if none.
func (s *Store) OperatorTokenByHash(ctx context.Context, hash []byte) (operator.Token, error) {
	t, err := sqlstore.ScanOperatorToken(s.pool.QueryRow(ctx, `SELECT `+sqlstore.OperatorTokenCols+` FROM operator_tokens WHERE token_hash = $1`, hash))
	return t, unavailable(err)
}

// RevokeOperatorToken stops an operator token working and ends its
// sessions; ErrNotFound if no token of that id works.
func (s *Store) RevokeOperatorToken(ctx context.Context, id string, at time.Time) error {
	return s.submit(ctx, normal, func(tx *tx) error {
		if err := tx.execOne("revoke operator token "+id, `UPDATE operator_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`, nanos(at), id); err != nil {
			return err
		}
		_, err := tx.exec(`DELETE FROM console_sessions WHERE token_id = $1`, id)
		return err
	})
}

// InsertConsoleSession stores a session of a token that works; ErrNotFound
// if the token is unknown or revoked. The token's row is locked (FOR
// SHARE), so a revocation on another node either ends this session too or
// comes after it fails.
func (s *Store) InsertConsoleSession(ctx context.Context, se operator.Session) error {
	return s.submit(ctx, normal, func(tx *tx) error {
		return tx.execOne("console session of token "+se.TokenID, `INSERT INTO console_sessions (hash, token_id, created_at, expires_at)
			SELECT $1, id, $3, $4 FROM operator_tokens WHERE id = $2 AND revoked_at = 0 FOR SHARE`,
			se.Hash, se.TokenID, nanos(se.CreatedAt), nanos(se.ExpiresAt))
	})
}

// ConsoleSession returns the session with that hash, with its token's name
// and account; ErrNotFound if none (or its token no longer works).
func (s *Store) ConsoleSession(ctx context.Context, hash []byte) (operator.Session, error) {
	var se operator.Session
	var created, expires int64
	err := s.pool.QueryRow(ctx, `SELECT s.hash, s.token_id, s.created_at, s.expires_at, t.name, t.account_sid
		FROM console_sessions AS s JOIN operator_tokens AS t ON t.id = s.token_id
		WHERE s.hash = $1 AND t.revoked_at = 0`, hash).
		Scan(&se.Hash, &se.TokenID, &created, &expires, &se.TokenName, &se.AccountSID)
	if err != nil {
		return operator.Session{}, unavailable(sqlstore.NotFound(err))
	}
	se.CreatedAt, se.ExpiresAt = fromNanos(created), fromNanos(expires)
	return se, nil
}

// DeleteConsoleSession ends a session (signing out); no error if it was gone.
func (s *Store) DeleteConsoleSession(ctx context.Context, hash []byte) error {
	return s.submit(ctx, normal, func(tx *tx) error {
		_, err := tx.exec(`DELETE FROM console_sessions WHERE hash = $1`, hash)
		return err
	})
}

// ForgetConsoleSessions deletes the sessions that expired by now.
func (s *Store) ForgetConsoleSessions(ctx context.Context, now time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(tx *tx) error {
		var err error
		n, err = tx.exec(`DELETE FROM console_sessions WHERE expires_at <= $1`, nanos(now))
		return err
	})
	return int(n), err
}

// MessageStats counts an account's messages by bucket, connector, number
// prefix and status.
func (s *Store) MessageStats(ctx context.Context, q operator.StatsQuery) ([]operator.MessageStat, error) {
	rows, err := s.pool.Query(ctx, `SELECT (created_at - $1::bigint) / $2::bigint, connector, substr(to_number, 1, $3::int), status, count(*),
			count(*) FILTER (WHERE sent_at <> 0 AND final_at >= sent_at),
			coalesce(sum(final_at - sent_at) FILTER (WHERE sent_at <> 0 AND final_at >= sent_at), 0)::bigint,
			coalesce(max(final_at - sent_at) FILTER (WHERE sent_at <> 0 AND final_at >= sent_at), 0)::bigint
		FROM messages WHERE account_sid = $4 AND created_at >= $1::bigint AND created_at < $5::bigint AND ($6::text = '' OR direction = $6::text)
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
		nanos(q.Since), int64(q.Step), q.PrefixLen, q.AccountSID, nanos(q.Until), q.Direction)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []operator.MessageStat
	for rows.Next() {
		var m operator.MessageStat
		var bucket, count, sent, sum, mx int64
		if err := rows.Scan(&bucket, &m.Connector, &m.Prefix, &m.Status, &count, &sent, &sum, &mx); err != nil {
			return nil, err
		}
		m.Bucket, m.Count, m.Timed = int(bucket), int(count), int(sent)
		m.DelaySum, m.DelayMax = time.Duration(sum), time.Duration(mx)
		out = append(out, m)
	}
	return out, unavailable(rows.Err())
}

// VerificationStats counts an account's verifications whose code SMS were
// made in the query's range, by the bucket of the first of them, service,
// number prefix and status.
func (s *Store) VerificationStats(ctx context.Context, q operator.StatsQuery) ([]operator.VerificationStat, error) {
	rows, err := s.pool.Query(ctx, `SELECT (m.first - $1::bigint) / $2::bigint, v.service_sid, substr(v.to_number, 1, $3::int), v.status, count(*)
		FROM (SELECT verification_sid, min(created_at) AS first FROM messages
			WHERE account_sid = $4 AND created_at >= $1::bigint AND created_at < $5::bigint AND verification_sid <> ''
			GROUP BY verification_sid) AS m
		JOIN verifications AS v ON v.sid = m.verification_sid
		GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
		nanos(q.Since), int64(q.Step), q.PrefixLen, q.AccountSID, nanos(q.Until))
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []operator.VerificationStat
	for rows.Next() {
		var v operator.VerificationStat
		var bucket, count int64
		if err := rows.Scan(&bucket, &v.ServiceSID, &v.Prefix, &v.Status, &count); err != nil {
			return nil, err
		}
		v.Bucket, v.Count = int(bucket), int(count)
		out = append(out, v)
	}
	return out, unavailable(rows.Err())
}

// SenderStats counts an account's messages in the query's range by sender
// and number prefix (Step is not used).
func (s *Store) SenderStats(ctx context.Context, q operator.StatsQuery) ([]operator.SenderStat, error) {
	rows, err := s.pool.Query(ctx, `SELECT from_addr, substr(to_number, 1, $1::int), count(*) FROM messages
		WHERE account_sid = $2 AND created_at >= $3::bigint AND created_at < $4::bigint AND ($5::text = '' OR direction = $5::text)
		GROUP BY 1, 2 ORDER BY 1, 2`, q.PrefixLen, q.AccountSID, nanos(q.Since), nanos(q.Until), q.Direction)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []operator.SenderStat
	for rows.Next() {
		var st operator.SenderStat
		var count int64
		if err := rows.Scan(&st.From, &st.Prefix, &count); err != nil {
			return nil, err
		}
		st.Count = int(count)
		out = append(out, st)
	}
	return out, unavailable(rows.Err())
}
