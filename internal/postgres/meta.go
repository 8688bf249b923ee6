package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/sqlstore"
)

// What the server keeps about itself (server_meta): the fingerprint of its
// secret.

const secretFingerprintKey = "secret_fingerprint"

// SecretFingerprint returns the fingerprint of the server secret the
// database was set up with; store.ErrNotFound if none was recorded.
func (s *Store) SecretFingerprint(ctx context.Context) ([]byte, error) {
	var fp []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM server_meta WHERE key = $1`, secretFingerprintKey).Scan(&fp)
	return fp, unavailable(sqlstore.NotFound(err))
}

// SetSecretFingerprintIfAbsent records fp as the fingerprint of the server
// secret unless one is recorded already, and returns the one recorded
// after the call (fp, or the one that was there). Nodes starting at once
// on an empty database agree: the insert of one waits for the other's on
// the key, and the no-op update then returns the row that won.
func (s *Store) SetSecretFingerprintIfAbsent(ctx context.Context, fp []byte) ([]byte, error) {
	if len(fp) == 0 {
		return nil, errors.New("postgres: an empty secret fingerprint")
	}
	var out []byte
	err := s.submit(ctx, normal, func(t *tx) error {
		out = nil
		err := t.queryRow(`INSERT INTO server_meta (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = server_meta.value RETURNING value`, secretFingerprintKey, fp).Scan(&out)
		if err == nil {
			t.wrote = true
		}
		return err
	})
	return out, unavailable(err)
}

// secretFingerprint reads the fingerprint of a database that may not be
// migrated yet (otpgate doctor, otpgate migrate): nil when none is recorded.
func secretFingerprint(ctx context.Context, pool *pgxpool.Pool) ([]byte, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('server_meta') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	var fp []byte
	err := pool.QueryRow(ctx, `SELECT value FROM server_meta WHERE key = $1`, secretFingerprintKey).Scan(&fp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return fp, err
}

// firstStartLock is the advisory lock a node holds while it looks for
// accounts and, on an empty database, makes the first one.
const firstStartLock = migrationLock + 1

// InFirstStart runs fn holding firstStartLock, so that nodes starting at
// the same moment on an empty database make one first account between them:
// the others find it when they get the lock. The lock goes with its
// connection if the node dies.
func (s *Store) InFirstStart(ctx context.Context, fn func(context.Context) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(firstStartLock)); err != nil {
		return unavailable(err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(firstStartLock))
	return fn(ctx)
}
