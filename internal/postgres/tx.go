package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/otpgate/otpgate/internal/store"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/verification"
)

// tx is what a committer hands to each op: the group's transaction.
//
// Statements whose results no one reads (a lock, an insert that cannot
// conflict) wait in pending and go to the server with the next statement
// that returns something, or at the group's end: a group's round trips are
// its statements that return something, not all of them. Pending statements
// cross from one op to the next; one that fails fails the statement it went
// with, and the group then runs again with savepoints, where nothing waits.
// So every statement goes through exec, count, queryRow, query or batch,
// which send what is pending first (a lock before the read it guards);
// never through t.tx directly.
//
// When the committer lets it (speculate), an op may also leave pending a
// statement whose result it would read only to choose its next step,
// betting on the usual result (expect): an outcome's or receipt's quiet
// update that moves one row. The bet is checked when the statement's
// result comes back; a lost bet fails the pass (errMispredicted), and the
// committer runs the group again without bets, where the op reads the
// result and takes its other path. So a group whose bets all hold ran the
// very statements it would have run one round trip at a time.
type tx struct {
	tx        pgx.Tx
	node      string
	safe      bool
	speculate bool  // expect may bet
	bets      int   // bets placed in this pass
	wrote     bool  // the op changed a row
	failed    error // a statement failed: the transaction is aborted
	callbacks int   // callbacks the op stored
	pending   *pgx.Batch
	// expects holds, for each pending statement, the rows it must change
	// (or return), or -1 for any; sending, those of the batch in flight.
	expects, sending []int64
	mispredicted     bool // a bet was lost in this pass
}

// errMispredicted fails a pass in which a statement left pending on a bet
// (expect) did not change the rows it was expected to.
var errMispredicted = errors.New("postgres: a pending statement's result was not the one expected")

func (t *tx) reset(ptx pgx.Tx, safe bool) {
	t.tx, t.safe, t.wrote, t.failed, t.callbacks = ptx, safe, false, nil, 0
}

var bg = context.Background()

// later queues a statement whose result no one reads; write says whether
// it changes a row. With savepoints it runs at once, so that a failure is
// its own op's.
func (t *tx) later(write bool, sql string, args ...any) {
	if write {
		t.wrote = true
	}
	if t.safe {
		if _, err := t.tx.Exec(bg, sql, args...); err != nil && t.failed == nil {
			t.failed = err
		}
		return
	}
	t.queue(-1, sql, args)
}

func (t *tx) queue(rows int64, sql string, args []any) {
	if t.pending == nil {
		t.pending = &pgx.Batch{}
	}
	t.pending.Queue(sql, args...)
	t.expects = append(t.expects, rows)
}

// expect leaves a write pending, betting that it changes exactly rows
// rows, when the committer lets ops bet; it reports whether it did. If it
// did not, the caller runs the statement itself and reads its result.
func (t *tx) expect(rows int64, sql string, args ...any) bool {
	if !t.speculate || t.safe {
		return false
	}
	// The op counts as having written before the result is known: if the
	// bet is lost, the whole group runs again anyway.
	t.wrote = true
	t.bets++
	t.queue(rows, sql, args)
	return true
}

// batch returns the pending statements as a batch to add to, and how many
// there are; the caller sends it and reads them first, with skip.
func (t *tx) batch() (*pgx.Batch, int) {
	b := t.pending
	t.pending = nil
	t.sending, t.expects = t.expects, t.sending[:0]
	if b == nil {
		return &pgx.Batch{}, 0
	}
	return b, b.Len()
}

// skip reads the results of the n pending statements at the head of br,
// and checks the bets placed on them (expect).
func (t *tx) skip(br pgx.BatchResults, n int) error {
	for i := range n {
		tag, err := br.Exec()
		if err == nil && t.sending[i] >= 0 && tag.RowsAffected() != t.sending[i] {
			err, t.mispredicted = errMispredicted, true
		}
		if err != nil {
			t.failed = err
			return err
		}
	}
	return nil
}

// flush sends the pending statements, if any.
func (t *tx) flush() error {
	if t.pending == nil {
		return nil
	}
	b, n := t.batch()
	br := t.tx.SendBatch(bg, b)
	err := t.skip(br, n)
	if cerr := br.Close(); err == nil && cerr != nil {
		err, t.failed = cerr, cerr
	}
	return err
}

// withPending sends sql after the pending statements, in one round trip,
// and returns the results at sql's; the caller closes them.
func (t *tx) withPending(sql string, args []any) (pgx.BatchResults, error) {
	b, n := t.batch()
	b.Queue(sql, args...)
	br := t.tx.SendBatch(bg, b)
	if err := t.skip(br, n); err != nil {
		br.Close()
		return nil, err
	}
	return br, nil
}

// exec runs a write and returns how many rows it changed.
func (t *tx) exec(sql string, args ...any) (int64, error) {
	var tag pgconn.CommandTag
	var err error
	if t.pending == nil {
		tag, err = t.tx.Exec(bg, sql, args...)
	} else {
		var br pgx.BatchResults
		if br, err = t.withPending(sql, args); err == nil {
			tag, err = br.Exec()
			if cerr := br.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		t.failed = err
		return 0, err
	}
	n := tag.RowsAffected()
	if n > 0 {
		t.wrote = true
	}
	return n, nil
}

// execOne runs a write that must change exactly one row; ErrNotFound if it
// changed none.
func (t *tx) execOne(what, sql string, args ...any) error {
	n, err := t.exec(sql, args...)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// count runs a statement that writes and returns one count (of the rows it
// wrote).
func (t *tx) count(sql string, args ...any) (int64, error) {
	var n int64
	if err := t.queryRow(sql, args...).Scan(&n); err != nil {
		t.failed = err
		return 0, err
	}
	if n > 0 {
		t.wrote = true
	}
	return n, nil
}

// queryRow runs a statement that reads (or writes and returns) one row.
func (t *tx) queryRow(sql string, args ...any) pgx.Row {
	if t.pending == nil {
		return rowRecorder{t.tx.QueryRow(bg, sql, args...), t}
	}
	br, err := t.withPending(sql, args)
	if err != nil {
		return rowRecorder{errRow{err}, t}
	}
	return rowRecorder{batchRow{br}, t}
}

// rowRecorder notes a failed statement (the transaction is then aborted);
// no row is not a failure.
type rowRecorder struct {
	row pgx.Row
	t   *tx
}

func (r rowRecorder) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		r.t.failed = err
	}
	return err
}

// batchRow is the row of a batch's last statement; Scan closes the batch.
type batchRow struct{ br pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); cerr != nil && (err == nil || errors.Is(err, pgx.ErrNoRows)) {
		err = cerr
	}
	return err
}

// errRow is a row whose statement could not run.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// query runs a statement that returns rows.
func (t *tx) query(sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(bg, sql, args...)
	if err != nil {
		t.failed = err
	}
	return rows, err
}

// lock takes a transaction-scoped advisory lock on each key, in order: two
// nodes touching the same verification or SMSC id take turns. The lock goes
// to the server with the next statement, which fails if it did (a deadlock
// with another node's group).
func (t *tx) lock(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	t.later(false, lockSQL, lockIDs(keys))
	return t.failed
}

// lockSQL takes the advisory locks of lockIDs, in order, in one statement.
const lockSQL = `SELECT pg_advisory_xact_lock(id) FROM (SELECT id FROM unnest($1::bigint[]) AS u(id) ORDER BY id) AS o`

// lockIDs are the advisory lock ids of keys, sorted, once each.
func lockIDs(keys []string) []int64 {
	ids := make([]int64, len(keys))
	for i, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		ids[i] = int64(h.Sum64())
	}
	return sortedUnique(ids)
}

func sortedUnique(ids []int64) []int64 {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}

func (t *tx) InsertCallbacks(cbs []callback.Callback) error {
	for _, c := range cbs {
		if _, err := t.exec(`INSERT INTO callbacks (sid, message_sid, account_sid, url, params, attempts, next_attempt_at, created_at, content_type)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			c.SID, c.Subject, c.AccountSID, c.URL, c.Body, c.Attempts, nanos(c.NextAttemptAt), nanos(c.CreatedAt), string(c.ContentType)); err != nil {
			return err
		}
		t.callbacks++
	}
	return nil
}

// statuses are statuses as strings, for = ANY($n).
func statuses[S ~string](ss []S) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

func keyOf(k verification.Key) string {
	return strings.Join([]string{"verification", k.AccountSID, k.ServiceSID, k.To}, "\x00")
}

func partKey(connector, smscID string) string { return "part\x00" + connector + "\x00" + smscID }
