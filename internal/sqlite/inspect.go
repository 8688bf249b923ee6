package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
)

// Inspection is what Inspect found of a database file.
type Inspection struct {
	Exists  bool // false: serve creates it on first start
	Version int  // the schema's version (0 when not Exists)
	Known   int  // the newest version this otpgate knows
	// SecretFingerprint is the fingerprint of the server secret the
	// database was set up with; nil when none is recorded.
	SecretFingerprint []byte
}

// Inspect reads the schema version of the database at path, and the
// fingerprint of its secret, without changing it (otpgate doctor): opened read-only, no migration.
func Inspect(ctx context.Context, path string) (Inspection, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return Inspection{}, err
	}
	in := Inspection{Known: latest(names)}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return in, nil
	} else if err != nil {
		return in, err
	}
	in.Exists = true
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "query_only(ON)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return in, err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&in.Version)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return in, nil
	}
	if err != nil {
		return in, fmt.Errorf("read %s: %w", path, err)
	}
	err = db.QueryRowContext(ctx, `SELECT value FROM server_meta WHERE key = ?`, secretFingerprintKey).Scan(&in.SecretFingerprint)
	if err != nil && !errors.Is(err, sql.ErrNoRows) && !strings.Contains(err.Error(), "no such table") {
		return in, fmt.Errorf("read %s: %w", path, err)
	}
	return in, nil
}
