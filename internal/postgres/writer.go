package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/store"

	"github.com/otpgate/otpgate/internal/sqlstore"
)

// priority orders the ops waiting for a group, as on SQLite: urgent ones
// (the outbox's claims and reschedules) first; lazy ones (outcomes, receipts,
// the sandbox inbox) wait up to sqlstore.LazyLinger, or until LazyBatch wait, to
// share a commit; normal ones (sends, checks, the rest) as they come.
type priority = sqlstore.Priority

const normal, urgent, lazy = sqlstore.Normal, sqlstore.Urgent, sqlstore.Lazy

const (
	maxBatch = 256
	// retries is how often a group that deadlocked (with another node's)
	// or lost a serialization race is run again before its ops fail.
	retries = 5
)

// op is one write waiting for the writer.
type op = sqlstore.Op[*tx]

// writer runs group commits on a few connections at once.
type writer struct {
	pool *pgxpool.Pool
	sqlstore.Queues[*tx]
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// betFrom is when ops may bet on results again (tx.expect), in Unix
	// nanoseconds: a lost bet pauses the bets of every committer.
	betFrom atomic.Int64
	// bets placed, groups run again for a lost one, and passes run with
	// savepoints: for the tests.
	bets, lostBets, safePasses atomic.Uint64
}

func newWriter(pool *pgxpool.Pool, n int) *writer {
	w := &writer{pool: pool, Queues: sqlstore.NewQueues[*tx](maxBatch * 4), quit: make(chan struct{})}
	for range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			(&committer{w: w}).run()
		}()
	}
	return w
}

// stop ends the writers after the ops already queued.
func (w *writer) stop() {
	w.once.Do(func() { close(w.quit) })
	w.wg.Wait()
}

// submit runs fn in a group commit and returns its result once the group
// is durable. fn may run more than once, so it must only call tx methods and
// set its own results afresh.
func (s *Store) submit(ctx context.Context, prio priority, fn func(*tx) error) error {
	if !s.gate.Enter() {
		return store.ErrClosed
	}
	defer s.gate.Leave()
	return s.w.Submit(ctx, prio, func(t *tx) error { t.node = s.node; return fn(t) })
}

// committer is one writer goroutine with its own lingering lazy ops.
type committer struct {
	w         *writer
	lazy      []*op
	lazySince time.Time
	t         tx
	// when the last pass began, its COMMIT started and returned
	began, committing, committed time.Time
}

// betPause is how long ops stop betting on results (tx.expect) after a
// bet was lost.
const betPause = time.Second

func (c *committer) run() {
	w := c.w
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var batch []*op
	for {
		var first *op
		var wait <-chan time.Time
		if len(c.lazy) > 0 {
			timer.Reset(time.Until(c.lazySince.Add(sqlstore.LazyLinger)))
			wait = timer.C
		}
		select {
		case first = <-w.Urgent:
		case first = <-w.Ops:
		case o := <-w.LazyOps:
			c.addLazy(o)
		case <-wait:
		case <-w.quit:
			timer.Stop()
			c.drain()
			return
		}
		if wait != nil {
			timer.Stop()
		}
		batch = batch[:0]
		if first != nil {
			batch = append(batch, first)
		}
		batch = sqlstore.Take(batch, w.Urgent, maxBatch)
		w.TakeLazy(c.addLazy)
		if len(c.lazy) > 0 && (len(c.lazy) >= sqlstore.LazyBatch || time.Since(c.lazySince) >= sqlstore.LazyLinger) {
			n := min(len(c.lazy), max(0, maxBatch-len(batch)))
			batch = append(batch, c.lazy[:n]...)
			c.lazy = append(c.lazy[:0], c.lazy[n:]...)
			c.lazySince = time.Now()
		}
		batch = sqlstore.Take(batch, w.Ops, maxBatch)
		if len(batch) == 0 {
			continue
		}
		c.commit(batch)
		clear(batch)
	}
}

func (c *committer) addLazy(o *op) {
	if len(c.lazy) == 0 {
		c.lazySince = time.Now()
	}
	c.lazy = append(c.lazy, o)
}

// drain commits what was queued before the store closed.
func (c *committer) drain() {
	w := c.w
	for {
		o := w.Next()
		if o == nil {
			if len(c.lazy) > 0 {
				c.commit(c.lazy)
				c.lazy = nil
			}
			return
		}
		c.commit([]*op{o})
	}
}

// commit runs one group: BEGIN, every op, COMMIT; then tells every op its
// result. No op hears success before the COMMIT returned. The first pass
// runs the ops back to back; if one fails after writing (or its statement
// failed, which aborts the transaction), the group runs again with each op
// in its own savepoint. A group that deadlocked with another node's runs
// again from the start; one that still did after its retries, op by op.
func (c *committer) commit(batch []*op) {
	results := make([]error, len(batch))
	var err error
	for attempt := 0; ; attempt++ {
		var redo bool
		redo, err = c.pass(batch, false, results)
		if err == nil && redo && c.t.mispredicted {
			// A bet on a pending statement's result was lost (an outcome
			// for a message with a status callback, say): the group runs
			// again as it would without bets, and ops stop betting for a
			// while, so a store where bets are lost often does not pay
			// twice for every group.
			c.w.betFrom.Store(time.Now().Add(betPause).UnixNano())
			c.w.lostBets.Add(1)
			redo, err = c.pass(batch, false, results)
		}
		if err == nil && redo {
			c.w.safePasses.Add(1)
			_, err = c.pass(batch, true, results)
		}
		if err == nil || !retriable(err) || attempt >= retries {
			break
		}
		time.Sleep(time.Duration(1+rand.IntN(10*(attempt+1))) * time.Millisecond)
	}
	if err != nil && retriable(err) && len(batch) > 1 {
		// The group lost every race it ran: its ops run again one by one,
		// each with its own retries, so that one op in the thick of it
		// (a verification or a number many nodes write at once) does not
		// fail the others with it.
		for _, o := range batch {
			c.commit([]*op{o})
		}
		return
	}
	for i, o := range batch {
		if err != nil {
			o.Done <- fmt.Errorf("postgres: group commit failed: %w", unavailable(err))
		} else {
			o.Began, o.Committing, o.Committed = c.began, c.committing, c.committed
			o.Done <- results[i]
		}
	}
}

// retriable reports whether a group that failed with err may succeed if run
// again: a deadlock or serialization failure between nodes.
func retriable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40P01" || pe.Code == "40001"
	}
	return false
}

// pass runs the group once in a transaction. It returns redo (having rolled
// back) when a fast pass must run again with savepoints, or an error that
// fails (or retries) the whole group.
func (c *committer) pass(batch []*op, safe bool, results []error) (redo bool, err error) {
	ctx := context.Background()
	c.began = time.Now()
	conn, err := c.w.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	ptx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer ptx.Rollback(ctx) // after COMMIT, a no-op
	t := &c.t
	t.pending, t.expects, t.mispredicted = nil, t.expects[:0], false
	t.speculate = !safe && time.Now().UnixNano() >= c.w.betFrom.Load()
	defer func() { c.w.bets.Add(uint64(t.bets)); t.bets = 0 }()
	for i, o := range batch {
		if err := o.Ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		t.reset(ptx, safe)
		if safe {
			if _, err := ptx.Exec(ctx, "SAVEPOINT op"); err != nil {
				return false, err
			}
		}
		err := o.Fn(t)
		if err == nil && t.failed != nil {
			err = t.failed // a statement failed and fn went on regardless
		}
		if t.failed != nil && retriable(t.failed) {
			return false, t.failed // the transaction is lost: run the group again
		}
		results[i] = err
		if !safe {
			if err != nil && (t.wrote || t.failed != nil) {
				return true, nil
			}
			continue
		}
		if err != nil {
			if _, rerr := ptx.Exec(ctx, "ROLLBACK TO SAVEPOINT op"); rerr != nil {
				return false, rerr
			}
		}
		if _, rerr := ptx.Exec(ctx, "RELEASE SAVEPOINT op"); rerr != nil {
			return false, rerr
		}
	}
	if err := t.flush(); err != nil {
		// A statement the ops left pending failed: which op's, the pass
		// with savepoints tells (there, nothing waits).
		if retriable(err) || safe {
			return false, err
		}
		return true, nil
	}
	c.committing = time.Now()
	if err := ptx.Commit(ctx); err != nil {
		return false, err
	}
	c.committed = time.Now()
	return false, nil
}

var _ = pgx.ErrNoRows
