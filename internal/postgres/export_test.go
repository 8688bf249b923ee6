package postgres

import "context"

// ExecInGroup runs sql as one op of a group commit (for the writer's tests).
func (s *Store) ExecInGroup(ctx context.Context, sql string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		_, err := t.exec(sql)
		return err
	})
}

// LaterInGroup runs sql as one op of a group commit whose result no one
// reads: it waits to go to the server with the group's next statement.
func (s *Store) LaterInGroup(ctx context.Context, sql string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		t.later(true, sql)
		return t.failed
	})
}

// BetInGroup runs sql as one op of a group commit that bets sql changes
// one row (tx.expect), as an outcome's quiet update does; where it did not
// bet, or lost, it runs sql and, if sql changed no row, otherwise. Unlike
// an outcome it is not a lazy op, so that it joins the group of the ops
// queued with it.
func (s *Store) BetInGroup(ctx context.Context, sql, otherwise string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		if t.expect(1, sql) {
			return t.failed
		}
		n, err := t.exec(sql)
		if err != nil || n == 1 {
			return err
		}
		_, err = t.exec(otherwise)
		return err
	})
}

// Bets reports the writer's bets placed so far, the groups run again for a
// lost bet, and the passes run with savepoints.
func (s *Store) Bets() (placed, lost, savepointPasses uint64) {
	return s.w.bets.Load(), s.w.lostBets.Load(), s.w.safePasses.Load()
}

// ResumeBets ends the pause of bets after a lost one.
func (s *Store) ResumeBets() { s.w.betFrom.Store(0) }
