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

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api/inbox"
	"github.com/otpgate/otpgate/internal/console"
	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/guard"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

// Store is everything otpgate keeps: the union of what each of its parts
// declares it needs, and what the command line and start-up use.
type Store interface {
	pipeline.Store
	verify.Store
	verify.ServiceStore
	messaging.Store
	dispatch.Store
	inbound.Store
	webhook.Store
	sandbox.Store
	inbox.Store
	account.Store
	// SetAccountSMSURL sets where the account's inbound SMS are POSTed.
	SetAccountSMSURL(ctx context.Context, sid, url string) error
	// SetAccountCountries sets where the account chose to send, within
	// its ceiling.
	SetAccountCountries(ctx context.Context, sid, countries string) error
	// SetAccountPolicy sets the ceilings the operator gave an account.
	SetAccountPolicy(ctx context.Context, sid string, p policy.Policy) error
	guard.LimitStore
	guard.PumpingStore
	guard.BudgetStore
	console.Store
	// Services returns an account's services, oldest first.
	Services(ctx context.Context, accountSID string) ([]verification.Service, error)
	// Token rotation and disabling (account.TokenStore).
	SetSecondaryToken(ctx context.Context, sid string, hash, sealed []byte, at time.Time) error
	DeleteSecondaryToken(ctx context.Context, sid string) error
	PromoteSecondaryToken(ctx context.Context, sid string) error
	SetPrimaryToken(ctx context.Context, sid string, hash, sealed []byte) error
	SetAccountDisabled(ctx context.Context, sid string, disabled bool) error
	// ForgetSandbox deletes sandbox inbox entries made before before.
	ForgetSandbox(ctx context.Context, before time.Time) (int, error)
	// VerificationBySID returns one of an account's verifications.
	VerificationBySID(ctx context.Context, accountSID, sid string) (verification.Verification, error)
	// ReleaseLeases makes the messages and callbacks this node claimed due
	// now: at start-up, its last run's claims (on PostgreSQL, no other
	// node's; on SQLite every claim, the data directory being locked).
	ReleaseLeases(ctx context.Context) (int, error)
	// Ping reports whether the database answers (/readyz).
	Ping(ctx context.Context) error
	Close() error
	// The operator's tokens, beyond what console.Store reads (otpgate
	// console-token).
	InsertOperatorToken(ctx context.Context, t store.OperatorToken) error
	OperatorTokens(ctx context.Context) ([]store.OperatorToken, error)
	RevokeOperatorToken(ctx context.Context, id string, at time.Time) error
	// The audit log: InsertAudit records an entry, AuditLog lists them
	// newest first, ForgetAudit deletes those older than before.
	InsertAudit(ctx context.Context, e store.AuditEntry) error
	AuditLog(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
	ForgetAudit(ctx context.Context, before time.Time) (int, error)
	// The fingerprint of the server secret the store was set up with
	// (secretStore, secret.go).
	SecretFingerprint(ctx context.Context) ([]byte, error)
	SetSecretFingerprintIfAbsent(ctx context.Context, fp []byte) ([]byte, error)
}

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
