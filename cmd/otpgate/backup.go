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

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/keyring"
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
serve. When a secret is there, restore checks that it opens the backup's
sealed tokens.

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
		fs.PrintDefaults()
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
	path := filepath.Join(*dataDir, "otpgate.db")
	if *db != "" {
		var err error
		if path, err = sqlitePath(*db, *dataDir); err != nil {
			return err
		}
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
	secret := *secretFile
	if secret == "" {
		secret = filepath.Join(*dataDir, "secret")
	}
	where := "It is in " + secret + "."
	if _, err := os.Stat(secret); err != nil {
		where = "It is not in " + secret + " on this machine: it is the file serve's --secret-file names."
	}
	_, err = fmt.Fprintf(stdout, "Backed up %s (schema version %d) to %s: %s in %s.\n"+
		"The server secret is NOT in the backup: without it, the backup's codes, sealed message bodies\n"+
		"and auth tokens cannot be read. Keep a copy of the secret apart from the backups. %s\n",
		path, info.Version, info.Path, bytesWords(uint64(info.Size)), info.Took.Round(time.Millisecond), where)
	return err
}

func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate restore", flag.ContinueOnError)
	from := fs.String("from", "", "the backup file, made by otpgate backup (required)")
	dataDir := fs.String("data-dir", "", "the data directory to restore into, as DATA_DIR/otpgate.db (required; created if missing)")
	secretFile := fs.String("secret-file", "", "the server secret the restored server will run with, when not DATA_DIR/secret: checked against the backup")
	force := fs.Bool("force", false, "replace an existing database, keeping it as otpgate.db.before-restore-TIME")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), restoreUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *from == "" || *dataDir == "" {
		return errors.New("restore: give --from FILE and --data-dir DIR (see --help)")
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	lock, err := lockDataDir(*dataDir)
	if err != nil {
		return fmt.Errorf("restore: %w (stop the server first)", err)
	}
	defer lock.Close()
	db := filepath.Join(*dataDir, "otpgate.db")
	info, err := sqlite.Restore(ctx, *from, db, *force, time.Now())
	switch {
	case errors.Is(err, sqlite.ErrExists):
		return fmt.Errorf("restore: %s already holds a database; give --force to replace it (it is then kept as otpgate.db.before-restore-TIME)", *dataDir)
	case err != nil && info.Kept == "":
		return fmt.Errorf("restore: %w (nothing was changed)", err)
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "Restored %s as %s: %s, %s in %s.\n", *from, db, schemaWords(info.Version, info.Known, false),
		bytesWords(uint64(info.Size)), info.Took.Round(time.Millisecond))
	if info.Kept != "" {
		fmt.Fprintf(stdout, "The database it replaced is kept as %s.\n", info.Kept)
	}
	return restoredSecret(stdout, info, *secretFile, *dataDir)
}

// restoredSecret says which server secret the restored database needs, and
// whether the one in place opens what the backup sealed.
func restoredSecret(stdout io.Writer, info sqlite.RestoreInfo, secretFile, dataDir string) error {
	file := secretFile
	if file == "" {
		file = filepath.Join(dataDir, "secret")
	}
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		_, err := fmt.Fprintf(stdout, "The backup does not hold the server secret. Put the secret it was made with in place before\n"+
			"starting serve: %s (mode 0600), or give serve --secret-file FILE. Without it, serve makes a new\n"+
			"secret, with which the backup's codes, sealed message bodies and sealed tokens cannot be read.\n", file)
		return err
	}
	secret, err := loadSecret(file, dataDir)
	if err == nil {
		var keys *keyring.Keys
		if keys, err = keyring.New(secret); err == nil && info.SealedSID != "" {
			_, err = keys.Open(account.TokenAAD(info.SealedSID), info.SealedToken)
		}
	}
	if err != nil {
		return fmt.Errorf("restore: the database is in place, but the server secret %s does not open what the backup sealed (%v): it is not the secret the backup was made with. Put that one in place before starting serve", file, err)
	}
	if info.SealedSID == "" {
		_, err = fmt.Fprintf(stdout, "The server secret is %s (the backup seals no token to check it against): it must be the one the backup was made with.\n", file)
		return err
	}
	_, err = fmt.Fprintf(stdout, "The server secret %s opens the backup's sealed tokens: it is the one the backup was made with.\n", file)
	return err
}
