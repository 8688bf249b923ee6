package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/otpgate/otpgate/internal/sqlstore"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/guardstate"
)

// The SMS-pumping guard's state; see guard.PumpingStore.

// AddGuardCounts adds counts, in one statement. Rows are locked in key
// order, so two nodes adding to the same keys never deadlock.
func (s *Store) AddGuardCounts(ctx context.Context, counts []guardstate.Count) error {
	if len(counts) == 0 {
		return nil
	}
	counts = slices.Clone(counts)
	slices.SortFunc(counts, func(a, b guardstate.Count) int {
		return cmp.Or(cmp.Compare(a.AccountSID, b.AccountSID), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Minute, b.Minute))
	})
	accounts, keys := make([]string, len(counts)), make([]string, len(counts))
	minutes, sends, approvals := make([]int64, len(counts)), make([]int64, len(counts)), make([]int64, len(counts))
	for i, c := range counts {
		accounts[i], keys[i], minutes[i], sends[i], approvals[i] = c.AccountSID, c.Key, c.Minute, int64(c.Sends), int64(c.Approvals)
	}
	return s.submit(ctx, lazy, func(t *tx) error {
		_, err := t.exec(`INSERT INTO guard_counts (account_sid, key, minute, sends, approvals)
			SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
			ON CONFLICT (account_sid, key, minute) DO UPDATE
			SET sends = guard_counts.sends + excluded.sends, approvals = guard_counts.approvals + excluded.approvals`,
			accounts, keys, minutes, sends, approvals)
		return err
	})
}

// GuardTotals sums the counts of the keys with sends since shortSince.
func (s *Store) GuardTotals(ctx context.Context, shortSince, baselineSince time.Time) ([]guardstate.Total, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_sid, key,
			sum(sends) FILTER (WHERE minute >= $1), sum(approvals) FILTER (WHERE minute >= $1), sum(sends), min(minute)
		FROM guard_counts WHERE minute >= $2 GROUP BY account_sid, key
		HAVING sum(sends) FILTER (WHERE minute >= $1) > 0`, shortSince.Unix()/60, baselineSince.Unix()/60)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []guardstate.Total
	for rows.Next() {
		var t guardstate.Total
		var sends, approvals, baseline int64
		if err := rows.Scan(&t.AccountSID, &t.Key, &sends, &approvals, &baseline, &t.Oldest); err != nil {
			return nil, err
		}
		t.Sends, t.Approvals, t.BaselineSends = int(sends), int(approvals), int(baseline)
		out = append(out, t)
	}
	return out, unavailable(rows.Err())
}

// GuardBlocks returns the blocks that end after since.
func (s *Store) GuardBlocks(ctx context.Context, since time.Time) ([]guardstate.Block, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.GuardBlockCols+` FROM guard_blocks WHERE until > $1`, nanos(since))
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanGuardBlock)
	return out, unavailable(err)
}

// PutGuardBlock stores a block unless one of the key is in force, with its
// callbacks.
func (s *Store) PutGuardBlock(ctx context.Context, b guardstate.Block, cbs []callback.Callback) error {
	return s.submit(ctx, normal, func(t *tx) error {
		n, err := t.exec(`INSERT INTO guard_blocks (account_sid, key, level, since, until, lifted, sends, approvals, window_ns, reason)
			VALUES ($1, $2, $3, $4, $5, false, $6, $7, $8, $9)
			ON CONFLICT (account_sid, key) DO UPDATE SET level = excluded.level, since = excluded.since, until = excluded.until, lifted = false,
				sends = excluded.sends, approvals = excluded.approvals, window_ns = excluded.window_ns, reason = excluded.reason
			WHERE guard_blocks.lifted OR guard_blocks.until <= excluded.since`,
			b.AccountSID, b.Key, b.Level, nanos(b.Since), nanos(b.Until), b.Sends, b.Approvals, int64(b.Window), b.Reason)
		if err != nil || n == 0 {
			return err
		}
		return t.InsertCallbacks(cbs)
	})
}

// LiftGuardBlock ends a block in force now and forgets the key's counts.
func (s *Store) LiftGuardBlock(ctx context.Context, accountSID, key string, now time.Time) (guardstate.Block, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) (guardstate.Block, error) {
		b, err := sqlstore.ScanGuardBlock(t.queryRow(`UPDATE guard_blocks SET until = $1, lifted = true
			WHERE account_sid = $2 AND key = $3 AND NOT lifted AND until > $1
			RETURNING `+sqlstore.GuardBlockCols, nanos(now), accountSID, key))
		if err != nil {
			return guardstate.Block{}, err
		}
		t.wrote = true
		_, err = t.exec(`DELETE FROM guard_counts WHERE account_sid = $1 AND key = $2`, accountSID, key)
		return b, err
	})
}

// GuardSafeList returns an account's safe numbers and prefixes.
func (s *Store) GuardSafeList(ctx context.Context, accountSID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT entry FROM guard_safe WHERE account_sid = $1 ORDER BY entry`, accountSID)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanString)
	return out, unavailable(err)
}

// SetGuardSafe adds entries to an account's safe list and removes others;
// store.ErrFull, writing nothing, when it would add one and leave more than
// max (0: no cap). Changes to one account's list take turns, on every node,
// under an advisory lock of the account's list held to the end of the
// transaction: the list read after taking it is the list changed (the
// account's row may not exist, so it is not locked instead).
func (s *Store) SetGuardSafe(ctx context.Context, accountSID string, add, remove []string, max int) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := t.lock("guard_safe\x00" + accountSID); err != nil {
			return err
		}
		if err := sqlstore.SafeListRoom(t.safeList, accountSID, add, remove, max); err != nil {
			return err
		}
		if len(add) > 0 {
			if _, err := t.exec(`INSERT INTO guard_safe (account_sid, entry) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, accountSID, add); err != nil {
				return err
			}
		}
		if len(remove) > 0 {
			_, err := t.exec(`DELETE FROM guard_safe WHERE account_sid = $1 AND entry = ANY($2)`, accountSID, remove)
			return err
		}
		return nil
	})
}

// safeList reads an account's safe list in the transaction.
func (t *tx) safeList(accountSID string) ([]string, error) {
	rows, err := t.query(`SELECT entry FROM guard_safe WHERE account_sid = $1`, accountSID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out, err := sqlstore.Collect(rows, sqlstore.ScanString)
	if err != nil {
		t.failed = err
		return nil, err
	}
	return out, nil
}

// ForgetGuard deletes prefix counts older than prefixesBefore, every count
// older than before, and blocks that ended before before.
func (s *Store) ForgetGuard(ctx context.Context, prefixesBefore, before time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		a, err := t.exec(`DELETE FROM guard_counts WHERE minute < $1 AND key LIKE 'prefix:%'`, prefixesBefore.Unix()/60)
		if err != nil {
			return err
		}
		b, err := t.exec(`DELETE FROM guard_counts WHERE minute < $1`, before.Unix()/60)
		if err != nil {
			return err
		}
		c, err := t.exec(`DELETE FROM guard_blocks WHERE until < $1`, nanos(before))
		n = a + b + c
		return err
	})
	return int(n), err
}

// GuardKeyTotals sums one key's sends per account since since.
func (s *Store) GuardKeyTotals(ctx context.Context, key string, since time.Time) ([]guardstate.Total, error) {
	rows, err := s.pool.Query(ctx, `SELECT account_sid, sum(sends), min(minute) FROM guard_counts
		WHERE key = $1 AND minute >= $2 GROUP BY account_sid`, key, since.Unix()/60)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []guardstate.Total
	for rows.Next() {
		t := guardstate.Total{Key: key}
		var sends int64
		if err := rows.Scan(&t.AccountSID, &sends, &t.Oldest); err != nil {
			return nil, err
		}
		t.Sends = int(sends)
		out = append(out, t)
	}
	return out, unavailable(rows.Err())
}

// GuardKeyCounts returns an account's counts of one key since since,
// oldest first, one per minute (all nodes' together).
func (s *Store) GuardKeyCounts(ctx context.Context, accountSID, key string, since time.Time) ([]guardstate.Count, error) {
	rows, err := s.pool.Query(ctx, `SELECT minute, sends, approvals FROM guard_counts
		WHERE account_sid = $1 AND key = $2 AND minute >= $3 ORDER BY minute`, accountSID, key, since.Unix()/60)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	var out []guardstate.Count
	for rows.Next() {
		c := guardstate.Count{AccountSID: accountSID, Key: key}
		var sends, approvals int64
		if err := rows.Scan(&c.Minute, &sends, &approvals); err != nil {
			return nil, err
		}
		c.Sends, c.Approvals = int(sends), int(approvals)
		out = append(out, c)
	}
	return out, unavailable(rows.Err())
}
