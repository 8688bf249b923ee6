package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newSecretFile writes a new, random server secret and returns its path.
func newSecretFile(tb testing.TB) string {
	tb.Helper()
	var s [32]byte
	rand.Read(s[:])
	path := filepath.Join(tb.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(s[:])+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// startMain runs a server with cfg (the test defaults filled in) and
// returns it, or the error Run returned; it is closed when the test ends.
func startMain(tb testing.TB, cfg ServeConfig, logs io.Writer) (*Main, error) {
	tb.Helper()
	cfg.Addr, cfg.Region, cfg.CodeLength, cfg.CodeTTL, cfg.LogLevel, cfg.LogFormat = "127.0.0.1:0", "JO", 6, 10*time.Minute, "warn", "text"
	if logs == nil {
		logs = io.Discard
	}
	m := &Main{Config: cfg, Stdout: io.Discard, LogOutput: logs}
	err := m.Run(context.Background())
	if err != nil {
		m.Close()
		return nil, err
	}
	tb.Cleanup(func() { m.Close() })
	return m, nil
}

// fingerprintOf is the fingerprint of the secret in file.
func fingerprintOf(tb testing.TB, file string) []byte {
	tb.Helper()
	secret, err := loadSecret(file, "")
	if err != nil {
		tb.Fatal(err)
	}
	return secretFingerprint(secret)
}

// runCmd runs an otpgate command and returns its stdout, stderr and error.
func runCmd(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// wantRefused fails unless err says the secret in file is not the
// database's, and where the right one is.
func wantRefused(tb testing.TB, what string, err error, file string, shared bool) {
	tb.Helper()
	where := "the secret this database was made with (the DATA_DIR/secret of the server that made it, or the file its --secret-file named)"
	if shared {
		where = "the secret the other nodes use (their DATA_DIR/secret, or the file their --secret-file names)"
	}
	head := "this database was set up with another server secret than the one in " + file
	tail := "; give --secret-file pointing at " + where + "; a new secret would make every stored code, sealed body and auth token unreadable"
	if err == nil || !strings.Contains(err.Error(), head) || !strings.HasSuffix(err.Error(), tail) {
		tb.Errorf("%s: %v\nwant an error saying %q ... %q", what, err, head, tail)
	}
}

// An embedded deployment keeps the fingerprint of the secret it was made
// with; a server or command with another secret, or with none where the
// database was made with one, is refused and changes nothing.
func TestSecretOfADataDirectory(t *testing.T) {
	s := mustServe(t, nil)
	dir := s.Config.DataDir
	own := filepath.Join(dir, "secret")
	if fp, err := s.store.SecretFingerprint(t.Context()); err != nil || !bytes.Equal(fp, fingerprintOf(t, own)) {
		t.Fatalf("after the first start, the store's fingerprint is %x, %v; want the secret's %x", fp, err, fingerprintOf(t, own))
	}
	if r := s.send(t, "login", "0791234567"); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, "0791234567", 1)[0]
	s.Close()
	other := newSecretFile(t)

	t.Run("serve with another secret", func(t *testing.T) {
		_, err := startMain(t, ServeConfig{DataDir: dir, SecretFile: other}, nil)
		wantRefused(t, "serve --secret-file OTHER", err, other, false)
	})
	t.Run("serve without its secret", func(t *testing.T) {
		moved := filepath.Join(t.TempDir(), "moved")
		if err := os.Rename(own, moved); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(moved, own)
		_, err := startMain(t, ServeConfig{DataDir: dir}, nil)
		want := "no server secret at " + own + ", and this database was set up with one; give --secret-file pointing at the secret this database was made with"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("serve without DATA_DIR/secret: %v\nwant %q", err, want)
		}
		if _, err := os.Stat(own); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("serve refused, and made a new secret anyway: %v", err)
		}
	})
	t.Run("commands with another secret", func(t *testing.T) {
		for _, args := range [][]string{
			{"accounts", "create", "--name", "app2", "--data-dir", dir, "--secret-file", other},
			{"accounts", "rotate-token", "--sid", s.SID, "--data-dir", dir, "--secret-file", other},
			{"migrate", "--data-dir", dir, "--secret-file", other},
		} {
			_, _, err := runCmd(args...)
			wantRefused(t, strings.Join(args[:2], " "), err, other, false)
		}
		out, _, err := runCmd("policy", "list", "--data-dir", dir)
		if err != nil || strings.Count(out, "\nAC") != 1 {
			t.Errorf("after the refusals, the accounts are (%v):\n%s", err, out)
		}
	})
	t.Run("doctor", func(t *testing.T) {
		for _, tt := range []struct {
			secret, want string
		}{
			{other, "FAIL  secret: serve would refuse to start: this database was set up with another server secret than the one in " + other + "; give --secret-file"},
			{own, "ok    secret: the one this database was set up with (its fingerprint matches)"},
		} {
			out, _, _ := runCmd("doctor", "--addr", "127.0.0.1:0", "--timeout", "2s", "--data-dir", dir, "--secret-file", tt.secret)
			if !strings.Contains(out, tt.want) {
				t.Errorf("doctor --secret-file %s reported:\n%s\nwant a line %q", tt.secret, out, tt.want)
			}
		}
	})
	t.Run("serve with its secret", func(t *testing.T) {
		m, err := startMain(t, ServeConfig{DataDir: dir}, nil)
		if err != nil {
			t.Fatal(err)
		}
		again := &testServer{Main: m, URL: "http://" + m.Addr(), SID: s.SID, Token: s.Token}
		if r := again.check(t, "login", "0791234567", code); r.Status != 200 || r.Body["valid"] != true {
			t.Errorf("the code sent before, checked after the refusals: %d %s", r.Status, r.Raw)
		}
	})
}

// A database from before fingerprints gets one from the first server that
// starts on it, but only with the secret that opens its accounts' tokens.
func TestSecretOfADatabaseFromBefore(t *testing.T) {
	s := mustServe(t, nil)
	dir := s.Config.DataDir
	s.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, "otpgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM server_meta`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	other := newSecretFile(t)
	_, err = startMain(t, ServeConfig{DataDir: dir, SecretFile: other}, nil)
	wantRefused(t, "serve with another secret, on a database without a fingerprint", err, other, false)
	if err == nil || !strings.Contains(err.Error(), "(it opens none of the accounts' sealed auth tokens)") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	m, err := startMain(t, ServeConfig{DataDir: dir}, nil)
	if err != nil {
		t.Fatalf("serve with its own secret: %v", err)
	}
	if fp, err := m.store.SecretFingerprint(t.Context()); err != nil || !bytes.Equal(fp, fingerprintOf(t, filepath.Join(dir, "secret"))) {
		t.Errorf("the fingerprint recorded: %x, %v", fp, err)
	}
}

// Nodes on one PostgreSQL database: those with the same secret run; one
// started without --secret-file (a new DATA_DIR/secret), or with another
// secret, is refused, saying where the right one is, and makes no secret.
func TestSecretOfPostgresNodes(t *testing.T) {
	c := newCluster(t, 2, nil)
	if fp, err := c.nodes[1].store.SecretFingerprint(t.Context()); err != nil || !bytes.Equal(fp, fingerprintOf(t, c.secret)) {
		t.Fatalf("the cluster's fingerprint: %x, %v", fp, err)
	}

	third := filepath.Join(t.TempDir(), "node3")
	var logs bytes.Buffer
	_, err := startMain(t, ServeConfig{DataDir: third, DB: c.db}, &logs)
	want := "no server secret at " + filepath.Join(third, "secret") + ", and this database was set up with one; give --secret-file pointing at the secret the other nodes use (their DATA_DIR/secret, or the file their --secret-file names); a new secret would make every stored code, sealed body and auth token unreadable"
	if err == nil || err.Error() != want {
		t.Errorf("a third node without --secret-file: %v\nwant %q", err, want)
	}
	if !strings.Contains(logs.String(), `msg="creating a new data directory `+third+` (node ID and server secret)"`) {
		t.Errorf("the third node did not say it made a data directory:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(third, "secret")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused node made a secret: %v", err)
	}

	other := newSecretFile(t)
	_, err = startMain(t, ServeConfig{DataDir: t.TempDir(), DB: c.db, SecretFile: other}, nil)
	wantRefused(t, "a node with another secret", err, other, true)
	for _, args := range [][]string{
		{"accounts", "create", "--name", "app2", "--db", c.db, "--secret-file", other},
		{"accounts", "rotate-token", "--sid", c.sid, "--db", c.db, "--secret-file", other},
		{"migrate", "--db", c.db, "--secret-file", other},
	} {
		_, _, err := runCmd(args...)
		wantRefused(t, strings.Join(args[:2], " ")+" on PostgreSQL", err, other, true)
	}

	// The two nodes still work together.
	if r := c.nodes[0].send(t, "login", "0791234567"); r.Status != 201 {
		t.Fatalf("send through node 1: %d %s", r.Status, r.Raw)
	}
	code := c.nodes[1].codes(t, "0791234567", 1)[0]
	if r := c.nodes[1].check(t, "login", "0791234567", code); r.Status != 200 || r.Body["valid"] != true {
		t.Errorf("node 1's code checked on node 2: %d %s", r.Status, r.Raw)
	}
}

// Two nodes starting at once on an empty database: with one secret both
// run; with two, one runs and the other is refused.
func TestSecretOfNodesStartingTogether(t *testing.T) {
	for _, tt := range []struct {
		name        string
		sameSecret  bool
		wantRefused int
	}{
		{"same secret", true, 0},
		{"two secrets", false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := pgSchemaURL(t)
			secrets := []string{newSecretFile(t), newSecretFile(t)}
			if tt.sameSecret {
				secrets[1] = secrets[0]
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					_, errs[i] = startMain(t, ServeConfig{DataDir: t.TempDir(), DB: db, SecretFile: secrets[i]}, nil)
				})
			}
			wg.Wait()
			refused := 0
			for i, err := range errs {
				switch {
				case err == nil:
				case strings.Contains(err.Error(), "this database was set up with another server secret than the one in "+secrets[i]):
					refused++
				default:
					t.Errorf("node %d: %v", i+1, err)
				}
			}
			if refused != tt.wantRefused {
				t.Errorf("%d nodes refused, want %d (%v)", refused, tt.wantRefused, errs)
			}
		})
	}
}

// otpgate copy carries the fingerprint to PostgreSQL, and refuses a
// database set up with another secret.
func TestCopyCarriesTheSecretsFingerprint(t *testing.T) {
	old := mustServe(t, nil)
	dir := old.Config.DataDir
	old.Close()
	own := filepath.Join(dir, "secret")

	other := pgSchemaURL(t)
	st, err := openStore(t.Context(), other, "", nil, DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetSecretFingerprintIfAbsent(t.Context(), fingerprintOf(t, newSecretFile(t))); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, _, err = runCmd("copy", "--from", "sqlite:"+dir, "--to", other)
	if err == nil || !strings.Contains(err.Error(), "was set up with another server secret than --from") {
		t.Errorf("copy into a database of another secret: %v", err)
	}

	_, _, err = runCmd("copy", "--from", "sqlite:"+dir, "--to", pgSchemaURL(t), "--secret-file", newSecretFile(t))
	if err == nil || !strings.Contains(err.Error(), "this database was set up with another server secret than the one in ") {
		t.Errorf("copy with another secret than the deployment's: %v", err)
	}

	db := pgSchemaURL(t)
	out, _, err := runCmd("copy", "--from", "sqlite:"+dir, "--to", db)
	if err != nil || !strings.Contains(out, "  server_meta        1 rows\n") || !strings.Contains(out, "--secret-file "+own+".") {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	st, err = openStore(t.Context(), db, "", nil, DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if fp, err := st.SecretFingerprint(t.Context()); err != nil || !bytes.Equal(fp, fingerprintOf(t, own)) {
		t.Errorf("the fingerprint in PostgreSQL after the copy: %x, %v", fp, err)
	}
	if _, err := startMain(t, ServeConfig{DataDir: t.TempDir(), DB: db}, nil); err == nil || !strings.Contains(err.Error(), "and this database was set up with one") {
		t.Errorf("a node on the copy without the secret: %v", err)
	}
	if _, err := startMain(t, ServeConfig{DataDir: t.TempDir(), DB: db, SecretFile: own}, nil); err != nil {
		t.Errorf("a node on the copy with the deployment's secret: %v", err)
	}
}

// Run from a directory with no data directory, no command makes one
// silently: accounts create needs --data-dir or --init, the others refuse;
// serve makes one and says so.
func TestCommandsInAnEmptyDirectory(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	dataDir := filepath.Join(wd, "otpgate-data")
	for _, args := range [][]string{
		{"accounts", "create", "--name", "app2"},
		{"accounts", "set", "--sid", "AC1", "--sms-url", ""},
		{"accounts", "rotate-token", "--sid", "AC1"},
		{"accounts", "disable", "--sid", "AC1"},
		{"accounts", "enable", "--sid", "AC1"},
		{"services", "set", "--account", "AC1", "--service", "login", "--code-length", "6"},
		{"operator-token", "--name", "ops"},
		{"operator-token", "--list"},
		{"policy", "list"},
		{"policy", "show", "--account", "AC1"},
		{"guard", "blocks", "--account", "AC1"},
		{"audit"},
		{"migrate"},
	} {
		out, _, err := runCmd(args...)
		want := "no data directory " + dataDir + ": give --data-dir, the data directory otpgate serve uses"
		if args[0] == "accounts" && args[1] == "create" {
			want = "accounts create: no data directory " + dataDir + ": give --data-dir, the data directory otpgate serve uses (or --db, its database, and --secret-file, its secret), or --init to make a new one (a new database and server secret, which no running server uses)"
		}
		if err == nil || !strings.Contains(err.Error(), want) || out != "" {
			t.Errorf("otpgate %s: %v\n%s\nwant an error saying %q", strings.Join(args, " "), err, out, want)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("otpgate %s made %s", strings.Join(args, " "), dataDir)
		}
	}
	// An empty data directory (one the service manager made) holds no
	// database: the same.
	os.Mkdir(dataDir, 0o700)
	if _, _, err := runCmd("accounts", "create", "--name", "app2"); err == nil || !strings.Contains(err.Error(), "accounts create: no database in the data directory "+dataDir+": give --data-dir") {
		t.Errorf("accounts create in an empty data directory: %v", err)
	}
	if _, _, err := runCmd("audit"); err == nil || !strings.Contains(err.Error(), "no database in the data directory "+dataDir+" (no otpgate.db): give --data-dir") {
		t.Errorf("audit in an empty data directory: %v", err)
	}
	os.Remove(dataDir)

	out, errOut, err := runCmd("accounts", "create", "--name", "app2", "--init")
	if err != nil || !strings.Contains(out, "Created account \"app2\"") ||
		errOut != "otpgate: creating a new data directory "+dataDir+" (database and server secret)\n" {
		t.Fatalf("accounts create --init: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	out, errOut, err = runCmd("accounts", "create", "--name", "app3", "--data-dir", "named")
	if err != nil || errOut != "otpgate: creating a new data directory "+filepath.Join(wd, "named")+" (database and server secret)\n" {
		t.Errorf("accounts create --data-dir named: %v\n%s%s", err, out, errOut)
	}
	if out, _, err := runCmd("policy", "list"); err != nil || !strings.Contains(out, "app2") {
		t.Errorf("policy list after accounts create --init: %v\n%s", err, out)
	}
	m, err := startMain(t, ServeConfig{DataDir: "otpgate-data"}, nil)
	if err != nil {
		t.Fatalf("serve on the data directory accounts create --init made: %v", err)
	}
	if fp, err := m.store.SecretFingerprint(t.Context()); err != nil || !bytes.Equal(fp, fingerprintOf(t, filepath.Join(dataDir, "secret"))) {
		t.Errorf("accounts create --init recorded %x, %v", fp, err)
	}
	m.Close()

	var logs bytes.Buffer
	if _, err := startMain(t, ServeConfig{DataDir: "fresh"}, &logs); err != nil {
		t.Fatal(err)
	}
	if want := `level=WARN msg="creating a new data directory ` + filepath.Join(wd, "fresh") + ` (database and server secret)"`; !strings.Contains(logs.String(), want) {
		t.Errorf("serve in a new data directory logged:\n%s\nwant %s", logs.String(), want)
	}
}
