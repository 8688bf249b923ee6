package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
)

// OrphanKeep is how long a receipt for a part not (yet) known is kept. A
// receipt may overtake the submit_sm_resp that names its part, by
// moments; one that found no part in an hour names none of this store's
// (another client bound to the same SMSC account, a deleted message).
const OrphanKeep = time.Hour

// OrphanStore deletes the receipts kept for parts never known.
type OrphanStore interface {
	// ForgetOrphanReceipts deletes the receipts received before before
	// that no part was found for.
	ForgetOrphanReceipts(ctx context.Context, before time.Time) (int, error)
}

// OrphanForgetter deletes, every minute from its Start until its Stop, the
// receipts older than OrphanKeep that found no part; it logs a failure to
// logger (nil: none).
func OrphanForgetter(st OrphanStore, clock otpgate.Clock, logger *slog.Logger) *periodic.Loop {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return periodic.Forgetter(time.Minute, OrphanKeep, clock.Now, st.ForgetOrphanReceipts, func(err error) {
		logger.Warn("forgetting receipts that found no message failed; retried in a minute", "err", err)
	})
}
