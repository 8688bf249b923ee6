package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/storetest"
	"github.com/otpgate/otpgate/internal/syncbuf"
)

// The conformance suite tests every operation otpgate uses: its Store and
// the suite's are the same set of methods.
var (
	_ storetest.Store = Store(nil)
	_ Store           = storetest.Store(nil)
)

func TestOpenStoreURLs(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		db      string
		wantErr string
	}{
		{"", ""},
		{"sqlite:" + dir + "/other.db", ""},
		{"sqlite://" + dir + "/third.db", ""},
		{"sqlite:", "give the database file"},
		{"postgres://otpgate:hunter2@127.0.0.1:1/otpgate", "cannot reach PostgreSQL at 127.0.0.1:1"},
		{"postgres://otpgate:hunter2@[::1/otpgate", "is not a PostgreSQL URL"},
		{"mysql://root:hunter2@localhost/otpgate", "unknown kind of database"},
	} {
		st, err := openStore(t.Context(), tt.db, dir, nil, DBOptions{ConnectTimeout: 2 * time.Second})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("openStore(%q): %v", tt.db, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("openStore(%q) = %v, want an error saying %q", tt.db, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("openStore(%q) error shows the password: %v", tt.db, err)
		}
		if st != nil {
			st.Close()
		}
	}
}

// The startup line names the store a node uses: the SQLite file's absolute
// path, or PostgreSQL's host, database and user, never its password; and
// the delivery.
func TestStartupLineNamesStoreAndDelivery(t *testing.T) {
	for db, want := range map[string]string{
		"postgres://otpgate:s3cret@db.example:5432/otpgate?sslmode=require": "PostgreSQL db.example:5432/otpgate as otpgate",
		"postgresql://db.example/otp":                                       "PostgreSQL db.example/otp",
		"sqlite:/var/lib/otpgate/otpgate.db":                                "SQLite /var/lib/otpgate/otpgate.db",
	} {
		if got := describeStore(db, "unused"); got != want {
			t.Errorf("describeStore(%q) = %q; want %q", db, got, want)
		}
	}
	var logs syncbuf.Buffer
	s := mustServeLogging(t, nil, &logs, func(c *ServeConfig) { c.LogLevel = "debug" })
	abs, _ := filepath.Abs(filepath.Join(s.Config.DataDir, "otpgate.db"))
	line := ""
	for l := range strings.SplitSeq(logs.String(), "\n") {
		if strings.Contains(l, "otpgate listening") {
			line = l
		}
	}
	if !strings.Contains(line, `store="SQLite `+abs+`"`) || !strings.Contains(line, "delivery=sandbox") {
		t.Fatalf("the startup line: %s", line)
	}
}
