package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/otpgate/otpgate/internal/audit"
	"github.com/otpgate/otpgate/internal/sqlstore"
)

// The audit log; see audit.Row.

// auditStmts are the writer's statements for the audit log.
type auditStmts struct {
	auditInsert, auditForget *sql.Stmt
}

func (s *auditStmts) prepareAudit(p func(**sql.Stmt, string)) {
	p(&s.auditInsert, `INSERT INTO audit_log (`+sqlstore.AuditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	p(&s.auditForget, `DELETE FROM audit_log WHERE at < ?`)
}

// InsertAudit adds an entry to the audit log.
func (s *Store) InsertAudit(ctx context.Context, e audit.Row) error {
	return s.submit(ctx, normal, func(t *tx) error {
		_, err := t.exec(t.st.auditInsert, e.ID, nanos(e.At), e.AccountSID, e.Actor, e.ActorName, e.Kind, e.Action,
			e.Target, e.Before, e.After, e.Outcome, e.Detail, e.RequestID)
		return err
	})
}

// AuditLog lists the audit entries f selects, newest first (by At, then ID).
func (s *Store) AuditLog(ctx context.Context, f audit.Filter) ([]audit.Row, error) {
	q := `SELECT ` + sqlstore.AuditCols + ` FROM audit_log WHERE 1 = 1`
	var args []any
	if f.AccountSID != "" {
		q += ` AND account_sid = ?`
		args = append(args, f.AccountSID)
	}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if c := f.Before; c != nil {
		q += ` AND (at, id) < (?, ?)`
		args = append(args, nanos(c.At), c.ID)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, sqlstore.ListLimit(f.Limit))
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanAuditEntry)
}

// ForgetAudit deletes the audit entries made before before.
func (s *Store) ForgetAudit(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		var err error
		n, err = t.exec(t.st.auditForget, nanos(before))
		return err
	})
	return int(n), err
}
