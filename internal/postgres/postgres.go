// Package postgres is otpgate's store on PostgreSQL, through pgx (pgxpool):
// how several otpgate nodes share one database and act as one service.
//
// Writes are grouped as on SQLite: each node runs a few writer goroutines,
// and every op waiting when a transaction starts joins it, so a node's
// writes cost a commit (and the database's WAL flush) per group, not per
// request. What SQLite gets from having one writer, PostgreSQL gets from
// locks: a verification's row is locked (SELECT ... FOR UPDATE) while a
// check counts it, a new verification takes a transaction-scoped advisory
// lock on its key, receipts and outcomes take one on each SMSC id they
// touch, and the outbox and callbacks are claimed with FOR UPDATE SKIP
// LOCKED and a lease held by a node. A group that deadlocks with another
// node's is run again.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/store"

	"github.com/otpgate/otpgate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Options configure a Store.
type Options struct {
	// MaxConns is the pool's size; default 16.
	MaxConns int
	// StatementTimeout bounds each statement; default 10 s.
	StatementTimeout time.Duration
	// Writers is how many groups a node commits at once; default 2 (more
	// did worse on a 2-core machine that also runs the database).
	Writers int
	// Node names this process in the claims it holds (the outbox, callbacks),
	// so that when it restarts it can release its own and no other node's.
	Node string
	// ConnectTimeout bounds reaching the database at Open; default 10 s.
	ConnectTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.MaxConns == 0 {
		o.MaxConns = 16
	}
	if o.StatementTimeout == 0 {
		o.StatementTimeout = 10 * time.Second
	}
	if o.Writers == 0 {
		o.Writers = 2
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
}

// Store is the PostgreSQL store. Open it with Open.
type Store struct {
	pool *pgxpool.Pool
	node string
	w    *writer

	gate sqlstore.Gate // writes in flight, until Close
}

// Redact returns a PostgreSQL URL with its password hidden.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if at := strings.LastIndex(raw, "@"); at >= 0 {
			return "postgres://***" + raw[at:]
		}
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// parseConfig reads a URL into a pool configuration, with errors that name
// the problem but never the password.
func parseConfig(rawURL string, o Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("--db %s is not a PostgreSQL URL otpgate can use (want postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]): %s",
			Redact(rawURL), scrub(err.Error(), rawURL))
	}
	cfg.MaxConns = int32(o.MaxConns)
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(o.StatementTimeout.Milliseconds(), 10)
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" { // the URL may name each node
		cfg.ConnConfig.RuntimeParams["application_name"] = "otpgate"
	}
	return cfg, nil
}

// scrub removes a URL's password from a message.
func scrub(msg, rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if pw, has := u.User.Password(); has && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// where names the database a configuration points at, for messages.
func where(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s as %s, database %s", net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))), c.User, c.Database)
}

// Open connects to the database rawURL names, applies pending migrations
// (under an advisory lock, so nodes starting together apply each once) and
// starts the writers. It refuses a database whose schema is newer than this
// otpgate knows.
func Open(ctx context.Context, rawURL string, o Options) (*Store, error) {
	o.setDefaults()
	cfg, err := parseConfig(rawURL, o)
	if err != nil {
		return nil, err
	}
	pool, err := connect(ctx, cfg, rawURL, o)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", where(cfg), err)
	}
	s := &Store{pool: pool, node: o.Node}
	s.w = newWriter(pool, o.Writers)
	return s, nil
}

// Migrate applies pending migrations and returns the schema's version
// before and after (otpgate migrate).
func Migrate(ctx context.Context, rawURL string) (from, to int, err error) {
	o := Options{}
	o.setDefaults()
	cfg, err := parseConfig(rawURL, o)
	if err != nil {
		return 0, 0, err
	}
	pool, err := connect(ctx, cfg, rawURL, o)
	if err != nil {
		return 0, 0, err
	}
	defer pool.Close()
	if from, err = schemaVersion(ctx, pool); err != nil {
		return 0, 0, err
	}
	if err := migrate(ctx, pool); err != nil {
		return from, 0, fmt.Errorf("PostgreSQL at %s: %w", where(cfg), err)
	}
	to, err = schemaVersion(ctx, pool)
	return from, to, err
}

func connect(ctx context.Context, cfg *pgxpool.Config, rawURL string, o Options) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s: %s", where(cfg), scrub(err.Error(), rawURL))
	}
	pctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %s", where(cfg), scrub(err.Error(), rawURL))
	}
	return pool, nil
}

// migrationLock is the advisory lock nodes hold while they migrate.
const migrationLock = 0x6f7470676174 // "otpgat"

type migration struct {
	version int
	name    string
	body    string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: its name must start with its number", base)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, base, string(body)})
	}
	return out, nil
}

// Version is the newest schema this otpgate knows.
func Version() int {
	ms, _ := migrations()
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

func schemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// ErrSchemaNewer means the database was migrated by a newer otpgate.
var ErrSchemaNewer = errors.New("the database's schema is newer than this otpgate")

func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	// Each migration not applied yet, by its number (as SQLite's store
	// does), not only those past the highest applied.
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return err
	}
	have := 0
	done := map[int]bool{}
	for _, v := range applied {
		done[v], have = true, max(have, v)
	}
	if known := ms[len(ms)-1].version; have > known {
		return fmt.Errorf("%w: it is at version %d, this otpgate knows up to %d; run the newer otpgate (or migrate with it)", ErrSchemaNewer, have, known)
	}
	for _, m := range ms {
		if done[m.version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.body); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Ping reports whether the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return nil
}

// Close waits for writes in flight, stops the writers and closes the pool.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	s.gate.Wait()
	s.w.stop()
	s.pool.Close()
	return nil
}

// unavailable wraps a failure to talk to the database.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && !outageCode(pe.Code) {
		return err // the database answered: not an outage
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
}

// outageCode reports whether a SQLSTATE the server sent means it cannot
// serve now, rather than that the request was wrong: the connection failed
// (class 08), the server is shutting down, restarting or starting up
// (57P01-57P03: what every connection gets from a restart), or it lacks
// resources (class 53: too many connections, disk full, out of memory).
func outageCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"):
		return true
	case code == "57P01", code == "57P02", code == "57P03":
		return true
	}
	return false
}

func nanos(t time.Time) int64 { return sqlstore.Nanos(t) }

func fromNanos(n int64) time.Time { return sqlstore.FromNanos(n) }
