package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Inspection is what Inspect found of a database.
type Inspection struct {
	Where         string // host:port as user, database name
	ServerVersion string
	Version       int // the schema's version (0: not migrated yet)
	Known         int // the newest version this otpgate knows
	// SecretFingerprint is the fingerprint of the server secret the
	// database was set up with; nil when none is recorded.
	SecretFingerprint []byte
}

// Inspect connects to the database rawURL names, reads its schema version
// and the fingerprint of its secret, and checks that this user can write there, without changing anything
// (otpgate doctor): the write is a row in schema_migrations (or, before
// the first migration, a table) in a transaction that is rolled back.
// Errors never hold the URL's password.
func Inspect(ctx context.Context, rawURL string, timeout time.Duration) (Inspection, error) {
	o := Options{MaxConns: 2, ConnectTimeout: timeout, StatementTimeout: timeout}
	o.setDefaults()
	cfg, err := parseConfig(rawURL, o)
	if err != nil {
		return Inspection{}, err
	}
	in := Inspection{Where: where(cfg), Known: Version()}
	pool, err := connect(ctx, cfg, rawURL, o)
	if err != nil {
		return in, err
	}
	defer pool.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fail := func(what string, err error) error {
		return fmt.Errorf("PostgreSQL at %s: %s: %s", in.Where, what, scrub(err.Error(), rawURL))
	}
	if err := pool.QueryRow(ctx, `SHOW server_version`).Scan(&in.ServerVersion); err != nil {
		return in, fail("reading its version", err)
	}
	if in.Version, err = schemaVersion(ctx, pool); err != nil {
		return in, fail("reading the schema version", err)
	}
	if in.SecretFingerprint, err = secretFingerprint(ctx, pool); err != nil {
		return in, fail("reading the fingerprint of the server secret", err)
	}
	var standby bool
	if err := pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		return in, fail("asking whether it is a standby", err)
	}
	if standby {
		return in, fmt.Errorf("PostgreSQL at %s is a standby (read-only): point --db at the primary", in.Where)
	}
	errRollback := errors.New("rolled back")
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if in.Version > 0 {
			_, err = tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (-1, 0)`)
		} else {
			_, err = tx.Exec(ctx, `CREATE TABLE otpgate_doctor_probe (x integer)`)
		}
		if err != nil {
			return err
		}
		return errRollback
	})
	if err != nil && !errors.Is(err, errRollback) {
		return in, fail("cannot write there", err)
	}
	return in, nil
}
