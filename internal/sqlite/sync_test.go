package sqlite_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/sqlite"
	"github.com/otpgate/otpgate/internal/store"
)

// sendOf is the fixture's send with its own SID and no verification.
func sendOf(sid string) (message.Message, message.Outbound) {
	m, o := msg, outbound
	m.SID, m.VerificationSID, o.SID = sid, "", sid
	return m, o
}

// A write's caller that asked (store.WhenWritten) hears of it once it is in
// the WAL, where another connection (as after a crash of the process) reads
// it, while the WAL's fsync still runs; the write returns only after the
// fsync. A write that fails is never announced.
func TestWrittenBeforeTheFsync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otpgate.db")
	s := MustOpen(t, path)
	if err := s.InsertAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	var hold atomic.Bool
	syncing, release := make(chan struct{}, 1), make(chan struct{})
	sqlite.SetSync(s, func(f *os.File) error {
		if hold.Load() {
			syncing <- struct{}{}
			<-release
		}
		return f.Sync()
	})
	var releaseOnce sync.Once
	unhold := func() { releaseOnce.Do(func() { close(release) }) }
	defer unhold() // a failing test must not leave the writer in its fsync
	hold.Store(true)
	written := make(chan struct{})
	done := make(chan error, 1)
	m, o := sendOf("SMW1")
	go func() {
		done <- s.InsertSend(store.WhenWritten(ctx, func() { close(written) }), m, o, nil)
	}()
	select {
	case <-written:
	case err := <-done:
		t.Fatalf("InsertSend returned (%v) without announcing the write", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the write was never announced")
	}
	<-syncing // the writer is in the WAL's fsync, which waits for release
	var n int
	if err := mustDB(t, path).QueryRow(`SELECT count(*) FROM messages WHERE sid = 'SMW1'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("during the fsync another connection sees %d messages (%v), want 1", n, err)
	}
	select {
	case err := <-done:
		t.Fatalf("InsertSend returned (%v) before the WAL's fsync ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	unhold()
	if err := <-done; err != nil {
		t.Fatalf("InsertSend: %v", err)
	}

	hold.Store(false)
	announced := false
	err := s.InsertSend(store.WhenWritten(ctx, func() { announced = true }), m, o, nil) // the same SID again
	if err == nil || announced {
		t.Errorf("a second send with the same SID: error %v, announced %v; want an error and no announcement", err, announced)
	}
}

// After a failed fsync the writer refuses every write (what it wrote may
// not be on the disk, and later frames would chain to it) and the store is
// not ready, until it is opened again.
func TestFailedFsyncStopsWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otpgate.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	sqlite.SetSync(s, func(f *os.File) error {
		if fail.Load() {
			return syscall.EIO
		}
		return f.Sync()
	})
	fail.Store(true)
	m1, o1 := sendOf("SMF1")
	err = s.InsertSend(ctx, m1, o1, nil)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("InsertSend with a failing fsync: %v; want store.ErrUnavailable naming the fsync and EIO", err)
	}
	fail.Store(false)
	m2, o2 := sendOf("SMF2")
	if err := s.InsertSend(ctx, m2, o2, nil); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("InsertSend after the failed fsync: %v; want store.ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping after the failed fsync: %v; want store.ErrUnavailable", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = MustOpen(t, path)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after reopening: %v", err)
	}
	if _, err := s.Message(ctx, "AC1", "SMF2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the send refused after the failed fsync: %v; want store.ErrNotFound", err)
	}
	if err := s.InsertSend(ctx, m2, o2, nil); err != nil {
		t.Errorf("InsertSend after reopening: %v", err)
	}
}
