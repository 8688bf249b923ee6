package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/backend"
	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/sqlite"
)

// Store is everything otpgate keeps; see backend.Store.
type Store = backend.Store

// DBOptions are the settings of a database given on the command line.
type DBOptions struct {
	MaxConns         int           // PostgreSQL pool size
	StatementTimeout time.Duration // PostgreSQL statement timeout
	Node             string        // this node's name in its claims; "" for a command that claims nothing
	ConnectTimeout   time.Duration // how long to try reaching the database; 0: 10 s
}

// dbHelp says which --db values are accepted.
const dbHelp = "the database: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (several nodes share it; a password may be $ENV_VAR), or sqlite:PATH; default: the embedded SQLite database DATA_DIR/otpgate.db"

// isPostgres reports whether a --db value names PostgreSQL.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the store a --db URL names ("" for the embedded default
// in dataDir). It is the one place otpgate names a store's implementation.
func openStore(ctx context.Context, db, dataDir string, log *slog.Logger, o DBOptions) (Store, error) {
	switch {
	case isPostgres(db):
		dsn, err := expandPassword("--db", db)
		if err != nil {
			return nil, err
		}
		st, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: o.MaxConns, StatementTimeout: o.StatementTimeout, Node: o.Node, ConnectTimeout: o.ConnectTimeout})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	path, err := sqlitePath(db, dataDir)
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	if log != nil {
		st.LogStats(log, 10*time.Second)
	}
	return st, nil
}

// migrateStore applies pending migrations (otpgate migrate).
func migrateStore(ctx context.Context, db, dataDir string) (from, to int, err error) {
	if isPostgres(db) {
		dsn, err := expandPassword("--db", db)
		if err != nil {
			return 0, 0, err
		}
		return postgres.Migrate(ctx, dsn)
	}
	path, err := sqlitePath(db, dataDir)
	if err != nil {
		return 0, 0, err
	}
	return sqlite.Migrate(ctx, path)
}

// inspection is what a database holds, read without migrating or changing
// it (otpgate doctor, migrate, copy).
type inspection struct {
	Version, Known int    // the schema's version (0: none yet), and the newest this otpgate knows
	Fingerprint    []byte // of the server secret it was set up with; nil for none, or no database yet
}

func inspectStore(ctx context.Context, db, dataDir string, timeout time.Duration) (inspection, error) {
	if isPostgres(db) {
		dsn, err := expandPassword("--db", db)
		if err != nil {
			return inspection{}, err
		}
		in, err := postgres.Inspect(ctx, dsn, timeout)
		return inspection{in.Version, in.Known, in.SecretFingerprint}, err
	}
	path, err := sqlitePath(db, dataDir)
	if err != nil {
		return inspection{}, err
	}
	in, err := sqlite.Inspect(ctx, path)
	return inspection{in.Version, in.Known, in.SecretFingerprint}, err
}

// describeStore names the store a --db URL opens, for the startup line:
// "PostgreSQL HOST:PORT/DB as USER" (never the password), or "SQLite PATH"
// (absolute).
func describeStore(db, dataDir string) string {
	if isPostgres(db) {
		u, err := url.Parse(db)
		if err != nil {
			return "PostgreSQL " + postgres.Redact(db)
		}
		d := "PostgreSQL " + u.Host + u.Path
		if u.User != nil && u.User.Username() != "" {
			d += " as " + u.User.Username()
		}
		return d
	}
	path, err := sqlitePath(db, dataDir)
	if err != nil {
		return "SQLite"
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return "SQLite " + path
}

func sqlitePath(db, dataDir string) (string, error) {
	switch {
	case db == "": // the data directory is made by the command that may make it (datadir.go)
		return filepath.Join(dataDir, "otpgate.db"), nil
	case strings.HasPrefix(db, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(db, "sqlite:"), "//")
		if path == "" {
			return "", fmt.Errorf("--db %q: give the database file, e.g. sqlite:/var/lib/otpgate/otpgate.db", db)
		}
		return path, nil
	}
	return "", fmt.Errorf("--db %q: unknown kind of database; want %s", postgres.Redact(db), dbHelp)
}

// expandPassword reads the password of a database URL written $NAME from
// the environment variable NAME, so it stays off the command line. A
// variable that is not set, or is empty, is an error naming it and where
// the URL came from (--db, --to), not an empty password.
func expandPassword(where, db string) (string, error) {
	at := strings.LastIndex(db, "@")
	scheme := strings.Index(db, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return db, nil
	}
	colon := strings.Index(db[scheme+3:at], ":")
	if colon < 0 {
		return db, nil
	}
	pw := db[scheme+3+colon+1 : at]
	name, ok := strings.CutPrefix(pw, "$")
	if !ok {
		return db, nil
	}
	v, set := os.LookupEnv(name)
	switch {
	case !set:
		return "", fmt.Errorf("%s: the password is $%s, which is not set in the environment", where, name)
	case v == "":
		return "", fmt.Errorf("%s: the password is $%s, which is empty in the environment", where, name)
	}
	return db[:scheme+3+colon+1] + v + db[at:], nil
}

// nodeID names this node in the claims it holds: made once and kept in the
// data directory (which one process at a time may use).
func nodeID(dataDir string) (string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("--data-dir: %w", err)
	}
	file := filepath.Join(dataDir, "node-id")
	b, err := os.ReadFile(file)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [8]byte
	rand.Read(r[:])
	host, _ := os.Hostname()
	id := host + "-" + hex.EncodeToString(r[:])
	if err := os.WriteFile(file, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("--data-dir: %w", err)
	}
	return id, nil
}
