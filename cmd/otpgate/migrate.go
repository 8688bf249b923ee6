package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otpgate migrate", flag.ContinueOnError)
	db := fs.String("db", "", dbHelp)
	dataDir := fs.String("data-dir", "./otpgate-data", "the data directory of the embedded database (when --db is not given)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: otpgate migrate [--db URL | --data-dir DIR]\n\nApplies the database's pending migrations and says from which version to which.\nNodes also migrate when they start (several at once take turns); run this to\nmigrate before a rolling upgrade. A database migrated by a newer otpgate is\nrefused.\n\nFlags (each also an OTPGATE_* environment variable):\n")
		printFlags(fs.Output(), fs)
	}
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
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
