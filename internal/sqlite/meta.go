package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/otpgate/otpgate/internal/sqlstore"
)

// What the server keeps about itself (server_meta): the fingerprint of its
// secret.

// metaStmts are the writer's statements for server_meta.
type metaStmts struct {
	metaSetIfAbsent *sql.Stmt
}

func (s *metaStmts) prepareMeta(p func(**sql.Stmt, string)) {
	// The stored value, after an insert that only a missing key takes (the
	// no-op update makes RETURNING give the row that was there).
	p(&s.metaSetIfAbsent, `INSERT INTO server_meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = server_meta.value RETURNING value`)
}

const secretFingerprintKey = "secret_fingerprint"

// SecretFingerprint returns the fingerprint of the server secret the
// database was set up with; store.ErrNotFound if none was recorded.
func (s *Store) SecretFingerprint(ctx context.Context) ([]byte, error) {
	var fp []byte
	err := s.queryRow(ctx, `SELECT value FROM server_meta WHERE key = ?`, secretFingerprintKey).Scan(&fp)
	return fp, sqlstore.NotFound(err)
}

// SetSecretFingerprintIfAbsent records fp as the fingerprint of the server
// secret unless one is recorded already, and returns the one recorded
// after the call (fp, or the one that was there).
func (s *Store) SetSecretFingerprintIfAbsent(ctx context.Context, fp []byte) ([]byte, error) {
	if len(fp) == 0 {
		return nil, errors.New("sqlite: an empty secret fingerprint")
	}
	var out []byte
	err := s.submit(ctx, normal, func(t *tx) error {
		out = nil
		if err := t.beforeWrite(); err != nil {
			return err
		}
		if err := t.st.metaSetIfAbsent.QueryRowContext(bg, secretFingerprintKey, fp).Scan(&out); err != nil {
			t.failed = err
			return err
		}
		return nil
	})
	return out, err
}

// InFirstStart runs fn: one process holds a data directory (its lock
// file), so no other node makes a first account at the same moment.
func (s *Store) InFirstStart(ctx context.Context, fn func(context.Context) error) error {
	return fn(ctx)
}
