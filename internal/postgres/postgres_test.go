package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

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
	if o.Node == "" {
		o.Node = "test-node"
	}
	s, err := postgres.Open(context.Background(), u.String(), o)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) storetest.Store { return MustOpenFresh(t, postgres.Options{}) })
}
