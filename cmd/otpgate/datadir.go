package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The data directory (./otpgate-data unless --data-dir says otherwise) holds
// the embedded database and the server secret. A command run from the
// wrong directory must not make a new, empty one that no server uses: serve
// makes one and says so; accounts create and migrate make one only when
// asked to; the other commands refuse.

// explicitFlag reports whether the flag was given, on the command line or
// in its OTPGATE_* variable.
func explicitFlag(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	if !given {
		_, given = os.LookupEnv("OTPGATE_" + envName(name))
	}
	return given
}

// dataDirHolds says what a data directory will hold, for the line that
// says it is made.
func dataDirHolds(db, secretFile string) string {
	var what []string
	switch {
	case db == "":
		what = append(what, "database")
	case isPostgres(db):
		what = append(what, "node ID")
	}
	if secretFile == "" {
		what = append(what, "server secret")
	}
	if len(what) == 0 {
		return "its lock"
	}
	return strings.Join(what, " and ")
}

// makeDataDir creates dir (mode 0700) if it does not exist, and then says
// so in one line, with its absolute path.
func makeDataDir(dir, holds string, say func(line string)) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--data-dir: %w", err)
	}
	say(fmt.Sprintf("creating a new data directory %s (%s)", absPath(dir), holds))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	return nil
}

// sayOn returns a say function that writes "otpgate: LINE" to w (stderr).
func sayOn(w io.Writer) func(string) {
	return func(line string) { fmt.Fprintf(w, "otpgate: %s\n", line) }
}

// notCreated ends the error of a command that found no store where it
// looked.
const notCreated = "give --data-dir, the data directory otpgate serve uses (or --db, its database); this command does not create one"

// existingStore refuses to go on when the store a command would open does
// not exist yet: the data directory, or its database (or the SQLite file
// --db names). PostgreSQL is created by migrating it, and always exists.
func existingStore(db, dataDir string) error {
	if isPostgres(db) {
		return nil
	}
	if db == "" {
		if fi, err := os.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no data directory %s: %s", absPath(dataDir), notCreated)
		} else if err != nil {
			return fmt.Errorf("--data-dir: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("--data-dir %s is not a directory", absPath(dataDir))
		}
	}
	path, err := sqlitePath(db, dataDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if db == "" {
			return fmt.Errorf("no database in the data directory %s (no %s): %s", absPath(dataDir), filepath.Base(path), notCreated)
		}
		return fmt.Errorf("--db %s: no such database file (%s): give the database otpgate serve uses; this command does not create one", db, absPath(path))
	} else if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	return nil
}

// newDataDirAllowed refuses, unless allowed (--data-dir named it, or
// --init), a data directory that does not exist yet, or one without its
// database when db is the embedded default.
func newDataDirAllowed(dataDir, db string, allowed bool) error {
	if allowed {
		return nil
	}
	const ask = "give --data-dir, the data directory otpgate serve uses (or --db, its database, and --secret-file, its secret), or --init to make a new one (a new database and server secret, which no running server uses)"
	if _, err := os.Stat(dataDir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no data directory %s: %s", absPath(dataDir), ask)
	}
	if db != "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dataDir, "otpgate.db")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no database in the data directory %s: %s", absPath(dataDir), ask)
	}
	return nil
}
