package sqlite

import (
	"context"
	"os"

	"github.com/otpgate/otpgate/internal/sqlstore"
)

// The writer's lingers, for the tests of lazy writes.
const (
	LazyLinger = sqlstore.LazyLinger
	LazyAlone  = lazyAlone
)

// SetSync makes s's writer fsync its WAL through f from the group that
// runs this on (f may wrap (*os.File).Sync). It runs on the writer, as an
// op that writes nothing.
func SetSync(s *Store, f func(*os.File) error) {
	s.w.Submit(context.Background(), normal, func(*tx) error { s.w.sync = f; return nil })
}
