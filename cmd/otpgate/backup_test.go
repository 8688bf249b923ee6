package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/metricstest"
	"github.com/otpgate/otpgate/internal/sqlite"
)

// startOn starts otpgate on a data directory that already holds a
// database (no first account is made, none printed).
func startOn(tb testing.TB, dir string) *testServer {
	tb.Helper()
	m, err := startMain(tb, ServeConfig{DataDir: dir, NoAbuseGuard: true}, nil)
	if err != nil {
		tb.Fatalf("start otpgate on %s: %v", dir, err)
	}
	return &testServer{Main: m, URL: "http://" + m.Addr()}
}

// runOut runs an otpgate command in this process and returns what it
// wrote (stdout and stderr) and its error.
func runOut(args ...string) (string, error) {
	out, errOut, err := runCmd(args...)
	return out + errOut, err
}

// fillDB adds about mb MiB of delivered messages of another account to the
// database at path, behind the server's back (on a connection of its own,
// as SQLite lets another writer take turns).
func fillDB(tb testing.TB, path string, mb int) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	for {
		var pages, size int64
		if err := db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
			tb.Fatal(err)
		}
		if err := db.QueryRow("PRAGMA page_size").Scan(&size); err != nil {
			tb.Fatal(err)
		}
		if pages*size >= int64(mb)<<20 {
			return
		}
		_, err = db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
			INSERT INTO messages (sid, account_sid, direction, from_addr, to_number, body, status, encoding, segments, created_at, updated_at)
			SELECT 'SM' || lower(hex(randomblob(16))), 'ACfill', 'outbound-api', 'MyApp', '+96279' || (1000000 + i),
				'Your verification code is: ******', 'delivered', 'GSM-7', 1, i, i FROM n`)
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// sendLoad sends codes to new numbers from senders goroutines until stop
// is closed, and returns the first failure (a refusal, an error) if any.
func sendLoad(s *testServer, senders int, times *metricstest.Timings, stop <-chan struct{}) (wait func() error) {
	var seq atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range senders {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				to := strconv.FormatInt(962780000000+seq.Add(1), 10)
				body := `{"service":"Load","from":"MyApp","to":"` + to + `","body":"Your verification code is: {code}"}`
				req, _ := http.NewRequest("POST", s.URL+"/2fa/send", strings.NewReader(body))
				req.SetBasicAuth(s.SID, s.Token)
				req.Header.Set("Content-Type", "application/json")
				start := time.Now()
				res, err := http.DefaultClient.Do(req)
				if err == nil {
					raw, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 201 {
						err = fmt.Errorf("send to %s: %d %s", to, res.StatusCode, raw)
					}
				}
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				times.Add(start, time.Since(start))
			}
		})
	}
	return func() error { wg.Wait(); return first }
}

func msText(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// A backup taken while the server takes sends: otpgate backup, run as its
// own process as an operator runs it, completes while four senders go on
// sending, none refused or stalled; restored into a new data directory
// with the same secret, it serves: a code sent before the backup verifies
// with the account's token. It logs p50/p99 of a send before and during
// the backup. OTPGATE_BACKUP_TEST_MB sets the database's size (default 8).
func TestBackupWhileSending(t *testing.T) {
	mb := 8
	if v, err := strconv.Atoi(os.Getenv("OTPGATE_BACKUP_TEST_MB")); err == nil && v > 0 {
		mb = v
	}
	bin := mustBuild(t)
	s := mustServeWith(t, nil, func(c *ServeConfig) { c.NoAbuseGuard = true })
	dir := s.Config.DataDir
	const number = "962790320012"
	if r := s.send(t, "Restcomm", number); r.Status != 201 {
		t.Fatalf("send: %d %s", r.Status, r.Raw)
	}
	code := s.codes(t, number, 1)[0]
	fillStart := time.Now()
	fillDB(t, filepath.Join(dir, "otpgate.db"), mb)
	t.Logf("filled the database to %d MiB in %s", mb, time.Since(fillStart).Round(time.Millisecond))

	stats := func() sqlite.Stats { return s.store.(*sqlite.Store).Stats() }
	var times metricstest.Timings
	stop := make(chan struct{})
	wait := sendLoad(s, 4, &times, stop)
	t0, st0 := time.Now(), stats()
	time.Sleep(2 * time.Second)
	file := filepath.Join(t.TempDir(), "otpgate-backup.db")
	t1, st1 := time.Now(), stats()
	out, err := exec.Command(bin, "backup", "--data-dir", dir, "--to", file).CombinedOutput()
	t2 := time.Now()
	var walSize int64
	if wal, err := os.Stat(filepath.Join(dir, "otpgate.db-wal")); err == nil {
		walSize = wal.Size()
	}
	time.Sleep(500 * time.Millisecond) // sends the backup held up end after it
	st2 := stats()
	close(stop)
	sendErr := wait()
	if err != nil {
		t.Fatalf("otpgate backup: %v\n%s", err, out)
	}
	if sendErr != nil {
		t.Fatalf("a send failed while the backup ran: %v", sendErr)
	}
	t.Logf("otpgate backup said:\n%s", out)
	n0, p50b, p99b, maxb := times.Between(t0.Add(500*time.Millisecond), t1)
	n1, p50d, p99d, maxd := times.Between(t1, t2)
	fi, _ := os.Stat(file)
	t.Logf("%d MiB database, backup %d MiB, the command ran %s; sends before the backup: %d (%.0f/s), p50 %s, p99 %s, max %s; during it: %d (%.0f/s), p50 %s, p99 %s, max %s; the WAL at its end: %d MiB; the writer's WAL restarts before: %d (%s), during and 0.5 s after: %d (%s)",
		mb, fi.Size()>>20, t2.Sub(t1).Round(time.Millisecond),
		n0, float64(n0)/t1.Sub(t0.Add(500*time.Millisecond)).Seconds(), msText(p50b), msText(p99b), msText(maxb),
		n1, float64(n1)/t2.Sub(t1).Seconds(), msText(p50d), msText(p99d), msText(maxd), walSize>>20,
		st1.WALRestarts-st0.WALRestarts, st1.WALRestartTime-st0.WALRestartTime, st2.WALRestarts-st1.WALRestarts, st2.WALRestartTime-st1.WALRestartTime)
	if maxd > 3*time.Second {
		t.Errorf("a send during the backup took %s: the backup stalled the writer", maxd)
	}
	secret := filepath.Join(dir, "secret")
	for _, want := range []string{
		"Backed up " + filepath.Join(dir, "otpgate.db") + " (schema version ", " to " + file + ": ",
		"The server secret is NOT in the backup", "Keep a copy of the secret apart from the backups. It is in " + secret + " (its fingerprint is the database's).",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("otpgate backup's output lacks %q:\n%s", want, out)
		}
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the backup's mode is %04o, want 0600", fi.Mode().Perm())
	}

	// Restore it elsewhere, with the same secret, and serve it.
	newDir := filepath.Join(t.TempDir(), "restored")
	if err := os.MkdirAll(newDir, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFileMode(t, secret, filepath.Join(newDir, "secret"))
	rout, err := runOut("restore", "--from", file, "--data-dir", newDir)
	if err != nil {
		t.Fatalf("otpgate restore: %v\n%s", err, rout)
	}
	if !regexp.MustCompile(`Restored .* as .*restored/otpgate.db: schema version \d+, current, `).MatchString(rout) ||
		!strings.Contains(rout, "The server secret "+filepath.Join(newDir, "secret")+" is the one the backup was made with (its fingerprint is the backup's).") {
		t.Errorf("otpgate restore said:\n%s", rout)
	}
	r := startOn(t, newDir)
	r.SID, r.Token = s.SID, s.Token
	ok := r.check(t, "Restcomm", number, code)
	if ok.Status != 200 || ok.str("status") != "approved" || ok.Body["valid"] != true {
		t.Fatalf("the code sent before the backup, checked on the restored server: %d %s", ok.Status, ok.Raw)
	}
	if again := r.send(t, "Restcomm", "962790320013"); again.Status != 201 {
		t.Errorf("a send on the restored server: %d %s", again.Status, again.Raw)
	}
}

func copyFileMode(tb testing.TB, from, to string) {
	tb.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// mustBackup backs up a running server's database in this process.
func mustBackup(tb testing.TB, s *testServer) string {
	tb.Helper()
	file := filepath.Join(tb.TempDir(), "backup.db")
	if out, err := runOut("backup", "--data-dir", s.Config.DataDir, "--to", file); err != nil {
		tb.Fatalf("otpgate backup: %v\n%s", err, out)
	}
	return file
}

// otpgate restore refuses a data directory a server holds, a database in
// place (unless --force, which keeps it), and a file that is not an
// otpgate database; and says when the secret in place is not the backup's.
func TestRestoreRefuses(t *testing.T) {
	s := mustServe(t, nil)
	file := mustBackup(t, s)

	t.Run("server running", func(t *testing.T) {
		out, err := runOut("restore", "--from", file, "--data-dir", s.Config.DataDir, "--force")
		if err == nil || !strings.Contains(err.Error(), "is in use by another otpgate serve") || !strings.Contains(err.Error(), "stop the server first") {
			t.Fatalf("restore onto a running server: %v\n%s", err, out)
		}
		if kept, _ := filepath.Glob(filepath.Join(s.Config.DataDir, "otpgate.db.before-restore-*")); len(kept) > 0 {
			t.Errorf("it moved the database: %v", kept)
		}
	})
	t.Run("database in place", func(t *testing.T) {
		dir := t.TempDir()
		copyFileMode(t, filepath.Join(s.Config.DataDir, "secret"), filepath.Join(dir, "secret"))
		if out, err := runOut("restore", "--from", file, "--data-dir", dir); err != nil {
			t.Fatalf("first restore: %v\n%s", err, out)
		}
		out, err := runOut("restore", "--from", file, "--data-dir", dir)
		if err == nil || !strings.Contains(err.Error(), "already holds a database; give --force") {
			t.Fatalf("second restore without --force: %v\n%s", err, out)
		}
		out, err = runOut("restore", "--from", file, "--data-dir", dir, "--force")
		if err != nil {
			t.Fatalf("restore --force: %v\n%s", err, out)
		}
		kept := regexp.MustCompile(`kept as (\S+otpgate\.db\.before-restore-\d{8}T\d{6}Z)\.`).FindStringSubmatch(out)
		if kept == nil {
			t.Fatalf("restore --force did not say where the old database is:\n%s", out)
		}
		if in, err := sqlite.Inspect(context.Background(), kept[1]); err != nil || !in.Exists || in.Version != in.Known {
			t.Errorf("the kept database: %+v, %v", in, err)
		}
		r := startOn(t, dir)
		r.SID, r.Token = s.SID, s.Token
		if got := r.send(t, "Restcomm", "962790320012"); got.Status != 201 {
			t.Errorf("send on the restored server: %d %s", got.Status, got.Raw)
		}
	})
	t.Run("not otpgate's", func(t *testing.T) {
		dir := t.TempDir()
		other := filepath.Join(t.TempDir(), "other.db")
		db, err := sql.Open("sqlite", "file:"+other)
		if err != nil {
			t.Fatal(err)
		}
		db.Exec("CREATE TABLE notes (body TEXT)")
		db.Close()
		text := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 100), 0o600)
		for _, from := range []string{other, text} {
			out, err := runOut("restore", "--from", from, "--data-dir", dir)
			if err == nil || !strings.Contains(err.Error(), "not an otpgate database") || !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("restore %s: %v\n%s", from, err, out)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "otpgate.db")); err == nil {
			t.Error("a refused restore left a database")
		}
	})
	t.Run("another secret", func(t *testing.T) {
		dir := t.TempDir()
		other := filepath.Join(dir, "secret")
		os.WriteFile(other, []byte(strings.Repeat("cd", 32)+"\n"), 0o600)
		out, err := runOut("restore", "--from", file, "--data-dir", dir)
		wantRefused(t, "restore beside another secret", err, other, false)
		if err == nil || !strings.HasPrefix(err.Error(), "restore: ") {
			t.Errorf("restore beside another secret: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "otpgate.db")); err == nil {
			t.Error("it restored the database beside another secret")
		}
	})
	t.Run("no secret", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		out, err := runOut("restore", "--from", file, "--data-dir", dir)
		if err != nil || !strings.Contains(out, "otpgate: creating a new data directory "+dir+" (database)") ||
			!strings.Contains(out, "serve starts only with the one it was made with:\nput it in place as "+filepath.Join(dir, "secret")+" (mode 0600)") {
			t.Errorf("restore without a secret: %v\n%s", err, out)
		}
		if _, err := startMain(t, ServeConfig{DataDir: dir}, nil); err == nil || !strings.Contains(err.Error(), "no server secret at "+filepath.Join(dir, "secret")+", and this database was set up with one") {
			t.Errorf("serve on the restored database without its secret: %v", err)
		}
	})
	t.Run("refused into a new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		text := filepath.Join(t.TempDir(), "notes.txt")
		os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 100), 0o600)
		if out, err := runOut("restore", "--from", text, "--data-dir", dir); err == nil {
			t.Fatalf("restore of a text file: %s", out)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused restore left the data directory it made: %v", err)
		}
	})
}

// otpgate backup refuses PostgreSQL, naming pg_dump (and no password), and
// an existing file unless --force.
func TestBackupRefuses(t *testing.T) {
	out, err := runOut("backup", "--to", filepath.Join(t.TempDir(), "b.db"), "--db", "postgres://otpgate:pgPw5521@db.example:5432/otpgate")
	if err == nil || !strings.Contains(err.Error(), "pg_dump --format=custom --file otpgate.dump 'postgres://otpgate:xxxxx@db.example:5432/otpgate'") ||
		!strings.Contains(err.Error(), "everything otpgate keeps but the server secret") || strings.Contains(err.Error()+out, "pgPw5521") {
		t.Errorf("backup --db postgres://: %v\n%s", err, out)
	}

	s := mustServe(t, nil)
	file := mustBackup(t, s)
	before, _ := os.ReadFile(file)
	out, err = runOut("backup", "--data-dir", s.Config.DataDir, "--to", file)
	if err == nil || !strings.Contains(err.Error(), "the file exists (give --force to replace it)") {
		t.Errorf("backup over a file: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("the refused backup changed the file")
	}
	if out, err := runOut("backup", "--data-dir", s.Config.DataDir, "--to", file, "--force"); err != nil {
		t.Errorf("backup --force: %v\n%s", err, out)
	}
	if out, err := runOut("backup", "--data-dir", t.TempDir(), "--to", filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "backup: no database in the data directory") {
		t.Errorf("backup of an empty data directory: %v\n%s", err, out)
	}
}

// doctor warns when the server secret is inside the data directory, and
// when group or others may read it.
func TestDoctorSecretApart(t *testing.T) {
	apart := writeSecret(t)
	dataDir := func(t *testing.T, secret bool, db bool) string {
		dir := t.TempDir()
		if secret {
			copyFileMode(t, apart, filepath.Join(dir, "secret"))
		}
		if db {
			os.WriteFile(filepath.Join(dir, "otpgate.db"), nil, 0o600)
		}
		return dir
	}
	link := filepath.Join(t.TempDir(), "link")
	linked := dataDir(t, true, false)
	os.Symlink(linked, link)
	for _, tc := range []struct {
		name       string
		dir        string
		secretFile string
		want       string // "" for no finding
	}{
		{"default, in the data directory", dataDir(t, true, true), "", "warn: secret: %DIR%/secret is inside the data directory %DIR%: a copy or snapshot"},
		{"not made yet", dataDir(t, false, false), "", ""},
		{"missing beside a database", dataDir(t, false, true), "", ""},
		{"apart", dataDir(t, false, true), apart, ""},
		{"--secret-file in the data directory", dataDir(t, true, true), "%DIR%/secret", "warn: secret: %DIR%/secret is inside"},
		{"through a link", link, linked + "/secret", "warn: secret: " + linked + "/secret is inside the data directory " + link},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &doctor{cfg: ServeConfig{DataDir: tc.dir, SecretFile: strings.ReplaceAll(tc.secretFile, "%DIR%", tc.dir)}}
			var got string
			for _, f := range d.secretApart() {
				got += f.level + ": " + f.text
			}
			want := strings.ReplaceAll(tc.want, "%DIR%", tc.dir)
			if (want == "") != (got == "") || !strings.HasPrefix(got, want) {
				t.Errorf("secretApart() = %q, want %q...", got, want)
			}
			if want != "" && !strings.Contains(got, "--secret-file /etc/otpgate/secret") {
				t.Errorf("secretApart() does not say where to keep it: %q", got)
			}
		})
	}
	for _, mode := range []os.FileMode{0o640, 0o604} {
		file := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(file, []byte(strings.Repeat("ab", 32)+"\n"), mode)
		os.Chmod(file, mode)
		d := &doctor{cfg: ServeConfig{DataDir: t.TempDir(), SecretFile: file}}
		if f := d.secret(); len(f) != 1 || f[0].level != "warn" || !strings.Contains(f[0].text, fmt.Sprintf("(mode %04o): chmod 600 it", mode)) {
			t.Errorf("a secret of mode %04o: %+v", mode, f)
		}
	}
}
