package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/ratelimit"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/storetest"
	"github.com/otpgate/otpgate/internal/verification"
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
	storetest.Run(t, func(t *testing.T) storetest.Store { return MustOpenTemp(t) })
}

var base = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

// fixture is one record of every kind.
var (
	acct    = account.Account{SID: "AC1", Name: "Acme", TokenHash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: base}
	service = verification.Service{SID: "SV1", AccountSID: "AC1", Name: "login", CodeLength: 6, TTL: 10 * time.Minute, CreatedAt: base}
	verif   = verification.Verification{
		SID: "VE1", AccountSID: "AC1", ServiceSID: "SV1", To: "+447700900123", From: "otpgate", Channel: "sms",
		Status: verification.Pending, Codes: []verification.Code{{Hash: []byte("fedcba9876543210fedcba9876543210"), ExpiresAt: base.Add(10 * time.Minute)}},
		SendAttempts: 1, CreatedAt: base, UpdatedAt: base, ExpiresAt: base.Add(10 * time.Minute),
	}
	msg = message.Message{
		SID: "SM1", AccountSID: "AC1", VerificationSID: "VE1", Direction: message.OutboundAPI, From: "otpgate",
		To: "+447700900123", Body: "Your code is ******", Status: message.Queued, Encoding: "GSM-7", Segments: 1,
		CreatedAt: base, UpdatedAt: base, Channel: message.SMS,
	}
	outbound = message.Outbound{
		SID: "SM1", AccountSID: "AC1", From: "otpgate", To: "+447700900123", Payload: []byte("sealed"),
		ExpiresAt: base.Add(10 * time.Minute), CreatedAt: base,
	}
	sandboxEntry = message.SandboxEntry{SID: "SM1", AccountSID: "AC1", From: "otpgate", To: "+447700900123",
		Body: "Your code is 123456", Segments: 1, Encoding: "GSM-7", CreatedAt: base, Channel: message.SMS}
)

func writeFixture(t *testing.T, s *sqlite.Store) {
	t.Helper()
	if err := s.InsertAccount(ctx, acct); err != nil {
		t.Fatalf("InsertAccount: %v", err)
	}
	if _, err := s.CreateService(ctx, service); err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	if err := s.InsertSend(ctx, msg, outbound, &verification.Change{V: verif, New: true}); err != nil {
		t.Fatalf("InsertSend: %v", err)
	}
	if err := s.InsertSandboxEntry(ctx, sandboxEntry); err != nil {
		t.Fatalf("InsertSandboxEntry: %v", err)
	}
}

// checkFixture reads back every record writeFixture wrote.
func checkFixture(t *testing.T, s *sqlite.Store) {
	t.Helper()
	if a, err := s.Account(ctx, "AC1"); err != nil || a.Name != acct.Name || !a.CreatedAt.Equal(base) {
		t.Errorf("Account = %+v, %v; want %+v", a, err, acct)
	}
	if svc, err := s.Service(ctx, "AC1", "login"); err != nil || !reflect.DeepEqual(svc, service) {
		t.Errorf("Service = %+v, %v; want %+v", svc, err, service)
	}
	if v, err := s.LatestVerification(ctx, verif.Key()); err != nil || v.SID != "VE1" || len(v.Codes) != 1 || !v.Codes[0].ExpiresAt.Equal(verif.ExpiresAt) {
		t.Errorf("LatestVerification = %+v, %v; want %+v", v, err, verif)
	}
	if m, err := s.Message(ctx, "AC1", "SM1"); err != nil || m != msg {
		t.Errorf("Message = %+v, %v; want %+v", m, err, msg)
	}
	if sb, err := s.SandboxEntries(ctx, "AC1", sandboxEntry.To, 10); err != nil || len(sb) != 1 || sb[0] != sandboxEntry {
		t.Errorf("SandboxEntries = %+v, %v; want [%+v]", sb, err, sandboxEntry)
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
				if m, err := s.Message(ctx, "AC1", "SM1"); err != nil || m != msg {
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

// TestGroupCommitBatches runs many concurrent writes, which the writer
// commits in groups, and checks every one is kept in full. It asserts
// correctness only: timings are the benchmarks' business.
func TestGroupCommitBatches(t *testing.T) {
	s := MustOpenTemp(t)
	if err := s.InsertAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			m, o := msg, outbound
			m.SID = fmt.Sprintf("SM%03d", i)
			m.VerificationSID = ""
			o.SID = m.SID
			if err := s.InsertSend(ctx, m, o, nil); err != nil {
				t.Errorf("InsertSend %d: %v", i, err)
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
	if st := s.Stats(); st.Batches >= n {
		t.Logf("%d writes took %d group commits", n, st.Batches)
	}
}

// A write that fails after writing leaves nothing, and does not undo the
// others of its group (the group runs again, each in its own savepoint); a
// guard that fails before writing costs nothing.
func TestFailedWriteLeavesNoTrace(t *testing.T) {
	s := MustOpenTemp(t)
	if err := s.InsertAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	taken := msg
	taken.SID, taken.VerificationSID = "SMtaken", ""
	if err := s.InsertSend(ctx, taken, message.Outbound{SID: taken.SID, CreatedAt: base}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	kind := func(i int) int { return i % 3 } // 0: fine, 1: fails after writing, 2: its guard fails
	for i := range n {
		wg.Go(func() {
			<-start
			m, o := msg, outbound
			m.SID, o.SID = fmt.Sprintf("SM%03d", i), fmt.Sprintf("SM%03d", i)
			v := verif
			v.SID, v.To = fmt.Sprintf("VE%03d", i), fmt.Sprintf("+4477009%05d", i)
			m.VerificationSID = v.SID
			ch := verification.Change{V: v, New: true}
			switch kind(i) {
			case 1: // the verification is written, then the message's SID is taken
				m.SID, o.SID = taken.SID, taken.SID
			case 2: // a code for a verification that does not exist
				ch.New, ch.V.SendAttempts = false, 2
			}
			errs[i] = s.InsertSend(ctx, m, o, &ch)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		_, verr := s.LatestVerification(ctx, verification.Key{AccountSID: "AC1", ServiceSID: "SV1", To: fmt.Sprintf("+4477009%05d", i)})
		_, merr := s.Message(ctx, "AC1", fmt.Sprintf("SM%03d", i))
		switch kind(i) {
		case 0:
			if errs[i] != nil || verr != nil || merr != nil {
				t.Errorf("send %d: %v; verification %v, message %v; want all stored", i, errs[i], verr, merr)
			}
		case 1:
			if errs[i] == nil || !errors.Is(verr, store.ErrNotFound) {
				t.Errorf("send %d (fails after writing): %v; its verification: %v; want an error and no verification", i, errs[i], verr)
			}
		case 2:
			if !errors.Is(errs[i], store.ErrConflict) || !errors.Is(merr, store.ErrNotFound) {
				t.Errorf("send %d (guard fails): %v; its message: %v; want a conflict and no message", i, errs[i], merr)
			}
		}
	}
	t.Logf("%d group commits, %d run again in savepoints", s.Stats().Batches, s.Stats().SafePasses)
}

// benchOp is the operation the benchmarks time: one send (a queued message
// with its outbox entry, no verification), a write nobody lets linger, so
// each needs a commit of its own unless commits are shared.
func benchOp(s *sqlite.Store, seq *atomic.Int64) error {
	m, o := msg, outbound
	m.SID = "SM" + strconv.FormatInt(seq.Add(1), 10)
	m.VerificationSID, o.SID = "", m.SID
	return s.InsertSend(ctx, m, o, nil)
}

func reportOps(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// reportLatency reports p50 and p99 of d in milliseconds.
func reportLatency(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) float64 {
		return float64(d[min(len(d)-1, int(float64(len(d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
}

// BenchmarkFsync is the disk's floor for a durable write: 4 KiB written in
// place and fsynced, one at a time with a 1 ms pause (as at light load).
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.WriteAt(page, int64(i%64)*4096); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	reportLatency(b, d)
}

// BenchmarkCommitLatency is one send's durable commit on its own, one at a
// time with a 1 ms pause: the store's part of a request at light load.
func BenchmarkCommitLatency(b *testing.B) {
	s := MustOpenTemp(b)
	if err := s.InsertAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := benchOp(s, &seq); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(start))
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	reportLatency(b, d)
}

// BenchmarkUpdateSerial is the baseline: one caller, so one commit (one
// fsync) per write.
func BenchmarkUpdateSerial(b *testing.B) {
	s := MustOpenTemp(b)
	if err := s.InsertAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
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

// BenchmarkUpdateParallel runs the same write from 32 goroutines per CPU,
// so the writer can commit many in one group.
func BenchmarkUpdateParallel(b *testing.B) {
	s := MustOpenTemp(b)
	if err := s.InsertAccount(ctx, acct); err != nil {
		b.Fatal(err)
	}
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

// What delivery learns waits a few milliseconds to share a commit: many
// such writes at once take few commits, and one alone still goes soon.
func TestLazyWritesShareACommit(t *testing.T) {
	s := MustOpenTemp(t)
	before := s.Stats().Batches
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			e := sandboxEntry
			e.SID = fmt.Sprintf("SMlazy%02d", i)
			if err := s.InsertSandboxEntry(ctx, e); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := s.Stats().Batches - before; n > 4 {
		t.Errorf("40 concurrent lazy writes took %d commits, want a few", n)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("40 lazy writes took %v", d)
	}
	start = time.Now()
	e := sandboxEntry
	e.SID = "SMalone"
	if err := s.InsertSandboxEntry(ctx, e); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a lazy write alone took %v, want about its linger (10ms) and a commit", d)
	}
	if got, err := s.SandboxEntries(ctx, "AC1", sandboxEntry.To, 100); err != nil || len(got) != 41 {
		t.Errorf("%d entries stored (%v), want 41", len(got), err)
	}
}

// While sends keep coming, lazy writes that lingered ride with the next
// send's group: one commit (one fsync) for both, never one of their own
// ahead of a send. With no send coming, they commit on their own after
// their linger, as fast as before.
func TestLazyWritesRideWithASend(t *testing.T) {
	s := MustOpenTemp(t)
	if err := s.InsertAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	send := func(sid string) {
		m, o := msg, outbound
		m.SID, o.SID, m.VerificationSID = sid, sid, ""
		if err := s.InsertSend(ctx, m, o, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A stall of the test's goroutine past the linger would let the lazy
	// write commit alone, rightly: a few tries.
	rode := false
	for try := 0; try < 3 && !rode; try++ {
		before := s.Stats().Batches
		lazyDone := make(chan error, 1)
		go func() {
			e := sandboxEntry
			e.SID = fmt.Sprintf("SMride%d", try)
			lazyDone <- s.InsertSandboxEntry(ctx, e)
		}()
		sends := 0
		for done := false; !done; {
			send(fmt.Sprintf("SMrider%d-%d", try, sends))
			sends++
			select {
			case err := <-lazyDone:
				if err != nil {
					t.Fatal(err)
				}
				done = true
			case <-time.After(2 * time.Millisecond):
			}
		}
		n := s.Stats().Batches - before
		rode = n == uint64(sends)
		t.Logf("try %d: %d sends and the lazy write took %d commits", try, sends, n)
	}
	if !rode {
		t.Error("a lazy write committed on its own while sends kept coming, 3 times")
	}
	start := time.Now()
	e := sandboxEntry
	e.SID = "SMalone2"
	if err := s.InsertSandboxEntry(ctx, e); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < sqlite.LazyLinger-time.Millisecond || d > time.Second {
		t.Errorf("a lazy write with no send took %v, want about its linger (%v)", d, sqlite.LazyLinger)
	}
}

// BenchmarkSendLimit is a send's write with and without the default rate
// limit (one per number, each to a fresh number), from 32 goroutines per
// CPU: what counting a limit costs the writer.
func BenchmarkSendLimit(b *testing.B) {
	for _, limited := range []bool{false, true} {
		name := "none"
		if limited {
			name = "per_number"
		}
		b.Run(name, func(b *testing.B) {
			s := MustOpenTemp(b)
			if err := s.InsertAccount(ctx, acct); err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m, o := msg, outbound
					n := seq.Add(1)
					m.SID = "SM" + strconv.FormatInt(n, 10)
					m.VerificationSID, o.SID = "", m.SID
					var limits []ratelimit.Limit
					if limited {
						limits = []ratelimit.Limit{{Key: "number:" + strconv.FormatInt(n, 10), Max: 10, Window: time.Hour}}
					}
					if err := s.InsertSend(ctx, m, o, nil, limits...); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			reportOps(b)
		})
	}
}

// A check of a verification whose codes cannot be read fails and counts
// nothing: storetest.UnreadableCheck.
func TestUnreadableCheckCountsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otpgate.db")
	s := MustOpen(t, path)
	db := mustDB(t, path)
	storetest.UnreadableCheck(t, s, func(sid string) func() {
		var codes []byte
		if err := db.QueryRow(`SELECT codes FROM verifications WHERE sid = ?`, sid).Scan(&codes); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE verifications SET codes = x'010203' WHERE sid = ?`, sid); err != nil {
			t.Fatal(err)
		}
		return func() {
			if _, err := db.Exec(`UPDATE verifications SET codes = ? WHERE sid = ?`, codes, sid); err != nil {
				t.Fatal(err)
			}
		}
	})
}
