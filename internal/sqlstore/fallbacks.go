package sqlstore

import (
	"context"

	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// FallbackWriter writes fallbacks in a store's transaction.
type FallbackWriter interface {
	// InsertFallback records f, replacing its verification's.
	InsertFallback(f verification.Fallback) error
	// ClaimFallback deletes f (its verification's and message's SIDs) and
	// says how many rows it deleted.
	ClaimFallback(f verification.Fallback) (int64, error)
}

// WriteFallback records a send's fallback (for its message messageSID) and
// takes the one it claims: store.ErrConflict when that one is gone; see
// verification.Change.
func WriteFallback(w FallbackWriter, c verification.Change, messageSID string) error {
	if f := c.Fallback; f != nil {
		rec := *f
		rec.VerificationSID, rec.AccountSID, rec.MessageSID = c.V.SID, c.V.AccountSID, messageSID
		if err := w.InsertFallback(rec); err != nil {
			return err
		}
	}
	if f := c.Claim; f != nil {
		n, err := w.ClaimFallback(*f)
		if err == nil && n != 1 {
			err = store.ErrConflict
		}
		return err
	}
	return nil
}

// DropFallback deletes a fallback as one op; false when it was gone (see
// verify.Store).
func DropFallback[T FallbackWriter](ctx context.Context, submit Submit[T], f verification.Fallback) (bool, error) {
	n, err := One(ctx, submit, Normal, func(t T) (int64, error) { return t.ClaimFallback(f) })
	return n == 1, err
}
