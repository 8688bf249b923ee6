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
