package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/otpgate/otpgate/internal/store"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/verification"
)

// tx is what a committer hands to each op: the group's transaction.
type tx struct {
	tx        pgx.Tx
	node      string
	safe      bool
	wrote     bool  // the op changed a row
	failed    error // a statement failed: the transaction is aborted
	callbacks int   // callbacks the op stored
}

func (t *tx) reset(ptx pgx.Tx, safe bool) {
	t.tx, t.safe, t.wrote, t.failed, t.callbacks = ptx, safe, false, nil, 0
}

var bg = context.Background()

// exec runs a write and returns how many rows it changed.
func (t *tx) exec(sql string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(bg, sql, args...)
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
	if err := t.tx.QueryRow(bg, sql, args...).Scan(&n); err != nil {
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
	return rowRecorder{t.tx.QueryRow(bg, sql, args...), t}
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

// query runs a statement that returns rows.
func (t *tx) query(sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.tx.Query(bg, sql, args...)
	if err != nil {
		t.failed = err
	}
	return rows, err
}

// lock takes a transaction-scoped advisory lock on each key, in order: two
// nodes touching the same verification or SMSC id take turns.
func (t *tx) lock(keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := t.tx.Exec(bg, lockSQL, lockIDs(keys))
	if err != nil {
		t.failed = err
	}
	return err
}

// lockedCount is lock, then count, in one round trip: the two statements
// go to the server together, and the second, with a snapshot of its own,
// sees what the lock waited for.
func (t *tx) lockedCount(keys []string, sql string, args ...any) (int64, error) {
	b := &pgx.Batch{}
	b.Queue(lockSQL, lockIDs(keys))
	b.Queue(sql, args...)
	br := t.tx.SendBatch(bg, b)
	var n int64
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&n)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.failed = err
		return 0, err
	}
	if n > 0 {
		t.wrote = true
	}
	return n, nil
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
