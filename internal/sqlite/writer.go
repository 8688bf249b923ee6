package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/sqlstore"
	"github.com/otpgate/otpgate/internal/store"
)

// op is one write waiting for the writer.
type op = sqlstore.Op[*tx]

// priority orders the ops waiting for a group: urgent ones (the outbox's
// claims and reschedules) join the next group before normal ones (new
// sends, checks, and the rest). Lazy ones (delivery outcomes, receipts, the
// sandbox inbox: nobody waits for them) ride with the other ops: once the
// oldest has waited LazyLinger, or LazyBatch of them wait (sqlstore), they
// join the next groups, a few with each, and share their commits. While
// other ops come (one within LazyLinger), lazy ones commit on their own only
// after lazyAlone (or once lazyAloneBatch of them wait): a send then does
// not wait behind a commit of theirs (an fsync). With no other op coming,
// they commit after LazyLinger, so receipts alone still go as fast as the
// SMSC sends them.
type priority = sqlstore.Priority

const normal, urgent, lazy = sqlstore.Normal, sqlstore.Urgent, sqlstore.Lazy

const (
	lazyAlone      = 50 * time.Millisecond
	lazyAloneBatch = 256
	// lazyRiders is the fewest lazy ops a group takes along; a group takes
	// up to twice as many as its other ops.
	lazyRiders = 4
)

// writer owns the write connection and runs group commits.
type writer struct {
	conn *sql.Conn
	sqlstore.Queues[*tx]
	lazy      []*op     // lazy ops taken off lazyOps, waiting for their group
	lazySince time.Time // when the oldest of lazy arrived
	lastOther time.Time // when the last group with other than lazy ops began
	maxBatch  int
	quit      chan struct{}
	stopped   chan struct{}
	once      sync.Once
	st        stmts
	batch     []*op
	results   []error
	t         tx
	stats     writerStats
	// walFrames is the WAL's length as the checkpointer last saw it.
	walFrames atomic.Int64
	maxWAL    int64 // restart past this many frames
	// restartAfter: a RESTART checkpoint found a reader of old frames (a
	// backup's snapshot); the next waits until then.
	restartAfter time.Time
	// noOrphans: orphan_receipts is empty, as the writer last looked
	// (between two groups, at most every orphansRecheck); an op that
	// keeps a receipt clears it. While it holds, an outcome does not look
	// for receipts that came before it.
	noOrphans      bool
	orphansChecked time.Time
	// The writer's connection commits with synchronous=NORMAL: its COMMIT
	// writes the WAL's frames, which a crash of the process cannot take
	// back, and the writer then fsyncs the WAL itself, through wal, before
	// any op hears its result. Between the two it tells the ops that asked
	// (store.WhenWritten): a send is handed to the SMSC during the fsync.
	walPath    string
	wal        *os.File
	walChecked time.Time // when wal was last found to be walPath's file
	sync       func(*os.File) error
	// syncErr is the fsync that failed: the frames it should have made
	// durable may be lost from the disk while SQLite reads them from the
	// page cache, and later frames chain to them. Every later op fails
	// with it, and so does Ping, until otpgate restarts and SQLite reads
	// the WAL back.
	syncErr atomic.Pointer[error]
	// onSync, when set, is told how long each fsync of the WAL took.
	onSync atomic.Pointer[func(time.Duration)]
}

// orphansRecheck is how often the writer looks again whether receipts
// wait for their parts, while some may.
const orphansRecheck = time.Second

func newWriter(ctx context.Context, conn *sql.Conn, walPath string, maxBatch int) (*writer, error) {
	w := &writer{
		conn:     conn,
		walPath:  walPath,
		sync:     (*os.File).Sync,
		Queues:   sqlstore.NewQueues[*tx](maxBatch * 4),
		maxBatch: maxBatch,
		maxWAL:   maxWALFrames,
		quit:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return nil, err
	}
	if err := w.st.prepare(ctx, conn); err != nil {
		return nil, err
	}
	w.t.st = &w.st
	w.t.noOrphans = &w.noOrphans
	return w, nil
}

// stop ends the writer after the ops already queued; no op may be submitted after.
func (w *writer) stop() {
	w.once.Do(func() { close(w.quit) })
	<-w.stopped
	w.st.close()
	if w.wal != nil {
		w.wal.Close()
	}
}

func (w *writer) run() {
	defer close(w.stopped)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first *op
		var wait <-chan time.Time
		if len(w.lazy) > 0 {
			timer.Reset(time.Until(w.lazyAloneAt()))
			wait = timer.C
		}
		select {
		case first = <-w.Urgent:
		case first = <-w.Ops:
		case o := <-w.LazyOps:
			w.addLazy(o)
		case <-wait:
		case <-w.quit:
			timer.Stop()
			w.drain()
			return
		}
		if wait != nil && !timer.Stop() {
			select { // the timer fired: empty its channel for the next Reset
			case <-timer.C:
			default:
			}
		}
		batch := w.batch[:0]
		if first != nil {
			batch = append(batch, first)
		}
		batch = sqlstore.Take(batch, w.Urgent, w.maxBatch)
		w.TakeLazy(w.addLazy)
		riders := 0
		others := len(batch) + len(w.Ops)
		if len(w.lazy) > 0 && w.lazyDue(others > 0) {
			n := min(len(w.lazy), max(0, w.maxBatch-len(batch)))
			if others > 0 {
				// A few ride with each group, so that no one send carries
				// the execution of all that lingered.
				n = min(n, max(lazyRiders, 2*others))
			}
			riders = n
			batch = append(batch, w.lazy[:n]...)
			w.lazy = append(w.lazy[:0], w.lazy[n:]...)
			w.stats.lazyWaiting.Store(int64(len(w.lazy)))
			// The rest stay due: they ride with the next groups.
		}
		batch = sqlstore.Take(batch, w.Ops, w.maxBatch)
		if len(batch) == 0 {
			continue // lazy ops still lingering
		}
		if len(batch) > riders {
			w.lastOther = time.Now()
		}
		w.checkOrphans()
		w.commit(batch)
		w.maybeRestartWAL()
		clear(batch)
		w.batch = batch[:0]
	}
}

// checkOrphans sets noOrphans when orphan_receipts is empty, looking at
// most every orphansRecheck while it is not known to be. It reads between
// two groups, outside any transaction: every write goes through the writer,
// so what it reads is the table as the next group finds it.
func (w *writer) checkOrphans() {
	if w.noOrphans || time.Since(w.orphansChecked) < orphansRecheck {
		return
	}
	w.orphansChecked = time.Now()
	var some bool
	if err := w.st.someOrphans.QueryRowContext(context.Background()).Scan(&some); err == nil {
		w.noOrphans = !some
	}
}

// lazyDue reports whether the lazy ops waiting join this group: with
// other ops in it (riding), or alone.
func (w *writer) lazyDue(riding bool) bool {
	waited := time.Since(w.lazySince)
	if riding {
		return len(w.lazy) >= sqlstore.LazyBatch || waited >= sqlstore.LazyLinger
	}
	return len(w.lazy) >= lazyAloneBatch || !time.Now().Before(w.lazyAloneAt())
}

// lazyAloneAt is when the lazy ops waiting commit on their own: LazyLinger
// after the oldest came, or, while other ops come, lazyAlone after.
func (w *writer) lazyAloneAt() time.Time {
	at := w.lazySince.Add(sqlstore.LazyLinger)
	if quiet := w.lastOther.Add(sqlstore.LazyLinger); quiet.After(at) {
		at = quiet // others came lately: wait for one to ride with
	}
	if limit := w.lazySince.Add(lazyAlone); limit.Before(at) {
		return limit
	}
	return at
}

func (w *writer) addLazy(o *op) {
	if len(w.lazy) == 0 {
		w.lazySince = time.Now()
	}
	w.lazy = append(w.lazy, o)
	w.stats.lazyWaiting.Store(int64(len(w.lazy)))
}

// drain commits what callers queued before Close stopped taking new ones.
func (w *writer) drain() {
	for {
		o := w.Next()
		if o == nil {
			if len(w.lazy) > 0 {
				w.commit(w.lazy)
				w.lazy = nil
			}
			return
		}
		w.commit(append(w.batch[:0], o))
	}
}

// commit runs one group: BEGIN, every op, COMMIT; then tells every op its
// result. No op hears success before the COMMIT returned.
//
// The first pass runs the ops back to back. If an op fails after it wrote
// something, its writes cannot be told apart from the others', so the group
// is rolled back and run again with each op in its own savepoint (fn may run
// more than once; see store.Store.Update). Ops that fail before writing, as
// the domain's refusals do, cost nothing extra.
func (w *writer) commit(batch []*op) {
	start := time.Now()
	w.stats.batches.Add(1) // before any op hears of it
	w.stats.ops.Add(uint64(len(batch)))
	defer func() { w.stats.busy.Add(uint64(time.Since(start))) }()
	if w.pass(batch, false) {
		return
	}
	w.stats.safePasses.Add(1)
	w.pass(batch, true)
}

// pass runs the group once. It returns false, having rolled back and told
// no one, when a fast pass must be redone with savepoints.
func (w *writer) pass(batch []*op, safe bool) bool {
	ctx := context.Background()
	if cap(w.results) < len(batch) {
		w.results = make([]error, len(batch))
	}
	results := w.results[:len(batch)]
	if failed := w.syncErr.Load(); failed != nil {
		for _, o := range batch {
			o.Done <- *failed
		}
		return true
	}
	began := time.Now()
	if _, err := w.st.begin.ExecContext(ctx); err != nil {
		for _, o := range batch {
			o.Done <- fmt.Errorf("sqlite: begin: %w", err)
		}
		return true
	}
	var fatal error
	for i, o := range batch {
		if err := o.Ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		w.t.reset(safe)
		err := o.Fn(&w.t)
		if err == nil && w.t.failed != nil {
			// A write failed and fn went on regardless: undo the op all the same.
			err = w.t.failed
		}
		results[i] = err
		if !safe {
			if err != nil && w.t.wrote {
				w.st.rollback.ExecContext(ctx)
				return false
			}
			continue
		}
		if w.t.inSavepoint {
			if err != nil {
				if _, rerr := w.st.rollbackTo.ExecContext(ctx); rerr != nil {
					fatal = rerr
				}
			}
			if _, rerr := w.st.release.ExecContext(ctx); rerr != nil && fatal == nil {
				fatal = rerr
			}
		}
		if fatal != nil {
			break
		}
	}
	var committing, committed time.Time
	if fatal == nil {
		committing = time.Now()
		if _, err := w.st.commit.ExecContext(ctx); err != nil {
			fatal = fmt.Errorf("sqlite: commit: %w", err)
		}
		committed = time.Now()
	}
	if fatal != nil {
		w.st.rollback.ExecContext(ctx)
		for _, o := range batch {
			o.Done <- fmt.Errorf("sqlite: group commit failed: %w", fatal)
		}
		return true
	}
	// The group is in the WAL: a crash of the process keeps it. Those who
	// asked hear of it now; a send goes to the SMSC during the fsync.
	wrote := false
	for i, o := range batch {
		o.Began, o.Committing, o.Committed = began, committing, committed
		if results[i] == nil && o.Wrote() {
			wrote = true
		}
	}
	if wrote && len(w.Ops)+len(w.Urgent) == 0 {
		runtime.Gosched()
	}
	syncing := time.Now()
	err := w.syncWAL()
	synced := time.Now()
	w.stats.commitTime.Add(uint64(synced.Sub(committing)))
	w.stats.syncTime.Add(uint64(synced.Sub(syncing)))
	if f := w.onSync.Load(); f != nil && err == nil {
		(*f)(synced.Sub(syncing))
	}
	if err != nil {
		err = fmt.Errorf("%w: sqlite: the fsync of the WAL failed, so what it wrote may not be on the disk; "+
			"writes stop until otpgate restarts and reads the database back: %w", store.ErrUnavailable, err)
		w.syncErr.Store(&err)
		for _, o := range batch {
			o.Done <- err
		}
		return true
	}
	for i, o := range batch {
		o.Done <- results[i]
		results[i] = nil
	}
	// The ops just told wait to run on this goroutine's P (Go queues a
	// goroutine it wakes on the waker's P). Under load more ops wait for
	// the writer, and it would run their group first, the better part of a
	// millisecond, while the requests it just answered wait. Let them go
	// first: they answer, their clients send on, and the next group takes
	// in what came meanwhile. With no op waiting the writer blocks on its
	// queues next, which frees the P all the same.
	if len(w.Ops)+len(w.Urgent) > 0 {
		runtime.Gosched()
	}
	return true
}

// walRecheck is how often the writer makes sure the WAL file it fsyncs is
// still the one SQLite writes. SQLite deletes the WAL only when its last
// connection closes, and the writer holds one open; if the file is replaced
// all the same, the writer opens the new one within walRecheck.
const walRecheck = time.Second

// syncWAL fsyncs the WAL: the frames of every commit so far, and, as it is
// the same file, the header SQLite writes when it starts the WAL over.
func (w *writer) syncWAL() error {
	if w.wal != nil && time.Since(w.walChecked) >= walRecheck {
		fi, err := w.wal.Stat()
		now, err2 := os.Stat(w.walPath)
		if err != nil || err2 != nil || !os.SameFile(fi, now) {
			w.wal.Close()
			w.wal = nil
		}
		w.walChecked = time.Now()
	}
	if w.wal == nil {
		f, err := os.OpenFile(w.walPath, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		w.wal, w.walChecked = f, time.Now()
	}
	return w.sync(w.wal)
}

// maxWALFrames is the WAL length (in pages) past which the writer starts
// the WAL over: 4k pages of 4 KiB, 16 MiB, about half a second of writes
// under load. A restart stalls the writer for a few milliseconds; past
// 64 MiB they came a quarter as often but stalled it longer, and the
// slowest 1% of sandbox sends under load took 29-51 ms against 26-29 ms.
const maxWALFrames = 4096

// restartWait is how long a RESTART checkpoint waits for readers of old
// frames; restartBackoff, how long the writer then leaves the WAL be.
const (
	restartWait    = 20 * time.Millisecond
	restartBackoff = time.Second
)

// maybeRestartWAL runs a RESTART checkpoint when the checkpointer saw the
// WAL grow past maxWALFrames. It copies what the PASSIVE checkpoints have not
// yet, waits (busy_timeout) for readers of the old frames, and lets the next
// transaction write the WAL from its start. Writes wait meanwhile; with the
// WAL kept short that is a few milliseconds.
func (w *writer) maybeRestartWAL() {
	if w.walFrames.Load() <= w.maxWAL || time.Now().Before(w.restartAfter) {
		return
	}
	ctx := context.Background()
	start := time.Now()
	// The server's own reads end within milliseconds; a reader that holds
	// its snapshot longer (otpgate backup, for as long as it copies) is
	// not waited for: the WAL grows meanwhile, and is started over after.
	w.conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", restartWait.Milliseconds()))
	var busy, log, done int64
	err := w.st.restartWAL.QueryRowContext(ctx).Scan(&busy, &log, &done)
	w.conn.ExecContext(ctx, "PRAGMA busy_timeout = 10000")
	if err == nil && busy == 0 {
		w.walFrames.Store(0)
	} else {
		w.restartAfter = time.Now().Add(restartBackoff)
	}
	w.stats.walRestarts.Add(1)
	w.stats.walRestartTime.Add(uint64(time.Since(start)))
}

type writerStats struct {
	walRestarts, walRestartTime atomic.Uint64
	batches, ops, safePasses    atomic.Uint64
	busy, commitTime, syncTime  atomic.Uint64 // nanoseconds
	lazyWaiting                 atomic.Int64  // len(writer.lazy)
}
