package sqlite

import (
	"context"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/sqlstore"
)

// The SMS-pumping guard's state; see guard.PumpingStore.

// AddGuardCounts adds counts.
func (s *Store) AddGuardCounts(ctx context.Context, counts []guardstate.Count) error {
	return s.submit(ctx, lazy, func(t *tx) error {
		for _, c := range counts {
			if _, err := t.exec(t.st.guardAdd, c.AccountSID, c.Key, c.Minute, c.Sends, c.Approvals); err != nil {
				return err
			}
		}
		return nil
	})
}

// GuardTotals sums the counts of the keys with sends since shortSince.
func (s *Store) GuardTotals(ctx context.Context, shortSince, baselineSince time.Time) ([]guardstate.Total, error) {
	rows, err := s.query(ctx, `SELECT account_sid, key,
			sum(CASE WHEN minute >= ?1 THEN sends ELSE 0 END), sum(CASE WHEN minute >= ?1 THEN approvals ELSE 0 END), sum(sends), min(minute)
		FROM guard_counts WHERE minute >= ?2 GROUP BY account_sid, key
		HAVING sum(CASE WHEN minute >= ?1 THEN sends ELSE 0 END) > 0`, shortSince.Unix()/60, baselineSince.Unix()/60)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []guardstate.Total
	for rows.Next() {
		var t guardstate.Total
		if err := rows.Scan(&t.AccountSID, &t.Key, &t.Sends, &t.Approvals, &t.BaselineSends, &t.Oldest); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// GuardBlocks returns the blocks that end after since.
func (s *Store) GuardBlocks(ctx context.Context, since time.Time) ([]guardstate.Block, error) {
	rows, err := s.query(ctx, `SELECT `+sqlstore.GuardBlockCols+` FROM guard_blocks WHERE until > ?`, nanos(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanGuardBlock)
}

// PutGuardBlock stores a block unless one of the key is in force, with its
// callbacks.
func (s *Store) PutGuardBlock(ctx context.Context, b guardstate.Block, cbs []callback.Callback) error {
	return s.submit(ctx, normal, func(t *tx) error {
		n, err := t.exec(t.st.guardPutBlock, b.AccountSID, b.Key, b.Level, nanos(b.Since), nanos(b.Until), b.Sends, b.Approvals, int64(b.Window), b.Reason)
		if err != nil || n == 0 {
			return err
		}
		return t.InsertCallbacks(cbs)
	})
}

// LiftGuardBlock ends a block in force now and forgets the key's counts.
func (s *Store) LiftGuardBlock(ctx context.Context, accountSID, key string, now time.Time) (guardstate.Block, error) {
	return sqlstore.One(ctx, s.submit, normal, func(t *tx) (guardstate.Block, error) {
		if err := t.beforeWrite(); err != nil {
			return guardstate.Block{}, err
		}
		b, err := sqlstore.ScanGuardBlock(t.st.guardLift.QueryRowContext(bg, nanos(now), accountSID, key))
		if err != nil {
			t.unchanged(false)
			return guardstate.Block{}, err
		}
		_, err = t.exec(t.st.guardLiftCounts, accountSID, key)
		return b, err
	})
}

// GuardSafeList returns an account's safe numbers and prefixes.
func (s *Store) GuardSafeList(ctx context.Context, accountSID string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT entry FROM guard_safe WHERE account_sid = ? ORDER BY entry`, accountSID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanString)
}

// SetGuardSafe adds entries to an account's safe list and removes others;
// store.ErrFull, writing nothing, when it would add one and leave more than
// max (0: no cap). The writer is alone, so the list it reads is the list it
// changes.
func (s *Store) SetGuardSafe(ctx context.Context, accountSID string, add, remove []string, max int) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if err := sqlstore.SafeListRoom(t.safeList, accountSID, add, remove, max); err != nil {
			return err
		}
		for _, e := range add {
			if _, err := t.exec(t.st.guardSafeAdd, accountSID, e); err != nil {
				return err
			}
		}
		for _, e := range remove {
			if _, err := t.exec(t.st.guardSafeRemove, accountSID, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// safeList reads an account's safe list in the writer's transaction.
func (t *tx) safeList(accountSID string) ([]string, error) {
	rows, err := t.st.guardSafeList.QueryContext(bg, accountSID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlstore.Collect(rows, sqlstore.ScanString)
}

// ForgetGuard deletes prefix counts older than prefixesBefore, every count
// older than before, and blocks that ended before before.
func (s *Store) ForgetGuard(ctx context.Context, prefixesBefore, before time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, lazy, func(t *tx) error {
		a, err := t.exec(t.st.guardForgetPrefixes, prefixesBefore.Unix()/60)
		if err != nil {
			return err
		}
		b, err := t.exec(t.st.guardForgetCounts, before.Unix()/60)
		if err != nil {
			return err
		}
		c, err := t.exec(t.st.guardForgetBlock, nanos(before))
		n = a + b + c
		return err
	})
	return int(n), err
}

// GuardKeyTotals sums one key's sends per account since since.
func (s *Store) GuardKeyTotals(ctx context.Context, key string, since time.Time) ([]guardstate.Total, error) {
	rows, err := s.query(ctx, `SELECT account_sid, sum(sends), min(minute) FROM guard_counts
		WHERE key = ? AND minute >= ? GROUP BY account_sid`, key, since.Unix()/60)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []guardstate.Total
	for rows.Next() {
		t := guardstate.Total{Key: key}
		if err := rows.Scan(&t.AccountSID, &t.Sends, &t.Oldest); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// GuardKeyCounts returns an account's counts of one key since since,
// oldest first, one per minute (all nodes' together).
func (s *Store) GuardKeyCounts(ctx context.Context, accountSID, key string, since time.Time) ([]guardstate.Count, error) {
	rows, err := s.query(ctx, `SELECT minute, sends, approvals FROM guard_counts
		WHERE account_sid = ? AND key = ? AND minute >= ? ORDER BY minute`, accountSID, key, since.Unix()/60)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []guardstate.Count
	for rows.Next() {
		c := guardstate.Count{AccountSID: accountSID, Key: key}
		if err := rows.Scan(&c.Minute, &c.Sends, &c.Approvals); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
