package verify

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/store"
	"github.com/otpgate/otpgate/internal/verification"
)

// fallbackBatch is how many due fallbacks one step handles.
const fallbackBatch = 100

// The outcomes of a fallback (otpgate_verify_fallbacks_total's result).
const (
	FallbackSent             = "sent"              // a code went by email
	FallbackSkippedDelivered = "skipped_delivered" // the SMS was delivered
	FallbackSkippedResolved  = "skipped_resolved"  // the verification is no longer pending
	FallbackRefused          = "refused"           // a limit or the guard refused the email
)

var (
	// errResolved: the verification of a fallback is no longer pending
	// (or its codes expired): no email is owed.
	errResolved = errors.New("verify: the verification is no longer pending")
	// errRaced: the fallback's send conflicted (another node sent it, or
	// another code of its verification was stored first); the fallback,
	// if it is still there, is handled at the next step.
	errRaced = errors.New("verify: the fallback's send conflicted")
)

// FallBack handles the fallbacks that are due (their SMS not delivered by
// their due time) or whose SMS failed, up to fallbackBatch: for each, a code
// of the same verification by email to its address, stored with the
// fallback's deletion in one transaction (so one node sends it, once), or,
// when the SMS was delivered or the verification is no longer pending, the
// fallback dropped. A refused email (a rate limit, the pumping guard, the
// verification's MaxSends) drops it too, and is logged with the address
// masked. It returns how many it read, and the first error of one it
// could not handle (left for the next step).
func (s *Service) FallBack(ctx context.Context) (int, error) {
	due, err := s.cfg.Store.DueFallbacks(ctx, s.cfg.Clock.Now().UTC(), fallbackBatch)
	if err != nil {
		return 0, err
	}
	var first error // a fallback that failed is tried again at the next step; the others go on
	for _, f := range due {
		if err := s.fallBack(ctx, f); err != nil && first == nil {
			first = err
		}
	}
	return len(due), first
}

// fallBack handles one fallback; it returns only errors worth retrying
// (the store's).
func (s *Service) fallBack(ctx context.Context, f verification.Fallback) error {
	if message.Status(f.SMSStatus) == message.Delivered {
		return s.dropFallback(ctx, f, FallbackSkippedDelivered)
	}
	v, err := s.cfg.Store.VerificationBySID(ctx, f.AccountSID, f.VerificationSID)
	if errors.Is(err, store.ErrNotFound) {
		return s.dropFallback(ctx, f, FallbackSkippedResolved)
	} else if err != nil {
		return err
	}
	svc, err := s.serviceBySID(ctx, v.ServiceSID)
	if errors.Is(err, store.ErrNotFound) {
		return s.dropFallback(ctx, f, FallbackSkippedResolved)
	} else if err != nil {
		return err
	}
	region := ""
	if n, err := s.cfg.Phones.Parse(v.To); err == nil {
		region = n.Region
	}
	tries := 0
	_, err = s.cfg.SMS.Send(ctx, pipeline.Request{
		AccountSID: f.AccountSID, Channel: message.Email, To: f.Address, Service: svc.Name,
		Compose: func(ctx context.Context, snd pipeline.Send) (pipeline.Composed, error) {
			if tries++; tries > 1 {
				return pipeline.Composed{}, errRaced
			}
			return s.composeFallback(ctx, svc, snd, f, region)
		},
	})
	e := otpgate.AsError(err)
	switch {
	case err == nil:
		s.cfg.Logger.Info("a code SMS fell back to email", "verification", f.VerificationSID, "sms", f.MessageSID,
			"sms_status", cmp.Or(f.SMSStatus, "unknown"), "address", emailaddr.Mask(f.Address))
		s.cfg.Metrics.sent(svc.Name, "", false)
		s.cfg.Metrics.fellBack(FallbackSent)
		return nil
	case errors.Is(err, errResolved):
		return s.dropFallback(ctx, f, FallbackSkippedResolved)
	case errors.Is(err, errRaced):
		return nil
	case e != nil && e.Kind != otpgate.KindInternal && e.Kind != otpgate.KindUnavailable:
		s.cfg.Logger.Warn("a code's fallback to email was refused", "verification", f.VerificationSID,
			"address", emailaddr.Mask(f.Address), "reason", e.Message)
		return s.dropFallback(ctx, f, FallbackRefused)
	}
	return err
}

// composeFallback adds a code by email to the fallback's verification, if
// it is still pending and live, and claims the fallback with it.
func (s *Service) composeFallback(ctx context.Context, svc verification.Service, snd pipeline.Send, f verification.Fallback, region string) (pipeline.Composed, error) {
	v, err := s.cfg.Store.VerificationBySID(ctx, f.AccountSID, f.VerificationSID)
	if errors.Is(err, store.ErrNotFound) {
		return pipeline.Composed{}, errResolved
	} else if err != nil {
		return pipeline.Composed{}, err
	}
	now := s.cfg.Clock.Now().UTC()
	if v.Status != verification.Pending || !v.Live(now) {
		return pipeline.Composed{}, errResolved
	}
	if err := maxSends(v, svc, snd.MaskedDest()); err != nil {
		return pipeline.Composed{}, err
	}
	txt, err := textOf(svc, snd, "", f.Locale, region)
	if err != nil { // the SMS's locale is gone from the service since: the service's
		if txt, err = textOf(svc, snd, "", "", region); err != nil {
			return pipeline.Composed{}, err
		}
	}
	claim := f
	ch := verification.Change{V: v, Claim: &claim}
	ch.V.Codes = append([]verification.Code(nil), v.Codes...)
	return s.addCode(svc, snd, txt, SendRequest{}, &ch, now), nil
}

// dropFallback deletes a fallback no email is owed for, and counts it
// (once, on the node that deleted it).
func (s *Service) dropFallback(ctx context.Context, f verification.Fallback, result string) error {
	dropped, err := s.cfg.Store.DropFallback(ctx, f)
	if dropped {
		s.cfg.Metrics.fellBack(result)
	}
	return err
}

// Fallbacks sends the codes by email that code SMS owe (FallBack) every
// Interval, on every node: each is sent once. Start it once; Stop is safe
// to call twice.
type Fallbacks struct {
	Service  *Service
	Interval time.Duration // default 1 s
	Logger   *slog.Logger

	loop periodic.Loop
}

// Start runs the fallbacks until Stop.
func (w *Fallbacks) Start(ctx context.Context) {
	startLoop(ctx, &w.loop, cmp.Or(w.Interval, time.Second), w.Logger, "sending the codes' fallbacks to email failed", w.run)
}

// Stop ends the fallbacks and waits for a step in progress.
func (w *Fallbacks) Stop() { w.loop.Stop() }

// run handles what is due, a batch at a time, until a batch is not full
// (or ten were: a fallback that keeps racing waits for the next step).
func (w *Fallbacks) run(ctx context.Context) error {
	for range 10 {
		n, err := w.Service.FallBack(ctx)
		if err != nil || n < fallbackBatch || ctx.Err() != nil {
			return err
		}
	}
	return nil
}
