package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate migrate", flag.ContinueOnError)
	db := fs.String("db", "", dbHelp)
	dataDir := fs.String("data-dir", "./otpgate-data", "the data directory of the embedded database (when --db is not given)")
	secretFile := fs.String("secret-file", "", "the server secret, checked against the database's if there is one (default: DATA_DIR/secret, if it exists)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate migrate [--db URL | --data-dir DIR] [--secret-file FILE]\n\nApplies the database's pending migrations and says from which version to which.\nNodes also migrate when they start (several at once take turns); run this to\nmigrate before a rolling upgrade. A database migrated by a newer otpgate is\nrefused; so is one set up with another server secret than --secret-file (or\nDATA_DIR/secret) when one is there.\n\nFlags (each also an OTPGATE_* environment variable):\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	// A new database only where --data-dir or --db names it; and never
	// under a server secret that is not the database's. migrate makes no
	// secret and records no fingerprint: it may run where the secret is
	// not (before a rolling upgrade), and the first node to start records it.
	if !explicitFlag(fs, "data-dir") && !explicitFlag(fs, "db") {
		if err := existingStore(*db, *dataDir); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if *db == "" {
		if err := makeDataDir(*dataDir, "database", sayOn(stderr)); err != nil {
			return err
		}
	}
	in, err := inspectStore(ctx, *db, *dataDir, 10*time.Second)
	if err != nil {
		return err
	}
	if err := (serverSecret{File: *secretFile, DataDir: *dataDir, Shared: isPostgres(*db)}).compare(in.Fingerprint); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	from, to, err := migrateStore(ctx, *db, *dataDir)
	if err != nil {
		return err
	}
	if from == to {
		_, err = fmt.Fprintf(stdout, "The database is at version %d: nothing to do.\n", to)
	} else {
		_, err = fmt.Fprintf(stdout, "Migrated the database from version %d to %d.\n", from, to)
	}
	return err
}
