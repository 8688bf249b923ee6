// Package sqlite is otpgate's embedded store: SQLite through modernc.org/sqlite
// (pure Go), in WAL mode, every commit fsynced before it is acknowledged, so a
// committed write survives a crash of the process or the machine.
//
// Writes go through one writer goroutine that owns the only write connection
// and commits in groups: every Update waiting when a transaction starts joins
// it, each in its own savepoint, and all of them are acknowledged after the
// one COMMIT and its one fsync. Throughput is then bound by how fast SQLite
// executes statements, not by the disk's fsync rate. The writer runs the
// fsync itself, after the COMMIT has written the WAL (synchronous=NORMAL),
// and tells the writes that asked in between (store.WhenWritten).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/store"
	msqlite "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DefaultMaxBatch is how many Updates one group commit takes at most.
const DefaultMaxBatch = 1024

// Store is the SQLite store. Open it with Open.
type Store struct {
	writeDB *sql.DB
	readDB  *sql.DB
	reads   sync.Map // query text -> *sql.Stmt on readDB
	ckptDB  *sql.DB
	w       *writer

	gate sqlstore.Gate // Update callers in flight, until Close
	mu   sync.Mutex    // guards stats

	ckpt  *periodic.Loop
	stats *periodic.Loop // LogStats's, or nil
}

// checkpointer copies the WAL back into the database file in the background,
// on a connection of its own. The writer's connection never checkpoints on
// commit (wal_autocheckpoint is off there), so a group commit never waits
// for the database file's fsync. A PASSIVE checkpoint never blocks, but
// under a steady stream of writes it never catches up to the WAL's end, and
// SQLite only starts the WAL over after one that does: so the checkpointer
// publishes the WAL's length, and the writer, between two groups, runs a
// RESTART checkpoint when it is too long (see writer.maybeRestartWAL).
func (s *Store) checkpointer() *periodic.Loop {
	return &periodic.Loop{Every: 200 * time.Millisecond, Run: func(ctx context.Context) error {
		var busy, log, done int64
		if err := s.ckptDB.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err == nil {
			s.w.walFrames.Store(log)
		}
		return nil
	}}
}

// Open opens (creating if needed) the database at path and applies pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	writeDB, err := sql.Open("sqlite", dsn(path, false)+"&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		return nil, err
	}
	writeDB.SetMaxOpenConns(1)
	writeDB.SetMaxIdleConns(1)
	writeDB.SetConnMaxLifetime(0)
	// Two processes opening a new file at once (serve and accounts create)
	// race to switch it to WAL; the loser sees SQLITE_BUSY on connect, which
	// busy_timeout does not cover. Retry the first connection for a while.
	for attempt := 0; ; attempt++ {
		err := writeDB.PingContext(ctx)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "SQLITE_BUSY") || attempt >= 100 {
			writeDB.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		time.Sleep(time.Duration(10+attempt) * time.Millisecond)
	}
	if err := migrate(ctx, writeDB); err != nil {
		writeDB.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	readDB, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		writeDB.Close()
		return nil, err
	}
	readDB.SetMaxOpenConns(4)
	readDB.SetMaxIdleConns(4)
	readDB.SetConnMaxLifetime(0)
	conn, err := writeDB.Conn(ctx)
	if err != nil {
		writeDB.Close()
		readDB.Close()
		return nil, err
	}
	w, err := newWriter(ctx, conn, path+"-wal", DefaultMaxBatch)
	if err != nil {
		conn.Close()
		writeDB.Close()
		readDB.Close()
		return nil, err
	}
	go w.run()
	ckptDB, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		w.stop()
		conn.Close()
		writeDB.Close()
		readDB.Close()
		return nil, err
	}
	ckptDB.SetMaxOpenConns(1)
	s := &Store{writeDB: writeDB, readDB: readDB, ckptDB: ckptDB, w: w}
	s.ckpt = s.checkpointer()
	s.ckpt.Start(context.Background())
	return s, nil
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "journal_size_limit(67108864)") // after a WAL restart, cut the file to 64 MiB
	// 8 MiB of page cache per connection. Reads of pages not in the WAL
	// go through mmap, not the cache; and SQLite walks the cache's whole
	// hash table at every commit, so a larger one costs the writer time
	// per group commit (64 MiB cost a tenth of the sends a second).
	q.Add("_pragma", "cache_size(-8192)")
	q.Add("_pragma", "mmap_size(1073741824)") // read pages through mmap, not a syscall each
	if readOnly {
		q.Add("_pragma", "query_only(ON)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close waits for Updates in flight, stops the writer and closes the database.
func (s *Store) Close() error {
	if !s.gate.Close() {
		return nil
	}
	s.mu.Lock()
	stats := s.stats
	s.mu.Unlock()
	if stats != nil {
		stats.Stop()
	}
	s.gate.Wait()
	s.ckpt.Stop()
	s.w.stop()
	s.reads.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	return errors.Join(s.w.conn.Close(), s.writeDB.Close(), s.readDB.Close(), s.ckptDB.Close())
}

// submit runs fn in the next group commit and returns its result once the
// group is durable. fn may run more than once (a group is run again, each op
// in a savepoint, when an op fails after writing), so it must only call tx
// methods and set its own results afresh.
func (s *Store) submit(ctx context.Context, prio priority, fn func(*tx) error) error {
	if !s.gate.Enter() {
		return store.ErrClosed
	}
	defer s.gate.Leave()
	return unavailable(s.w.Submit(ctx, prio, fn))
}

// unavailable marks the errors of a disk that is full or failing
// (SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN) store.ErrUnavailable: the
// request gets 503 and may be tried again, and nothing was committed. The
// writer goes on, and succeeds again once space returns.
func unavailable(err error) error {
	var se *msqlite.Error
	if err == nil || errors.Is(err, store.ErrUnavailable) || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case 13, 10, 14: // SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN
		return fmt.Errorf("%w: the disk: %w", store.ErrUnavailable, err)
	}
	return err
}

// ErrSchemaNewer means the database was migrated by a newer otpgate.
var ErrSchemaNewer = errors.New("the database's schema is newer than this otpgate")

// Ping reports whether the database answers (for /readyz), and whether
// the writer still writes (it stops after a failed fsync).
func (s *Store) Ping(ctx context.Context) error {
	if failed := s.w.syncErr.Load(); failed != nil {
		return *failed
	}
	if err := s.readDB.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return nil
}

// Migrate applies pending migrations to the database at path and returns
// the schema's version before and after (otpgate migrate).
func Migrate(ctx context.Context, path string) (from, to int, err error) {
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	version := func() (int, error) {
		var v int
		err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
		if err != nil && strings.Contains(err.Error(), "no such table") {
			return 0, nil
		}
		return v, err
	}
	if from, err = version(); err != nil {
		return 0, 0, err
	}
	if err := migrate(ctx, db); err != nil {
		return from, 0, err
	}
	to, err = version()
	return from, to, err
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var have int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return err
	}
	if known := latest(names); have > known {
		return fmt.Errorf("%w: it is at version %d, this otpgate knows up to %d; run the newer otpgate", ErrSchemaNewer, have, known)
	}
	for _, name := range names {
		base := filepath.Base(name)
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with its number", base)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		if err := applyMigration(ctx, db, version, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

// latest is the highest version among the migrations' names (their numbers
// need not be contiguous: a branch may add a later one first).
func latest(names []string) int {
	known := 0
	for _, name := range names {
		if v, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0]); err == nil && v > known {
			known = v
		}
	}
	return known
}

func applyMigration(ctx context.Context, db *sql.DB, version int, body string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// BEGIN IMMEDIATE takes the write lock, so two processes opening the same
	// new database apply each migration once.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if n > 0 {
		_, err := conn.ExecContext(ctx, "COMMIT")
		return err
	}
	if _, err := conn.ExecContext(ctx, body); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, time.Now().UnixNano()); err != nil {
		conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

func nanos(t time.Time) int64 { return sqlstore.Nanos(t) }

func fromNanos(n int64) time.Time { return sqlstore.FromNanos(n) }

// Stats are the writer's counters since Open.
type Stats struct {
	Batches        uint64        // group commits
	Ops            uint64        // Updates committed in them
	SafePasses     uint64        // groups re-run with savepoints after an op failed mid-write
	Busy           time.Duration // time spent running groups, COMMIT included
	Commit         time.Duration // time spent committing (the WAL's write and fsync)
	Sync           time.Duration // of Commit, the WAL's fsync
	WALRestarts    uint64        // RESTART checkpoints the writer ran
	WALRestartTime time.Duration // time they took
	LazyWaiting    int64         // lazy writes the writer holds for a group now
}

// ObserveFsync has f told how long each fsync of the WAL takes (the wait
// every write's answer has after its commit; otpgate_store_fsync_seconds).
func (s *Store) ObserveFsync(f func(time.Duration)) { s.w.onSync.Store(&f) }

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	st := &s.w.stats
	return Stats{
		Batches: st.batches.Load(), Ops: st.ops.Load(), SafePasses: st.safePasses.Load(),
		Busy: time.Duration(st.busy.Load()), Commit: time.Duration(st.commitTime.Load()),
		Sync:        time.Duration(st.syncTime.Load()),
		WALRestarts: st.walRestarts.Load(), WALRestartTime: time.Duration(st.walRestartTime.Load()),
		LazyWaiting: st.lazyWaiting.Load(),
	}
}

// LogStats logs the writer's group-commit counters at debug level every
// interval, until Close.
func (s *Store) LogStats(log *slog.Logger, every time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate.Closed() || s.stats != nil {
		return
	}
	var last Stats
	s.stats = &periodic.Loop{Every: every, Run: func(ctx context.Context) error {
		if !log.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		st := s.Stats()
		batches := st.Batches - last.Batches
		if batches == 0 {
			return nil
		}
		log.Debug("store group commits", "every", every, "batches", batches, "ops", st.Ops-last.Ops,
			"ops_per_batch", float64(st.Ops-last.Ops)/float64(batches),
			"busy", (st.Busy - last.Busy).Round(time.Millisecond), "in_commit", (st.Commit - last.Commit).Round(time.Millisecond),
			"in_fsync", (st.Sync - last.Sync).Round(time.Millisecond),
			"safe_passes", st.SafePasses-last.SafePasses,
			"wal_restarts", st.WALRestarts-last.WALRestarts, "in_wal_restarts", (st.WALRestartTime - last.WALRestartTime).Round(time.Millisecond))
		last = st
		return nil
	}}
	s.stats.Start(context.Background())
}
