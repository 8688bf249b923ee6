package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/postgres"
)

func runCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate copy", flag.ContinueOnError)
	from := fs.String("from", "", "the embedded deployment to move: sqlite:DATA_DIR (or sqlite:FILE.db)")
	to := fs.String("to", "", "the PostgreSQL database to move it into: postgres://USER[:PASSWORD]@HOST[:PORT]/DB (migrated here; it must hold no account yet)")
	secretFile := fs.String("secret-file", "", "the server secret the embedded deployment ran with (default: DATA_DIR/secret); its fingerprint moves with the data")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate copy --from sqlite:DATA_DIR --to postgres://... [--secret-file FILE]\n\nMoves an embedded deployment to PostgreSQL: accounts, services, verifications,\nmessages (queued ones stay queued), receipts, callbacks still to send and every\nattempt, the sandbox inbox, the abuse guard's state (the accounts'\nceilings, rate-limit counts, the pumping guard's counts, blocks and safe\nlists, the daily budgets' counts), operator tokens and the audit log; in\none transaction.\nStop the server first (the data directory is locked while it runs). Then\nstart the nodes with --db and the same server secret (--secret-file\nDATA_DIR/secret): codes, sealed bodies and auth tokens are bound to it, and the\ncopy carries the secret's fingerprint, which nodes check.\n\nFlags:\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if !strings.HasPrefix(*from, "sqlite:") || !isPostgres(*to) {
		return errors.New("copy: give --from sqlite:DATA_DIR and --to postgres://... (see --help)")
	}
	dsn, err := expandPassword("--to", *to) // what the flags say is checked before anything is read
	if err != nil {
		return err
	}
	path := strings.TrimPrefix(strings.TrimPrefix(*from, "sqlite:"), "//")
	dir := path
	if fi, err := os.Stat(path); err != nil {
		return fmt.Errorf("--from: %w", err)
	} else if fi.IsDir() {
		path = filepath.Join(path, "otpgate.db")
	} else {
		dir = filepath.Dir(path)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("--from: no otpgate database: %w", err)
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		return fmt.Errorf("--from: %w (stop the server first)", err)
	}
	defer lock.Close()
	// The fingerprint of the server secret moves with the data. A database
	// no otpgate has recorded one in yet gets it first, once the secret
	// opens its accounts' tokens (what serve would do on its next start).
	secret := serverSecret{File: *secretFile, DataDir: dir}
	if in, err := inspectStore(ctx, "sqlite:"+path, "", 10*time.Second); err != nil {
		return fmt.Errorf("--from: %w", err)
	} else if in.Version == in.Known { // otherwise the copy below says to migrate it first
		if in.Fingerprint != nil {
			err = secret.compare(in.Fingerprint)
		} else {
			err = recordFingerprint(ctx, path, secret)
		}
		if err != nil {
			return fmt.Errorf("copy: --from: %w", err)
		}
	}
	// On a terminal, a line on stderr says what has been copied so far and
	// for how long; piped, only the lines below.
	prog := newProgressLine(stderr)
	start := time.Now()
	var tables, total atomic.Int64
	done := prog.every(500*time.Millisecond, func() string {
		return fmt.Sprintf("copy: %d tables, %d rows, %s; copying the next table (one transaction)...", tables.Load(), total.Load(), seconds(time.Since(start)))
	})
	err = postgres.CopyFromSQLite(ctx, path, dsn, func(table string, rows int64) {
		prog.above(stdout, fmt.Sprintf("  %-18s %d rows\n", table, rows))
		tables.Add(1)
		total.Add(rows)
	})
	done()
	if err != nil {
		return fmt.Errorf("copy: %w (nothing was written)", err)
	}
	secretPath, _ := secret.path()
	if _, err := os.Stat(secretPath); err != nil {
		secretPath = "FILE (the server secret this deployment ran with)"
	}
	_, err = fmt.Fprintf(stdout, "Copied %s into %s. Start the nodes with --db and --secret-file %s.\n",
		path, postgres.Redact(*to), secretPath)
	return err
}

// recordFingerprint records the fingerprint of the server secret in the
// SQLite database at path, which has none yet.
func recordFingerprint(ctx context.Context, path string, secret serverSecret) error {
	st, err := openStore(ctx, "sqlite:"+path, "", nil, DBOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = secret.keys(ctx, st)
	return err
}
