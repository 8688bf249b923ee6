package guard

import (
	"context"
	"time"

	"github.com/otpgate/otpgate/internal/callback"
	"github.com/otpgate/otpgate/internal/guardstate"
	"github.com/otpgate/otpgate/internal/verification"
)

// ServiceReader reads the service whose code tipped a block, for its
// events URL.
type ServiceReader interface {
	Service(ctx context.Context, accountSID, name string) (verification.Service, error)
}

// blockedEvents returns the guard.blocked event a block owes: to the events
// URL of the service whose code tipped it; none when the block has no such
// service, it cannot be read, or it has no events URL.
func (p *Pumping) blockedEvents(ctx context.Context, b guardstate.Block, service string) []callback.Callback {
	if p.cfg.Services == nil || service == "" {
		return nil
	}
	svc, err := p.cfg.Services.Service(ctx, b.AccountSID, service)
	if err != nil {
		return nil
	}
	cb, ok := callback.ForGuardEvent(callback.GuardEvent{
		Type: "guard.blocked", AccountSID: b.AccountSID, Key: b.Key, Sends: b.Sends, Approvals: b.Approvals,
		WindowSeconds: int(b.Window.Seconds()), Level: b.Level, Reason: b.Reason,
		Since: b.Since.UTC().Format(time.RFC3339), Until: b.Until.UTC().Format(time.RFC3339),
	}, svc, p.cfg.Clock.Now())
	if !ok {
		return nil
	}
	return []callback.Callback{cb}
}
