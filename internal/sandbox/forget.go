package sandbox

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
)

// DefaultKeep is how long the inbox keeps a message unless told otherwise.
const DefaultKeep = 24 * time.Hour

// ForgetStore deletes old inbox messages.
type ForgetStore interface {
	// ForgetSandbox deletes the inbox messages delivered before before.
	ForgetSandbox(ctx context.Context, before time.Time) (int, error)
}

// Forgetter deletes the inbox messages older than keep (0 or less:
// DefaultKeep), every minute, from its Start until its Stop; it logs a
// failure to logger (nil: none).
func Forgetter(st ForgetStore, keep time.Duration, clock otpgate.Clock, logger *slog.Logger) *periodic.Loop {
	keep = cmp.Or(max(keep, 0), DefaultKeep)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return periodic.Forgetter(time.Minute, keep, clock.Now, st.ForgetSandbox, func(err error) {
		logger.Warn("forgetting old sandbox messages failed; retried in a minute", "err", err)
	})
}
