package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/api/inbox"
	"github.com/otpgate/otpgate/internal/dispatch"
	"github.com/otpgate/otpgate/internal/inbound"
	"github.com/otpgate/otpgate/internal/messaging"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/sandbox"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/verification"
	"github.com/otpgate/otpgate/internal/verify"
	"github.com/otpgate/otpgate/internal/webhook"
)

// Store is everything otpgate keeps: the union of what each of its parts
// declares it needs, and what the command line and start-up use.
type Store interface {
	pipeline.Store
	verify.Store
	messaging.Store
	dispatch.Store
	inbound.Store
	webhook.Store
	sandbox.Store
	inbox.Store
	account.Store
	// SetAccountSMSURL sets where the account's inbound SMS are POSTed.
	SetAccountSMSURL(ctx context.Context, sid, url string) error
	// UpdateService stores a service's code length, lifetime and events URL.
	UpdateService(ctx context.Context, svc verification.Service) error
	// ReleaseLeases makes every claimed message and callback due now: at
	// start-up, when no other process can hold a claim.
	ReleaseLeases(ctx context.Context) (int, error)
	Close() error
}

// dbHelp says which --db values are accepted.
const dbHelp = "the database: sqlite:PATH (a file, created if missing); default: the embedded SQLite database DATA_DIR/otpgate.db"

// openStore opens the store a --db URL names ("" for the embedded default
// in dataDir). It is the one place otpgate names a store's implementation.
func openStore(ctx context.Context, db, dataDir string, log *slog.Logger) (Store, error) {
	path := ""
	switch {
	case db == "":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		path = filepath.Join(dataDir, "otpgate.db")
	case strings.HasPrefix(db, "sqlite:"):
		path = strings.TrimPrefix(strings.TrimPrefix(db, "sqlite:"), "//")
		if path == "" {
			return nil, fmt.Errorf("--db %q: give the database file, e.g. sqlite:/var/lib/otpgate/otpgate.db", db)
		}
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return nil, fmt.Errorf("--db: PostgreSQL is not supported yet; use sqlite:PATH or leave --db out for the embedded database")
	default:
		return nil, fmt.Errorf("--db %q: unknown kind of database; want %s", redactDB(db), dbHelp)
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

// redactDB hides a password in a database URL.
func redactDB(db string) string {
	if at := strings.LastIndex(db, "@"); at >= 0 {
		if scheme := strings.Index(db, "://"); scheme >= 0 && scheme < at {
			if colon := strings.Index(db[scheme+3:at], ":"); colon >= 0 {
				return db[:scheme+3+colon] + ":***" + db[at:]
			}
		}
	}
	return db
}
