package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unsetenv makes sure name is not set for the test (and restores it after).
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}

// A database password written $NAME is read from the environment; a
// variable that is not set, or is empty, is an error naming it, never an
// empty password.
func TestExpandPassword(t *testing.T) {
	t.Setenv("OTPGATE_TEST_DB_PW", "s3cret")
	t.Setenv("OTPGATE_TEST_EMPTY_PW", "")
	unsetenv(t, "OTPGATE_TEST_UNSET_PW")
	for _, tt := range []struct{ in, want, err string }{
		{"postgres://otpgate:$OTPGATE_TEST_DB_PW@db:5432/otpgate", "postgres://otpgate:s3cret@db:5432/otpgate", ""},
		{"postgres://otpgate:plain@db/otpgate", "postgres://otpgate:plain@db/otpgate", ""},
		{"postgres://otpgate@db/otpgate", "postgres://otpgate@db/otpgate", ""},
		{"postgres://db/otpgate", "postgres://db/otpgate", ""},
		{"postgres://otpgate:$OTPGATE_TEST_UNSET_PW@db/otpgate", "", "--db: the password is $OTPGATE_TEST_UNSET_PW, which is not set in the environment"},
		{"postgres://otpgate:$OTPGATE_TEST_EMPTY_PW@db/otpgate", "", "--db: the password is $OTPGATE_TEST_EMPTY_PW, which is empty in the environment"},
	} {
		got, err := expandPassword("--db", tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("expandPassword(%q) = %q, %v; want the error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expandPassword(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// Each command that takes a database URL refuses to start when its $NAME
// password is not set: migrate, operator-token, copy's --to, and doctor
// says it as a failed check.
func TestUnsetDBPasswordIsAnError(t *testing.T) {
	unsetenv(t, "OTPGATE_TEST_UNSET_PW")
	db := "postgres://otpgate:$OTPGATE_TEST_UNSET_PW@127.0.0.1:1/otpgate"
	want := "--db: the password is $OTPGATE_TEST_UNSET_PW, which is not set in the environment"
	for _, args := range [][]string{
		{"migrate", "--db", db},
		{"operator-token", "--list", "--db", db},
		{"accounts", "create", "--name", "x", "--db", db, "--data-dir", t.TempDir()},
	} {
		err := run(t.Context(), args, io.Discard, io.Discard)
		if err == nil || err.Error() != want {
			t.Errorf("otpgate %s: %v, want %q", strings.Join(args, " "), err, want)
		}
	}

	// The same variable, through the environment's OTPGATE_DB.
	t.Setenv("OTPGATE_DB", db)
	if err := run(t.Context(), []string{"migrate"}, io.Discard, io.Discard); err == nil || err.Error() != want {
		t.Errorf("OTPGATE_DB=%s otpgate migrate: %v, want %q", db, err, want)
	}
	os.Unsetenv("OTPGATE_DB")

	dataDir := t.TempDir()
	if err := run(t.Context(), []string{"migrate", "--data-dir", dataDir}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	err := run(t.Context(), []string{"copy", "--from", "sqlite:" + dataDir, "--to", db}, io.Discard, io.Discard)
	if want := "--to: the password is $OTPGATE_TEST_UNSET_PW, which is not set in the environment"; err == nil || err.Error() != want {
		t.Errorf("otpgate copy --to %s: %v, want %q", db, err, want)
	}

	var out bytes.Buffer
	err = run(t.Context(), []string{"doctor", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--db", db, "--timeout", "2s"}, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "FAIL  database: "+want+"\n") {
		t.Errorf("otpgate doctor --db %s: %v\n%s", db, err, out.String())
	}
}

// serve refuses to start when an SMPP connector's $NAME password is not
// set or is empty, from --smpp or from the config file, and says which.
func TestUnsetSMPPPasswordIsAnError(t *testing.T) {
	unsetenv(t, "OTPGATE_TEST_UNSET_PW")
	t.Setenv("OTPGATE_TEST_EMPTY_PW", "")
	config := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(config, []byte(`{"connectors": [{"name": "zain", "url": "smpp://otpgate:$OTPGATE_TEST_UNSET_PW@127.0.0.1:1"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		set  func(*ServeConfig)
		want string
	}{
		{func(c *ServeConfig) { c.SMPP = []string{"smpp://otpgate:$OTPGATE_TEST_UNSET_PW@127.0.0.1:1?name=zain"} },
			"--smpp: the password is $OTPGATE_TEST_UNSET_PW, which is not set in the environment"},
		{func(c *ServeConfig) { c.SMPP = []string{"smpp://otpgate:$OTPGATE_TEST_EMPTY_PW@127.0.0.1:1?name=zain"} },
			"--smpp: the password is $OTPGATE_TEST_EMPTY_PW, which is empty in the environment"},
		{func(c *ServeConfig) { c.ConfigFile = config },
			"--config " + config + `: connector "zain": the password is $OTPGATE_TEST_UNSET_PW, which is not set in the environment`},
	} {
		cfg := ServeConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Region: "JO", CodeLength: 6, CodeTTL: 10 * time.Minute,
			LogLevel: "warn", LogFormat: "text"}
		tt.set(&cfg)
		m := &Main{Config: cfg, Stdout: io.Discard, LogOutput: io.Discard}
		err := m.Run(t.Context())
		m.Close()
		if err == nil || err.Error() != tt.want {
			t.Errorf("serve: %v, want %q", err, tt.want)
		}
		// It stopped before the first start made an account.
		st, err := openStore(t.Context(), "", cfg.DataDir, nil, DBOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if accs, err := st.Accounts(t.Context()); err != nil || len(accs) > 0 {
			t.Errorf("a start that failed made %d accounts (%v)", len(accs), err)
		}
		st.Close()
	}
}
