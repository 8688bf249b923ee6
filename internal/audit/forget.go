package audit

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
)

// MinKeep is the least time the audit log keeps an entry, and how long it
// keeps one unless told longer.
const MinKeep = 90 * 24 * time.Hour

// ForgetStore deletes old entries.
type ForgetStore interface {
	// ForgetAudit deletes the entries made before before.
	ForgetAudit(ctx context.Context, before time.Time) (int, error)
}

// Forgetter deletes the entries older than keep (0: MinKeep), every hour,
// from its Start until its Stop; it logs a failure to logger (nil: none).
func Forgetter(st ForgetStore, keep time.Duration, clock otpgate.Clock, logger *slog.Logger) *periodic.Loop {
	keep = cmp.Or(keep, MinKeep)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return periodic.Forgetter(time.Hour, keep, clock.Now, st.ForgetAudit, func(err error) {
		logger.Warn("forgetting old audit entries failed; retried in an hour", "err", err)
	})
}
