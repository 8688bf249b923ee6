package main

import (
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/storetest"
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
