package verify

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/verification"
)

// expireBatch is how many verifications one sweep step marks.
const expireBatch = 500

// ExpireDue marks pending verifications whose codes all expired as expired,
// with their events, up to expireBatch at a time; it returns how many.
//
// It looks at verifications that expired since the last sweep (at the
// first, since the longest a code can live), so a sweep costs what expired
// since, not the size of the table.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	now := s.cfg.Clock.Now().UTC()
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	since := s.swept
	if since.IsZero() {
		since = now.Add(-verification.MaxTTL - time.Hour)
	}
	due, err := s.cfg.Store.DueExpirations(ctx, since, now, expireBatch)
	if err != nil {
		return 0, err
	}
	rs := make([]verification.Resolution, 0, len(due))
	var events []callback.Callback
	for _, v := range due {
		rs = append(rs, verification.Resolution{SID: v.SID, From: []verification.Status{verification.Pending},
			To: verification.Expired, ExpiredBy: now, At: now})
		svc, err := s.serviceBySID(ctx, v.ServiceSID)
		if err != nil {
			return 0, err
		}
		v.Status = verification.Expired
		events = append(events, callback.ForVerificationChange(v, svc, now)...)
	}
	if len(rs) > 0 {
		if _, err = s.cfg.Store.Resolve(ctx, rs, events); err != nil {
			return 0, err
		}
	}
	// Next time, from where this sweep got to: now, or (a full batch) the
	// last expiry it handled. A verification whose expiry was moved later by
	// a resend is found again then.
	if len(due) == expireBatch {
		s.swept = due[len(due)-1].ExpiresAt.Add(-time.Nanosecond)
	} else {
		s.swept = now
	}
	if len(events) > 0 && s.cfg.AfterEvent != nil {
		s.cfg.AfterEvent()
	}
	return len(due), nil
}

// Sweeper marks expired verifications (their events go to the services'
// events URLs) at an interval. Start it once; Stop is safe to call twice.
type Sweeper struct {
	Service  *Service
	Interval time.Duration // default 2 s
	Logger   *slog.Logger

	loop periodic.Loop
}

// Start runs the sweeper until Stop.
func (w *Sweeper) Start(ctx context.Context) {
	startLoop(ctx, &w.loop, cmp.Or(w.Interval, 2*time.Second), w.Logger, "marking expired verifications failed", w.sweep)
}

// startLoop runs run every interval until the loop's Stop (not when ctx
// ends: Stop ends it), logging its errors with what.
func startLoop(ctx context.Context, loop *periodic.Loop, every time.Duration, log *slog.Logger, what string, run func(context.Context) error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	loop.Every, loop.Run = every, run
	loop.OnError = func(err error) { log.Warn(what, "err", err) }
	loop.Start(context.WithoutCancel(ctx))
}

// Stop ends the sweeper and waits for a sweep in progress.
func (w *Sweeper) Stop() { w.loop.Stop() }

// sweep marks what expired, a batch at a time, until a batch is not full.
func (w *Sweeper) sweep(ctx context.Context) error {
	for {
		n, err := w.Service.ExpireDue(ctx)
		if err != nil || n < expireBatch || ctx.Err() != nil {
			return err
		}
	}
}
