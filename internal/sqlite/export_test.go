package sqlite

import "github.com/otpgate/otpgate/internal/sqlstore"

// The writer's lingers, for the tests of lazy writes.
const (
	LazyLinger = sqlstore.LazyLinger
	LazyAlone  = lazyAlone
)
