package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/store"
)

// mustMigrateTo brings the database u names to schema version, from the
// migrations as this otpgate has them, as an otpgate of that version would
// have left it, and returns a connection to it.
func mustMigrateTo(t *testing.T, u string, version int) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries { // in name order, which is version order
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", e.Name(), err)
		}
		if v > version {
			break
		}
		body, err := os.ReadFile(filepath.Join("migrations", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("migration %s: %v", e.Name(), err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, 0)`, v); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// Migration 19 makes an account's countries, which its own token could
// widen until then, its ceiling in its policy, and leaves the account's own
// choice empty (its whole ceiling): it may send where it could before. The
// console's tokens become the operator's, each for every account.
func TestMigration19(t *testing.T) {
	u := freshSchema(t)
	conn := mustMigrateTo(t, u, 18)
	for _, q := range []string{
		`INSERT INTO accounts (sid, name, token_hash, created_at, countries) VALUES ('AC1', 'Acme', '\x01', 1, 'JO,SA'), ('AC2', 'Other', '\x02', 2, '')`,
		`INSERT INTO console_tokens (id, name, token_hash, created_at) VALUES ('CT1', 'ops', '\x03', 3)`,
	} {
		if _, err := conn.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}

	s := MustOpen(t, u)
	for _, want := range []struct {
		sid string
		p   policy.Policy
	}{{"AC1", policy.Policy{Countries: "JO,SA"}}, {"AC2", policy.Policy{}}} {
		a, err := s.Account(context.Background(), want.sid)
		if err != nil {
			t.Fatalf("Account(%s) after migration 19: %v", want.sid, err)
		}
		if a.Countries != "" || !reflect.DeepEqual(a.Policy, want.p) {
			t.Errorf("%s after migration 19: countries %q, policy %+v; want none and %+v", want.sid, a.Countries, a.Policy, want.p)
		}
	}
	tokens, err := s.OperatorTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 || tokens[0].ID != "CT1" || tokens[0].Name != "ops" || tokens[0].AccountSID != "" || !bytes.Equal(tokens[0].Hash, []byte{3}) {
		t.Errorf("operator tokens after migration 19: %+v; want CT1 (ops), for every account", tokens)
	}
}

// MustOpen opens a store on the database u names.
func MustOpen(tb testing.TB, u string) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), u, withNode(postgres.Options{}))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Migration 20 adds server_meta, empty: a database from before it has no
// fingerprint of its secret until a node or command records one.
func TestMigration20(t *testing.T) {
	u := freshSchema(t)
	conn := mustMigrateTo(t, u, 19)
	if _, err := conn.Exec(context.Background(), `INSERT INTO accounts (sid, name, token_hash, created_at) VALUES ('AC1', 'Acme', '\x01', 1)`); err != nil {
		t.Fatal(err)
	}
	s := MustOpen(t, u)
	if fp, err := s.SecretFingerprint(context.Background()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SecretFingerprint after migration 20 = %x, %v; want none", fp, err)
	}
	if _, err := s.Account(context.Background(), "AC1"); err != nil {
		t.Errorf("Account after migration 20: %v", err)
	}
}
