package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/metricstest"
)

var testBase = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// mustStore opens a store at path and closes it when the test ends.
func mustStore(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// send stores the n-th send of account AC1: a message and its outbox entry.
func send(s *Store, n int) error {
	sid := "SM" + strconv.Itoa(n)
	m := message.Message{SID: sid, AccountSID: "AC1", Direction: message.OutboundAPI, From: "otpgate", To: "+447700900123",
		Body: "Your code is ******", Status: message.Queued, Encoding: "GSM-7", Segments: 1, CreatedAt: testBase, UpdatedAt: testBase}
	o := message.Outbound{SID: sid, AccountSID: "AC1", From: "otpgate", To: "+447700900123", Payload: []byte("sealed"),
		ExpiresAt: testBase.Add(time.Hour), CreatedAt: testBase}
	return s.InsertSend(context.Background(), m, o, nil)
}

// mustAccount stores account AC1 with a sealed token.
func mustAccount(tb testing.TB, s *Store) {
	tb.Helper()
	a := account.Account{SID: "AC1", Name: "Acme", TokenHash: make([]byte, 32), TokenSealed: []byte("sealed token"), CreatedAt: testBase}
	if err := s.InsertAccount(context.Background(), a); err != nil {
		tb.Fatal(err)
	}
}

func count(tb testing.TB, path, table string) int {
	tb.Helper()
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		tb.Fatalf("count %s in %s: %v", table, path, err)
	}
	return n
}

// leftovers lists the files in dir but those named.
func leftovers(tb testing.TB, dir string, want ...string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !slices.Contains(want, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// A backup is a complete database of its own: otpgate opens it and finds
// what was committed; one file, mode 0600, nothing left beside it.
func TestBackupIsACompleteDatabase(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "otpgate.db")
	s := mustStore(t, src)
	mustAccount(t, s)
	for i := range 100 {
		if err := send(s, i); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.db")
	var pages int
	info, err := Backup(ctx, src, dst, false, func(done, total int) { pages = total })
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	names, _ := filepath.Glob("migrations/*.sql")
	if info.Path != dst || info.Version != latest(names) || info.Size == 0 || info.Took <= 0 || pages == 0 {
		t.Errorf("BackupInfo = %+v (pages %d), want version %d", info, pages, latest(names))
	}
	fi, err := os.Stat(dst)
	if err != nil || fi.Size() != info.Size || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600, %d bytes", fi.Mode(), err, info.Size)
	}
	if extra := leftovers(t, dir, "backup.db"); len(extra) > 0 {
		t.Errorf("left beside the backup: %v", extra)
	}
	// Its header says rollback journal: it opens read-only with nothing beside it.
	if in, err := Inspect(ctx, dst); err != nil || in.Version != latest(names) {
		t.Errorf("Inspect(backup) = %+v, %v", in, err)
	}
	if extra := leftovers(t, dir, "backup.db"); len(extra) > 0 {
		t.Errorf("reading the backup left %v beside it", extra)
	}
	b := mustStore(t, dst)
	if a, err := b.Account(ctx, "AC1"); err != nil || a.Name != "Acme" {
		t.Errorf("the backup's account: %+v, %v", a, err)
	}
	if n := count(t, dst, "messages"); n != 100 {
		t.Errorf("the backup holds %d messages, want 100", n)
	}
}

// A backup never replaces a file unless told to, never the database itself,
// and leaves nothing when it fails.
func TestBackupRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "otpgate.db")
	mustAccount(t, mustStore(t, src))
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a database, and long enough to hold a page header or two........................................................................................"), 0o600)
	existing := filepath.Join(dir, "existing.db")
	os.WriteFile(existing, []byte("keep me"), 0o600)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		src, dst string
		want     error
	}{
		{"existing file", ctx, src, existing, ErrExists},
		{"the database itself", ctx, src, src, nil},
		{"a directory", ctx, src, dir, nil},
		{"no database", ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "b1.db"), nil},
		{"not otpgate's", ctx, other, filepath.Join(dir, "b2.db"), ErrNotOtpgate},
		{"not SQLite", ctx, text, filepath.Join(dir, "b3.db"), ErrNotOtpgate},
		{"cancelled", cancelled, src, filepath.Join(dir, "b4.db"), context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Backup(tc.ctx, tc.src, tc.dst, false, nil)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Backup(%s, %s) = %v, want %v", tc.src, tc.dst, err, tc.want)
			}
			t.Log(err)
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Errorf("the existing file was changed: %q", b)
	}
	if extra := leftovers(t, dir, "otpgate.db", "otpgate.db-wal", "otpgate.db-shm", "other.db", "notes.txt", "existing.db"); len(extra) > 0 {
		t.Errorf("failed backups left %v", extra)
	}
	if _, err := Backup(ctx, src, existing, true, nil); err != nil {
		t.Fatalf("Backup with overwrite: %v", err)
	}
	if n := count(t, existing, "accounts"); n != 1 {
		t.Errorf("the overwritten file holds %d accounts, want 1", n)
	}
}

// Restore puts a backup in place; an existing database is kept aside, with
// its WAL, only when asked; what is not otpgate's is refused.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "otpgate.db")
	s := mustStore(t, src)
	mustAccount(t, s)
	for i := range 10 {
		if err := send(s, i); err != nil {
			t.Fatal(err)
		}
	}
	backupFile := filepath.Join(t.TempDir(), "backup.db")
	if _, err := Backup(ctx, src, backupFile, false, nil); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	db := filepath.Join(dir, "otpgate.db")
	info, err := Restore(ctx, backupFile, db, false, testBase)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if info.Version != info.Known || info.Kept != "" || info.Size == 0 {
		t.Errorf("RestoreInfo = %+v", info)
	}
	if n := count(t, db, "messages"); n != 10 {
		t.Errorf("restored: %d messages, want 10", n)
	}

	// The restored database in use, with a WAL holding its last writes.
	r := mustStore(t, db)
	for i := 10; i < 15; i++ {
		if err := send(r, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Restore(ctx, backupFile, db, false, testBase); !errors.Is(err, ErrExists) {
		t.Fatalf("Restore over a database = %v, want ErrExists", err)
	}
	r.Close()
	if _, err := os.Stat(db + "-wal"); err != nil {
		// Close checkpointed; make a WAL the way a crash leaves one.
		r = mustStore(t, db)
		for i := 15; i < 17; i++ {
			send(r, i)
		}
		copyFile(t, db, db+".crash")
		copyFile(t, db+"-wal", db+".crash-wal")
		r.Close()
		os.Rename(db+".crash", db)
		os.Rename(db+".crash-wal", db+"-wal")
	}
	info, err = Restore(ctx, backupFile, db, true, testBase)
	if err != nil {
		t.Fatalf("Restore keeping the old: %v", err)
	}
	wantKept := db + ".before-restore-20250314T150926Z"
	if info.Kept != wantKept {
		t.Errorf("Kept = %q, want %q", info.Kept, wantKept)
	}
	if n := count(t, db, "messages"); n != 10 {
		t.Errorf("restored again: %d messages, want 10", n)
	}
	if _, err := os.Stat(db + "-wal"); err == nil {
		t.Errorf("the old database's WAL is still beside the restored one")
	}
	if n := count(t, wantKept, "messages"); n < 15 {
		t.Errorf("the kept database holds %d messages, want its 15 or more", n)
	}

	other := filepath.Join(t.TempDir(), "other.db")
	odb, _ := sql.Open("sqlite", "file:"+other)
	odb.Exec("CREATE TABLE t (x)")
	odb.Close()
	fresh := filepath.Join(t.TempDir(), "otpgate.db")
	if _, err := Restore(ctx, other, fresh, false, testBase); !errors.Is(err, ErrNotOtpgate) {
		t.Errorf("Restore(not otpgate's) = %v, want ErrNotOtpgate", err)
	}
	newer := filepath.Join(t.TempDir(), "newer.db")
	copyFile(t, backupFile, newer)
	ndb, _ := sql.Open("sqlite", "file:"+newer)
	if _, err := ndb.Exec(`INSERT INTO schema_migrations VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	ndb.Close()
	if _, err := Restore(ctx, newer, fresh, false, testBase); !errors.Is(err, ErrSchemaNewer) {
		t.Errorf("Restore(newer schema) = %v, want ErrSchemaNewer", err)
	}
	if extra := leftovers(t, filepath.Dir(fresh)); len(extra) > 0 {
		t.Errorf("refused restores left %v", extra)
	}
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// fill adds rows to the messages table until the database holds about mb
// MiB, on a connection of its own.
func fill(tb testing.TB, path string, mb int) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for i := 0; ; i++ {
		fi, err := os.Stat(path)
		if err != nil {
			tb.Fatal(err)
		}
		if fi.Size() >= int64(mb)<<20 {
			return
		}
		_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
			INSERT INTO messages (sid, account_sid, direction, from_addr, to_number, body, status, encoding, segments, created_at, updated_at)
			SELECT 'SMfill' || hex(randomblob(16)), 'AC1', 'outbound-api', 'otpgate', '+4477009' || (i % 100000),
				'Your code is ****** ' || hex(randomblob(40)), 'delivered', 'GSM-7', 1, i, i FROM n`)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			tb.Fatal(err)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// A backup taken while writers send: it completes, holds a consistent
// snapshot (every send committed before it began, none half), and the
// sends go on meanwhile. It logs what each way of copying costs the sends:
// p50, p99 and max of a send before and during the backup, and how long
// the backup took. OTPGATE_BACKUP_TEST_MB sets the database's size (default
// 4 MiB).
//
// "WAL past its limit" runs the page copy with the writer's WAL limit
// lowered so that it is passed during the backup, as it is on a large
// database under load: the writer's RESTART checkpoint then waits for the
// backup's read transaction (up to busy_timeout).
func TestBackupWhileWriting(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a database")
	}
	mb := 4
	if v, err := strconv.Atoi(os.Getenv("OTPGATE_BACKUP_TEST_MB")); err == nil && v > 0 {
		mb = v
	}
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "otpgate.db")
	s := mustStore(t, src)
	mustAccount(t, s)
	s.Close()
	fillStart := time.Now()
	fill(t, src, mb)
	t.Logf("filled the database to %d MiB in %s", mb, time.Since(fillStart).Round(time.Millisecond))
	var seq atomic.Int64
	for _, tc := range []struct {
		name   string
		method backupMethod
		maxWAL int64
	}{
		{"page copy", pageCopy, maxWALFrames},
		{"VACUUM INTO", vacuumInto, maxWALFrames},
		{"page copy, WAL past its limit", pageCopy, 256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustStore(t, src)
			s.w.maxWAL = tc.maxWAL // before the first write: the writer reads it after each
			var lat metricstest.Timings
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var errs []error
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						start := time.Now()
						if err := send(s, int(seq.Add(1))); err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
							return
						}
						lat.Add(start, time.Since(start))
					}
				})
			}
			t0 := time.Now()
			time.Sleep(time.Second)
			before := count(t, src, "messages")
			st0 := s.Stats()
			t1 := time.Now()
			info, err := backup(ctx, src, filepath.Join(t.TempDir(), "backup.db"), false, tc.method, nil)
			t2 := time.Now()
			time.Sleep(300 * time.Millisecond) // sends held up by the backup end after it
			st1 := s.Stats()
			close(stop)
			wg.Wait()
			after := count(t, src, "messages")
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			if len(errs) > 0 {
				t.Fatalf("sends failed during the backup: %v", errs[0])
			}
			in := count(t, info.Path, "messages")
			if in < before || in > after {
				t.Errorf("the backup holds %d messages; %d were committed before it began, %d after it ended", in, before, after)
			}
			n0, p50b, p99b, maxb := lat.Between(t0.Add(300*time.Millisecond), t1)
			n1, p50d, p99d, maxd := lat.Between(t1, t2)
			t.Logf("%s: %d MiB database, backup %d MiB in %s; sends before: %d, p50 %s p99 %s max %s; during: %d (%.0f/s), p50 %s p99 %s max %s; WAL restarts during: %d, %s",
				tc.name, mb, info.Size>>20, info.Took.Round(time.Millisecond),
				n0, ms(p50b), ms(p99b), ms(maxb),
				n1, float64(n1)/t2.Sub(t1).Seconds(), ms(p50d), ms(p99d), ms(maxd),
				st1.WALRestarts-st0.WALRestarts, (st1.WALRestartTime - st0.WALRestartTime).Round(time.Millisecond))
			if n1 == 0 && t2.Sub(t1) > time.Second {
				t.Errorf("no send completed during the %s backup", t2.Sub(t1).Round(time.Millisecond))
			}
		})
	}
}
