package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
)

// Under a steady stream of writes the WAL must not grow without bound: the
// writer starts it over once the checkpointer reports it past the limit.
func TestWALStaysBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.w.maxWAL = 200 // pages
	body := string(make([]byte, 2000))
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	n := 0
	var mu sync.Mutex
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				err := s.InsertSandboxEntry(context.Background(), message.SandboxEntry{SID: fmt.Sprintf("SM%d-%d", g, i), AccountSID: "AC1", To: "+1", Body: body, CreatedAt: time.Now()})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// n rows of 2 KB went through the WAL; a WAL that never restarted would hold them all.
	t.Logf("%d writes, %d WAL restarts, WAL file %d KiB", n, st.WALRestarts, fi.Size()>>10)
	if st.WALRestarts == 0 {
		t.Fatalf("no WAL restart after %d writes of 2 KB with a 200-page limit", n)
	}
	// Once the writes stop, the next checkpoint sees the WAL's length and the
	// next write restarts it: the WAL then holds a handful of frames, not
	// the thousands written.
	time.Sleep(500 * time.Millisecond)
	for i := range 2 {
		if err := s.InsertSandboxEntry(context.Background(), message.SandboxEntry{SID: fmt.Sprintf("SMlast-%d", i), AccountSID: "AC2", To: "+1", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	var busy, frames, done int64
	if err := s.ckptDB.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
		t.Fatal(err)
	}
	if frames > 200 {
		t.Fatalf("the WAL holds %d frames after %d writes: it was not started over", frames, n)
	}
	msgs, err := s.SandboxEntries(context.Background(), "AC1", "+1", 1_000_000)
	if err != nil || len(msgs) != n {
		t.Fatalf("after WAL restarts: %d messages (err %v), want %d", len(msgs), err, n)
	}
}
