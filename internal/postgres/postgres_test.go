package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/otpgate/otpgate/internal/postgres"
	"github.com/otpgate/otpgate/internal/storetest"
)

// testURL is the database tests run against: $OTPGATE_TEST_PG. Without it
// the tests skip, saying so, unless $CI is set: then they fail.
func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("OTPGATE_TEST_PG")
	if u == "" {
		if os.Getenv("CI") != "" {
			tb.Fatal("OTPGATE_TEST_PG is not set, and CI is: PostgreSQL tests must run in CI (.ci/run sets it)")
		}
		tb.Skip("SKIPPING PostgreSQL tests: set OTPGATE_TEST_PG=postgres://USER@HOST:PORT/DB to run them (.ci/run does)")
	}
	return u
}

// MustOpenFresh opens a store in a new, empty schema of the test database,
// dropped when the test ends.
func MustOpenFresh(tb testing.TB, o postgres.Options) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), freshSchema(tb), withNode(o))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func withNode(o postgres.Options) postgres.Options {
	if o.Node == "" {
		o.Node = "test-node"
	}
	return o
}

// freshSchema makes a new, empty schema of the test database, dropped when
// the test ends, and returns the URL that uses it.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	base := testURL(tb)
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		tb.Fatalf("connect to %s: %v", postgres.Redact(base), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) storetest.Store { return MustOpenFresh(t, postgres.Options{}) })
}

// Nodes starting together migrate the database once; a database migrated
// by a newer otpgate is refused, saying so.
func TestMigrations(t *testing.T) {
	u := freshSchema(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), u, withNode(postgres.Options{}))
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d starting with the others: %v", i+1, err)
		}
	}
	from, to, err := postgres.Migrate(context.Background(), u)
	if err != nil || from != postgres.Version() || to != from {
		t.Fatalf("Migrate of a migrated database: %d -> %d, %v", from, to, err)
	}
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var repeated, latest int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) - count(DISTINCT version), max(version) FROM schema_migrations`).Scan(&repeated, &latest); err != nil || repeated != 0 || latest != postgres.Version() {
		t.Fatalf("schema_migrations has %d repeated rows and reaches %d (%v), want none repeated and %d: each applied once", repeated, latest, err, postgres.Version())
	}
	// A migration missing below the highest applied one (a database
	// migrated by a build that had a later migration but not that one) is
	// applied by the next start.
	if _, err := conn.Exec(context.Background(), `DROP TABLE totp_challenges, totp_factors, totp_entities; DELETE FROM schema_migrations WHERE version = 21`); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(context.Background(), u, withNode(postgres.Options{})); err != nil {
		t.Fatalf("Open with migration 21 missing: %v", err)
	} else {
		s.Close()
	}
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations WHERE version = 21`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("migration 21 applied %d times (%v), want once", n, err)
	}
	if _, err := conn.Exec(context.Background(), `INSERT INTO schema_migrations VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(context.Background(), u, withNode(postgres.Options{}))
	if !errors.Is(err, postgres.ErrSchemaNewer) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("Open of a newer schema: %v, want a refusal naming version 999", err)
	}
}

// Errors name the database but never the password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	for _, u := range []string{"postgres://otpgate:s3cr3t-pw@127.0.0.1:1/otpgate", "postgres://otpgate:s3cr3t-pw@[bad/otpgate"} {
		_, err := postgres.Open(context.Background(), u, postgres.Options{ConnectTimeout: time.Second})
		if err == nil || strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Errorf("Open(%s): %v", postgres.Redact(u), err)
		}
	}
}
