package postgres

import "context"

// ExecInGroup runs sql as one op of a group commit (for the writer's tests).
func (s *Store) ExecInGroup(ctx context.Context, sql string) error {
	return s.submit(ctx, normal, func(t *tx) error {
		_, err := t.exec(sql)
		return err
	})
}
