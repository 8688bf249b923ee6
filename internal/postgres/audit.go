package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/sqlstore"
)

// The audit log; see audit.Row.

// InsertAudit adds an entry to the audit log.
func (s *Store) InsertAudit(ctx context.Context, e audit.Row) error {
	return s.submit(ctx, normal, func(t *tx) error {
		_, err := t.exec(`INSERT INTO audit_log (`+sqlstore.AuditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			e.ID, nanos(e.At), e.AccountSID, e.Actor, e.ActorName, e.Kind, e.Action, e.Target, e.Before, e.After, e.Outcome, e.Detail, e.RequestID)
		return err
	})
}

// AuditLog lists the audit entries f selects, newest first (by At, then ID).
func (s *Store) AuditLog(ctx context.Context, f audit.Filter) ([]audit.Row, error) {
	q := `SELECT ` + sqlstore.AuditCols + ` FROM audit_log WHERE true`
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.AccountSID != "" {
		q += ` AND account_sid = ` + arg(f.AccountSID)
	}
	if f.Kind != "" {
		q += ` AND kind = ` + arg(f.Kind)
	}
	if c := f.Before; c != nil {
		q += ` AND (at, id) < (` + arg(nanos(c.At)) + `, ` + arg(c.ID) + `)`
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ` + arg(sqlstore.ListLimit(f.Limit))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanAuditEntry)
	return out, unavailable(err)
}

// ForgetAudit deletes the audit entries made before before.
func (s *Store) ForgetAudit(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		var err error
		n, err = t.exec(`DELETE FROM audit_log WHERE at < $1`, nanos(before))
		return err
	})
	return int(n), err
}
