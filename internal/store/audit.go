package store

import "errors"

// ErrFull is returned when an addition would take a list past its cap;
// nothing was written.
var ErrFull = errors.New("store: full")
