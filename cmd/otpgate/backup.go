package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/sqlite"
)

const backupUsage = `Usage: otpgate backup --to FILE [--data-dir DIR | --db sqlite:PATH] [--force]

Writes a copy of the embedded database, as of one moment, to FILE: a complete
SQLite database that otpgate restore puts back. Run it while the server runs:
it needs no lock of the data directory and does not stop sends. FILE is
written under a temporary name beside it and renamed when complete (mode
0600); an existing FILE is refused unless --force.

The server secret is NOT in the backup. Without it, the backup's codes, sealed
message bodies and auth tokens cannot be read: keep a copy of the secret
(DATA_DIR/secret, or serve's --secret-file) apart from the backups.

A PostgreSQL database (--db postgres://...) is backed up with pg_dump:
  pg_dump --format=custom --file otpgate.dump postgres://USER@HOST/DB

Flags (each also an OTPGATE_* environment variable):
`

const restoreUsage = `Usage: otpgate restore --from FILE --data-dir DIR [--force] [--secret-file FILE]

Puts a backup made by otpgate backup in place as DIR/otpgate.db, for a server
that is not running: it takes the data directory's lock, and refuses while a
server holds it. It checks that FILE is an otpgate database (SQLite's
quick_check, its migrations) and says its schema version. An existing database
is refused unless --force; then it is kept as otpgate.db.before-restore-TIME.

The backup does not hold the server secret: put the secret it was made with
in place (DIR/secret, mode 0600, or serve's --secret-file) before starting
serve, which refuses any other. When a secret is there already, restore checks
it against the backup's fingerprint of its secret, and refuses another.

Flags (each also an OTPGATE_* environment variable):
`

func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate backup", flag.ContinueOnError)
	to := fs.String("to", "", "the backup's file (required)")
	dataDir := fs.String("data-dir", "./otpgate-data", "the data directory of the embedded database (when --db is not given)")
	db := fs.String("db", "", "the database, when not DATA_DIR/otpgate.db: sqlite:PATH")
	secretFile := fs.String("secret-file", "", "where the server secret is, when not DATA_DIR/secret (only to say so: it is not copied)")
	force := fs.Bool("force", false, "replace FILE if it exists")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), backupUsage)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if isPostgres(*db) {
		return fmt.Errorf("backup: --db is PostgreSQL; otpgate backup copies the embedded SQLite database only. Back PostgreSQL up with pg_dump:\n"+
			"  pg_dump --format=custom --file otpgate.dump '%s'\n"+
			"(pg_restore --dbname ... otpgate.dump puts it back). The dump holds everything otpgate keeps but the server secret (serve's --secret-file): keep a copy of that apart from the dumps",
			postgres.Redact(*db))
	}
	if *to == "" {
		return errors.New("backup: give --to FILE (see --help)")
	}
	if err := existingStore(*db, *dataDir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	path, err := sqlitePath(*db, *dataDir)
	if err != nil {
		return err
	}
	prog := newProgressLine(stderr)
	var done, total atomic.Int64
	start := time.Now()
	stop := prog.every(500*time.Millisecond, func() string {
		d, t := done.Load(), total.Load()
		return fmt.Sprintf("backup: %s %d of %d pages, %s", bar(float64(d), float64(t), 20), d, t, seconds(time.Since(start)))
	})
	info, err := sqlite.Backup(ctx, path, *to, *force, func(d, t int) { done.Store(int64(d)); total.Store(int64(t)) })
	stop()
	if errors.Is(err, sqlite.ErrExists) {
		return fmt.Errorf("backup: %w (give --force to replace it)", err)
	}
	if err != nil {
		return fmt.Errorf("backup: %w (no backup was written)", err)
	}
	_, err = fmt.Fprintf(stdout, "Backed up %s (schema version %d) to %s: %s in %s.\n"+
		"The server secret is NOT in the backup: without it, the backup's codes, sealed message bodies\n"+
		"and auth tokens cannot be read. Keep a copy of the secret apart from the backups. %s\n",
		absPath(path), info.Version, absPath(info.Path), bytesWords(uint64(info.Size)), info.Took.Round(time.Millisecond),
		whereSecret(ctx, serverSecret{File: *secretFile, DataDir: *dataDir}, info.Path))
	return err
}

// whereSecret says where the server secret of the backup at file is.
func whereSecret(ctx context.Context, s serverSecret, file string) string {
	path, _ := s.path()
	if _, err := os.Stat(path); err != nil {
		return "It is not in " + path + " on this machine: it is the file the server's --secret-file names."
	}
	in, err := sqlite.Inspect(ctx, file)
	switch {
	case err != nil || in.SecretFingerprint == nil:
		return "It is in " + path + "."
	case s.compare(in.SecretFingerprint) != nil:
		return "The one in " + path + " is another secret than the database's (their fingerprints differ): it is the file the server's --secret-file names."
	}
	return "It is in " + path + " (its fingerprint is the database's)."
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate restore", flag.ContinueOnError)
	from := fs.String("from", "", "the backup file, made by otpgate backup (required)")
	dataDir := fs.String("data-dir", "", "the data directory to restore into, as DATA_DIR/otpgate.db (required; created if missing)")
	secretFile := fs.String("secret-file", "", "the server secret the restored server will run with, when not DATA_DIR/secret: checked against the backup's")
	force := fs.Bool("force", false, "replace an existing database, keeping it as otpgate.db.before-restore-TIME")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), restoreUsage)
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *from == "" || *dataDir == "" {
		return errors.New("restore: give --from FILE and --data-dir DIR (see --help)")
	}
	// The secret in place, if there is one, must be the backup's; the
	// backup itself is checked by sqlite.Restore.
	secret := serverSecret{File: *secretFile, DataDir: *dataDir}
	in, err := sqlite.Inspect(ctx, *from)
	if err == nil && in.SecretFingerprint != nil {
		if err := secret.compare(in.SecretFingerprint); err != nil {
			return fmt.Errorf("restore: %w", err) // before anything is changed
		}
	}
	_, statErr := os.Stat(*dataDir)
	made := errors.Is(statErr, os.ErrNotExist)
	if err := makeDataDir(*dataDir, "database", sayOn(stderr)); err != nil {
		return err
	}
	lock, err := lockDataDir(*dataDir)
	if err != nil {
		return fmt.Errorf("restore: %w (stop the server first)", err)
	}
	db := filepath.Join(*dataDir, "otpgate.db")
	info, err := sqlite.Restore(ctx, *from, db, *force, time.Now())
	lock.Close()
	if err != nil && made { // a refused restore leaves no new data directory
		os.Remove(filepath.Join(*dataDir, "otpgate.lock"))
		os.Remove(*dataDir)
	}
	switch {
	case errors.Is(err, sqlite.ErrExists):
		return fmt.Errorf("restore: %s already holds a database; give --force to replace it (it is then kept as otpgate.db.before-restore-TIME)", absPath(*dataDir))
	case err != nil && info.Kept == "":
		return fmt.Errorf("restore: %w (nothing was changed)", err)
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "Restored %s as %s: %s, %s in %s.\n", absPath(*from), absPath(db), schemaWords(info.Version, info.Known, false),
		bytesWords(uint64(info.Size)), info.Took.Round(time.Millisecond))
	if info.Kept != "" {
		fmt.Fprintf(stdout, "The database it replaced is kept as %s.\n", absPath(info.Kept))
	}
	file, _ := secret.path()
	switch _, err := os.Stat(file); {
	case err != nil:
		_, err = fmt.Fprintf(stdout, "The backup does not hold the server secret, and serve starts only with the one it was made with:\n"+
			"put it in place as %s (mode 0600), or give serve --secret-file FILE.\n", file)
		return err
	case in.SecretFingerprint == nil:
		_, err = fmt.Fprintf(stdout, "The server secret is %s: it must be the one the backup was made with (the backup records no\n"+
			"fingerprint of it; serve checks it against the accounts' sealed tokens when it starts).\n", file)
		return err
	}
	_, err = fmt.Fprintf(stdout, "The server secret %s is the one the backup was made with (its fingerprint is the backup's).\n", file)
	return err
}
