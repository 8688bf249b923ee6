package sqlite

// The writer's lingers, for the tests of lazy writes.
const (
	LazyLinger = lazyLinger
	LazyAlone  = lazyAlone
)
