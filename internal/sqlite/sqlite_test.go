package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/store/storetest"
)

var ctx = context.Background()

// MustOpen opens a store at path and closes it when the test ends.
func MustOpen(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// MustOpenTemp opens a new store in a fresh temporary directory.
func MustOpenTemp(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return MustOpen(tb, filepath.Join(tb.TempDir(), "otpgate.db"))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return MustOpenTemp(t) })
}

var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// fixture is one record of every kind.
var (
	account      = store.Account{SID: "AC1", Name: "Acme", TokenHash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: base}
	service      = store.Service{SID: "SV1", AccountSID: "AC1", Name: "login", CodeLength: 6, TTL: 10 * time.Minute, CreatedAt: base}
	verification = store.Verification{
		SID: "VE1", AccountSID: "AC1", ServiceSID: "SV1", To: "+447700900123", From: "otpgate", Channel: "sms",
		Status: store.StatusPending, Codes: []store.Code{{Hash: []byte("fedcba9876543210fedcba9876543210"), ExpiresAt: base.Add(10 * time.Minute)}},
		SendAttempts: 1, CreatedAt: base, UpdatedAt: base, ExpiresAt: base.Add(10 * time.Minute),
	}
	message = store.Message{
		SID: "SM1", AccountSID: "AC1", VerificationSID: "VE1", Direction: "outbound-api", From: "otpgate",
		To: "+447700900123", Body: "Your code is ******", Status: store.MsgQueued, Encoding: "gsm7", Segments: 1,
		CreatedAt: base, UpdatedAt: base,
	}
	outbox = store.OutboxItem{
		MessageSID: "SM1", AccountSID: "AC1", From: "otpgate", To: "+447700900123", Payload: []byte("sealed"),
		NextAttemptAt: base, ExpiresAt: base.Add(10 * time.Minute), CreatedAt: base,
	}
	sandboxMsg = store.SandboxMessage{SID: "SM1", AccountSID: "AC1", From: "otpgate", To: "+447700900123",
		Body: "Your code is 123456", Segments: 1, Encoding: "gsm7", CreatedAt: base}
)

func writeFixture(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.InsertAccount(ctx, account); err != nil {
		t.Fatalf("InsertAccount: %v", err)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		return errors.Join(tx.InsertService(service), tx.InsertVerification(verification),
			tx.InsertMessage(message), tx.Enqueue(outbox), tx.InsertSandboxMessage(sandboxMsg))
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// checkFixture reads back every record writeFixture wrote.
func checkFixture(t *testing.T, s store.Store) {
	t.Helper()
	if a, err := s.Account(ctx, "AC1"); err != nil || a.Name != account.Name || !a.CreatedAt.Equal(base) {
		t.Errorf("Account = %+v, %v; want %+v", a, err, account)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if svc, err := tx.Service("AC1", "login"); err != nil || svc != service {
			t.Errorf("Service = %+v, %v; want %+v", svc, err, service)
		}
		if v, err := tx.LatestVerification("AC1", "SV1", verification.To); err != nil || v.SID != "VE1" || len(v.Codes) != 1 || !v.Codes[0].ExpiresAt.Equal(verification.ExpiresAt) {
			t.Errorf("LatestVerification = %+v, %v; want %+v", v, err, verification)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if m, err := s.Message(ctx, "AC1", "SM1"); err != nil || m != message {
		t.Errorf("Message = %+v, %v; want %+v", m, err, message)
	}
	if sb, err := s.SandboxMessages(ctx, "AC1", sandboxMsg.To, 10); err != nil || len(sb) != 1 || sb[0] != sandboxMsg {
		t.Errorf("SandboxMessages = %+v, %v; want [%+v]", sb, err, sandboxMsg)
	}
	items, err := s.ClaimOutbox(ctx, base, base.Add(time.Minute), 10)
	if err != nil || len(items) != 1 || string(items[0].Payload) != "sealed" {
		t.Errorf("ClaimOutbox = %+v, %v; want the one item", items, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otpgate.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	writeFixture(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkFixture(t, MustOpen(t, path))
}

// TestCommittedIsInFile checks that a write is in the database files once
// Update returns, before Close: another connection (as after a crash of the
// process) reads it.
func TestCommittedIsInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otpgate.db")
	s := MustOpen(t, path)
	writeFixture(t, s)
	db := mustDB(t, path)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM messages WHERE sid = 'SM1'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("another connection sees %d messages (%v), want 1", n, err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q (%v), want wal", mode, err)
	}
}

func mustDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrationsIdempotent(t *testing.T) {
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s: %v", e.Name(), err)
		}
		want = append(want, v)
	}
	sort.Ints(want)
	t.Run("Sequential", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "otpgate.db")
		for range 2 {
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		checkMigrations(t, path, want)
	})
	t.Run("Concurrent", func(t *testing.T) {
		// Enough rounds to make the race show.
		for round := range 100 {
			path := filepath.Join(t.TempDir(), fmt.Sprintf("otpgate%d.db", round))
			var wg sync.WaitGroup
			stores := make([]*sqlite.Store, 2)
			errs := make([]error, 2)
			start := make(chan struct{})
			for i := range stores {
				wg.Go(func() {
					<-start
					stores[i], errs[i] = sqlite.Open(ctx, path)
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d: concurrent Open #%d: %v", round, i+1, err)
				} else if err := stores[i].Close(); err != nil {
					t.Errorf("round %d: Close #%d: %v", round, i+1, err)
				}
			}
			checkMigrations(t, path, want)
		}
	})
	t.Run("ConcurrentExisting", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "otpgate.db")
		writeFixture(t, MustOpen(t, path))
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				s, err := sqlite.Open(ctx, path)
				if err != nil {
					t.Errorf("concurrent Open #%d of a migrated file: %v", i+1, err)
					return
				}
				if m, err := s.Message(ctx, "AC1", "SM1"); err != nil || m != message {
					t.Errorf("Message via concurrent Open #%d = %+v, %v", i+1, m, err)
				}
				if err := s.Close(); err != nil {
					t.Errorf("Close #%d: %v", i+1, err)
				}
			})
		}
		wg.Wait()
		checkMigrations(t, path, want)
	})
}

// checkMigrations checks that schema_migrations records each version once.
func checkMigrations(t *testing.T, path string, want []int) {
	t.Helper()
	rows, err := mustDB(t, path).Query(`SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var v, n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("schema_migrations has version %d %d times", v, n)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("schema_migrations versions = %v, want %v", got, want)
	}
}

// TestGroupCommitBatches runs many concurrent Updates, which the writer
// commits in groups, and checks every one is kept in full. It asserts
// correctness only: timings are the benchmarks' business.
func TestGroupCommitBatches(t *testing.T) {
	s := MustOpenTemp(t)
	if err := s.InsertAccount(ctx, account); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			m, it := message, outbox
			m.SID = fmt.Sprintf("SM%03d", i)
			it.MessageSID = m.SID
			if err := s.Update(ctx, func(tx store.Tx) error { return errors.Join(tx.InsertMessage(m), tx.Enqueue(it)) }); err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		sid := fmt.Sprintf("SM%03d", i)
		if _, err := s.Message(ctx, "AC1", sid); err != nil {
			t.Errorf("Message(%s): %v", sid, err)
		}
	}
	items, err := s.ClaimOutbox(ctx, base, base.Add(time.Minute), 2*n)
	if err != nil || len(items) != n {
		t.Errorf("ClaimOutbox = %d items, %v; want %d", len(items), err, n)
	}
}

// benchOp is the operation both benchmarks time: one Update with one small
// insert, so each Update needs a commit of its own unless commits are shared.
func benchOp(s store.Store, seq *atomic.Int64) error {
	m := sandboxMsg
	m.SID = "SM" + strconv.FormatInt(seq.Add(1), 10)
	return s.Update(ctx, func(tx store.Tx) error { return tx.InsertSandboxMessage(m) })
}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkUpdateSerial is the baseline: one caller, so one commit (one
// fsync) per Update.
func BenchmarkUpdateSerial(b *testing.B) {
	s := MustOpenTemp(b)
	var seq atomic.Int64
	b.ResetTimer()
	for range b.N {
		if err := benchOp(s, &seq); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportOps(b)
}

// BenchmarkUpdateParallel runs the same Update from 32 goroutines per CPU,
// so the writer can commit many in one group.
func BenchmarkUpdateParallel(b *testing.B) {
	s := MustOpenTemp(b)
	var seq atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := benchOp(s, &seq); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportOps(b)
}
