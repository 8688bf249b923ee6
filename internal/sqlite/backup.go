package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
)

// A backup is taken by another process than the server's, on a read-only
// connection of its own: it needs no lock but SQLite's read lock, which in
// WAL mode never waits for the writer nor makes it wait. Its one read
// transaction is the backup's snapshot: every page copied is of the same
// moment, whatever the server commits meanwhile.
//
// Two ways were measured, otpgate backup run as its own process beside a
// server taking 400-900 sends/s on 2 busy cores, a 200 MiB database: SQLite's
// online backup API, which copies the pages as they are, took 1.5-3.1 s;
// VACUUM INTO, which rebuilds every table and index (a file 10% smaller),
// 2.0-4.7 s, with fewer sends per second meanwhile. Both hold the snapshot
// for as long as they run, and the server cannot start its WAL over while
// it is held (its writer must not wait for that: see maybeRestartWAL), so
// the shorter is the better: Backup copies pages. TestBackupWhileWriting
// measures both in one process.
//
// The copy is synced as it is written, a step at a time: one fsync of the
// whole file at the end made the server's next commit wait behind it
// (sends of 0.6-0.8 s at the end of a 200 MiB backup; 60-110 ms synced
// step by step).

// backupMethod is how a backup copies the database.
type backupMethod int

const (
	pageCopy   backupMethod = iota // the online backup API (sqlite3_backup_step)
	vacuumInto                     // VACUUM INTO
)

// backupStep is how many pages one step copies (16 MiB of 4 KiB pages),
// between which Backup checks its context and reports its progress. Every
// step is of the same read transaction, so the steps make one snapshot.
const backupStep = 4096

// BackupInfo is what Backup wrote.
type BackupInfo struct {
	Path    string        // the backup file
	Size    int64         // its size in bytes
	Took    time.Duration // from start to the file in place
	Version int           // the schema version it holds
}

// BackupProgress reports pages copied of the database's pages.
type BackupProgress func(done, total int)

// ErrExists means the backup's file exists and was not to be overwritten.
var ErrExists = errors.New("the file exists")

// ErrNotOtpgate means a file is not an otpgate database.
var ErrNotOtpgate = errors.New("not an otpgate database")

// Backup writes a consistent copy of the database at src to dst, a complete
// SQLite database in one file (no WAL beside it), mode 0600. It may run while
// a server writes to src. The copy is written under a temporary name in
// dst's directory, synced, and then renamed to dst: dst is never a part of
// a file. An existing dst is refused (ErrExists) unless overwrite.
func Backup(ctx context.Context, src, dst string, overwrite bool, progress BackupProgress) (BackupInfo, error) {
	return backup(ctx, src, dst, overwrite, pageCopy, progress)
}

func backup(ctx context.Context, src, dst string, overwrite bool, method backupMethod, progress BackupProgress) (BackupInfo, error) {
	start := time.Now()
	info := BackupInfo{Path: dst}
	if _, err := os.Stat(src); err != nil {
		return info, fmt.Errorf("no database at %s: %w", src, errors.Unwrap(err))
	}
	if fi, err := os.Stat(dst); err == nil {
		if si, _ := os.Stat(src); os.SameFile(fi, si) {
			return info, fmt.Errorf("%s is the database itself", dst)
		}
		if fi.IsDir() {
			return info, fmt.Errorf("%s is a directory; name the backup's file", dst)
		}
		if !overwrite {
			return info, fmt.Errorf("%s: %w", dst, ErrExists)
		}
	}
	tmp, err := tempBeside(dst)
	if err != nil {
		return info, err
	}
	defer removeDB(tmp) // after the rename, nothing is left under the temporary name
	if info.Version, err = copyDB(ctx, src, tmp, method, progress); err != nil {
		return info, err
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return info, err
	}
	info.Size = fi.Size()
	if err := place(tmp, dst, overwrite); err != nil {
		return info, err
	}
	info.Took = time.Since(start)
	return info, nil
}

// copyDB copies the otpgate database at src, as of one moment, into the
// new, empty file at dst, and returns its schema version. dst is then a
// database of its own, synced.
func copyDB(ctx context.Context, src, dst string, method backupMethod, progress BackupProgress) (int, error) {
	dsn := readOnlyDSN(src)
	if method == vacuumInto { // it writes its file through the source's connection
		dsn = "file:" + src + "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", src, err)
	}
	defer conn.Close()
	// The read transaction is the snapshot; reading the schema's version in
	// it starts it, and says whether src is otpgate's. (VACUUM INTO makes
	// its own, and refuses to run in one.)
	if method == pageCopy {
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			return 0, err
		}
		defer conn.ExecContext(context.Background(), "ROLLBACK")
	}
	version, err := schemaVersion(ctx, conn, src)
	if err != nil {
		return 0, err
	}
	switch method {
	case pageCopy:
		err = copyPages(ctx, conn, dst, progress)
		if err == nil {
			_, err = conn.ExecContext(ctx, "ROLLBACK")
		}
	case vacuumInto:
		_, err = conn.ExecContext(ctx, "VACUUM INTO ?", dst)
	}
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", src, err)
	}
	if err := seal(ctx, dst); err != nil {
		return 0, fmt.Errorf("the copy of %s: %w", src, err)
	}
	return version, nil
}

// copyPages copies the database of conn, in its open read transaction,
// into the new file at dst, with SQLite's online backup API.
func copyPages(ctx context.Context, conn *sql.Conn, dst string, progress BackupProgress) error {
	return conn.Raw(func(dc any) error {
		b, ok := dc.(interface {
			NewBackup(string) (*msqlite.Backup, error)
		})
		if !ok {
			return errors.New("the SQLite driver offers no backup")
		}
		// The copy is written without SQLite's syncs and synced here after
		// every step: 16 MiB go to the disk at a time, not the whole
		// database in one fsync at the end, which the server's next commit
		// (its own fsync) would wait behind. A copy cut short is removed,
		// so it needs no rollback journal either.
		f, err := os.OpenFile(dst, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		bk, err := b.NewBackup("file:" + dst + "?_pragma=synchronous(OFF)&_pragma=journal_mode(OFF)")
		if err != nil {
			return err
		}
		for {
			more, err := bk.Step(backupStep)
			if err == nil {
				err = f.Sync()
			}
			if err == nil && progress != nil {
				progress(bk.PageCount()-bk.Remaining(), bk.PageCount())
			}
			if err == nil && more {
				err = ctx.Err()
			}
			if err != nil || !more {
				return errors.Join(err, bk.Finish())
			}
		}
	})
}

// seal makes the new file at path a database of its own: a rollback
// journal, not WAL, in its header (so it opens read-only, and on a
// read-only disk, with no -wal or -shm beside it), its schema readable, and
// its pages on the disk.
func seal(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	return syncFile(path)
}

// place renames tmp to dst, the last step: an existing dst is replaced only
// when overwrite, and atomically (a hard link refuses an existing name
// where a rename would replace it).
func place(tmp, dst string, overwrite bool) error {
	if overwrite {
		if err := os.Rename(tmp, dst); err != nil {
			return err
		}
	} else {
		err := os.Link(tmp, dst)
		switch {
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%s: %w", dst, ErrExists)
		case err != nil: // a file system without hard links (some network mounts)
			if _, serr := os.Lstat(dst); serr == nil {
				return fmt.Errorf("%s: %w", dst, ErrExists)
			}
			if err := os.Rename(tmp, dst); err != nil {
				return err
			}
		default:
			os.Remove(tmp)
		}
	}
	return syncDir(filepath.Dir(dst))
}

// tempBeside returns a new, empty file's name (mode 0600) in the directory
// of path, for a file to be renamed to path.
func tempBeside(path string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// removeDB removes a database file and what SQLite may have left beside it.
func removeDB(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readOnlyDSN opens a database to read only: a backup's source, which a
// server may be writing, or a file to restore.
func readOnlyDSN(path string) string {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(ON)")
	return "file:" + path + "?" + q.Encode()
}

// schemaVersion returns the version otpgate's migrations left in the
// database, ErrNotOtpgate when they left none.
func schemaVersion(ctx context.Context, conn *sql.Conn, path string) (int, error) {
	var v int
	err := conn.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	switch {
	case err != nil && strings.Contains(err.Error(), "no such table"):
		return 0, fmt.Errorf("%s: %w (it has no schema_migrations table)", path, ErrNotOtpgate)
	case err != nil && strings.Contains(err.Error(), "not a database"):
		return 0, fmt.Errorf("%s: %w (it is not an SQLite database)", path, ErrNotOtpgate)
	case err != nil:
		return 0, fmt.Errorf("read %s: %w", path, err)
	case v == 0:
		return 0, fmt.Errorf("%s: %w (no migration recorded)", path, ErrNotOtpgate)
	}
	return v, nil
}

// RestoreInfo is what Restore put in place.
type RestoreInfo struct {
	Version int           // the schema version of the database restored
	Known   int           // the newest version this otpgate knows
	Size    int64         // its size in bytes
	Kept    string        // where the database it replaced was kept; "" when there was none
	Took    time.Duration // from start to the database in place
}

// Restore puts the backup at from in place as the database at db, for a
// server that is not running (the caller holds the data directory's lock).
// from must be an otpgate database that passes SQLite's quick_check, of a
// schema version this otpgate knows. An existing database at db is refused
// (ErrExists) unless keep; then it is kept as db.before-restore-STAMP, its
// WAL (if any) beside it. The copy is made under a temporary name beside db,
// synced, and renamed: a crash leaves the old database or the new one at db.
// On an error, Kept is set only if the old database was moved aside.
func Restore(ctx context.Context, from, db string, keep bool, now time.Time) (RestoreInfo, error) {
	start := time.Now()
	var info RestoreInfo
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return info, err
	}
	info.Known = latest(names)
	fi, err := os.Stat(from)
	if err != nil {
		return info, err
	}
	if !fi.Mode().IsRegular() {
		return info, fmt.Errorf("%s is not a file", from)
	}
	if di, err := os.Stat(db); err == nil && os.SameFile(fi, di) {
		return info, fmt.Errorf("%s is the database itself", from)
	}
	exists := false
	for _, p := range []string{db, db + "-wal"} {
		if _, err := os.Stat(p); err == nil {
			exists = true
		}
	}
	if exists && !keep {
		return info, fmt.Errorf("%s: %w", db, ErrExists)
	}
	tmp, err := tempBeside(db)
	if err != nil {
		return info, err
	}
	defer removeDB(tmp)
	if info.Version, err = copyDB(ctx, from, tmp, pageCopy, nil); err != nil {
		return info, err
	}
	if info.Version > info.Known {
		return info, fmt.Errorf("%w: the backup is at version %d, this otpgate knows up to %d; restore it with the newer otpgate", ErrSchemaNewer, info.Version, info.Known)
	}
	if err := quickCheck(ctx, tmp); err != nil {
		return info, fmt.Errorf("%s: %w", from, err)
	}
	if st, err := os.Stat(tmp); err == nil {
		info.Size = st.Size()
	}
	if exists {
		kept := db + ".before-restore-" + now.UTC().Format("20060102T150405Z")
		if err := keepOld(ctx, db, kept); err != nil {
			return info, err
		}
		info.Kept = kept
	}
	if err := os.Rename(tmp, db); err != nil {
		if info.Kept != "" {
			return info, fmt.Errorf("put the restored database in place: %w (the old one is kept as %s)", err, info.Kept)
		}
		return info, err
	}
	info.Took = time.Since(start)
	return info, syncDir(filepath.Dir(db))
}

// quickCheck runs SQLite's quick_check on the database at path.
func quickCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return err
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("the database is damaged (quick_check: %s)", strings.Join(problems[:min(len(problems), 3)], "; "))
	}
	return nil
}

// keepOld moves the database at db, with its WAL, to kept. It first
// checkpoints the WAL into the database (best effort: a damaged database
// may refuse), then links the database to kept, so that db names the old
// database until the new one replaces it.
func keepOld(ctx context.Context, db, kept string) error {
	if old, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)"); err == nil {
		old.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
		old.Close()
	}
	if _, err := os.Lstat(kept); err == nil {
		return fmt.Errorf("keep the old database: %s exists", kept)
	}
	if _, err := os.Stat(db); err == nil {
		if err := os.Link(db, kept); err != nil {
			// A file system without hard links: db is then missing until
			// the new database is renamed to it.
			if err := os.Rename(db, kept); err != nil {
				return fmt.Errorf("keep the old database: %w", err)
			}
		}
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Rename(db+suffix, kept+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keep the old database's %s: %w", suffix, err)
		}
	}
	return syncDir(filepath.Dir(db))
}
