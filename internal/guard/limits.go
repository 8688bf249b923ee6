package guard

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/emailaddr"
	"github.com/otpgate/otpgate/internal/message"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/periodic"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/ratelimit"
)

// per says "per hour", "per 10m".
func per(w time.Duration) string {
	switch w {
	case time.Hour:
		return "hour"
	case time.Minute:
		return "minute"
	case 24 * time.Hour:
		return "day"
	}
	return policy.ShortDuration(w)
}

// LimitsConfig is the server's rate limits of sends; each may be off. The
// limits each account has of its own (per number, the daily budget) are
// its ceilings (policy.Effective).
type LimitsConfig struct {
	PerKey     policy.Rate // codes under one rate_limit_key of a service
	PerService policy.Rate // codes of one service
	PerAccount policy.Rate // every SMS of an account, codes and messages
}

// DefaultLimits are the limits of a server not told otherwise.
var DefaultLimits = LimitsConfig{PerKey: policy.Rate{Max: 10, Window: time.Hour}}

// DefaultPerNumber is an account's limit of SMS to one number when the
// operator set none.
var DefaultPerNumber = policy.Rate{Max: 10, Window: time.Hour}

// Limits is the rate-limit policy of the send pipeline: it names the
// limits each send counts against (the store counts them in the send's own
// transaction, so they hold across nodes and restarts) and words a refusal.
// Every SMS, a code or a message, counts against its account's limit per
// number; codes also against the server's limits per rate_limit_key and per
// service. (The daily budget is Budget's.)
type Limits struct{ cfg LimitsConfig }

// NewLimits returns the rate-limit policy.
func NewLimits(cfg LimitsConfig) *Limits { return &Limits{cfg: cfg} }

const (
	kindNumber  = "n:"
	kindKey     = "k:"
	kindService = "s:"
	kindAccount = "a:"
)

// Limits returns the limits s counts against.
func (g *Limits) Limits(s pipeline.Send) []ratelimit.Limit {
	var out []ratelimit.Limit
	add := func(r policy.Rate, key string) {
		if !r.Off() {
			out = append(out, ratelimit.Limit{Key: key, Max: r.Max, Window: r.Window})
		}
	}
	add(g.cfg.PerAccount, kindAccount+s.AccountSID)
	dest := s.Dest()
	if s.Channel == message.Email {
		// Per mailbox: Victim+1@ and victim@ share one count.
		dest = emailaddr.Mailbox(dest)
	}
	add(s.Ceilings.PerNumber, kindNumber+s.AccountSID+":"+dest)
	if s.Code {
		add(g.cfg.PerService, kindService+s.AccountSID+":"+s.Service)
		if s.RateLimitKey != "" {
			// The key may be personal (an IP address): only its hash is kept.
			h := sha256.Sum256([]byte(s.RateLimitKey))
			add(g.cfg.PerKey, kindKey+s.AccountSID+":"+s.Service+":"+hex.EncodeToString(h[:16]))
		}
	}
	return out
}

// Refuse words the refusal of s by l: 429 with Retry-After; code 60203 for
// the limits of one person (number, rate_limit_key), 20429 for those of the
// account or a service.
func (g *Limits) Refuse(s pipeline.Send, l ratelimit.Limit, retryAt time.Time, now time.Time) error {
	wait := max(retryAt.Sub(now), time.Second)
	secs := int((wait + time.Second - 1) / time.Second)
	in := "in " + roughly(wait)
	var e *otpgate.Error
	switch {
	case strings.HasPrefix(l.Key, kindNumber):
		what := "codes and messages"
		if s.Code {
			what = "codes"
		}
		sent, one := "SMS", "number"
		if s.Channel == message.Email {
			sent, one = "emails", "email address"
		}
		e = otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
			"Too many %s to %s: %d %s were sent to it in the last %s, the most for one %s this account's ceilings allow; the next can be sent %s",
			what, s.MaskedDest(), l.Max, sent, per(l.Window), one, in)
	case strings.HasPrefix(l.Key, kindKey):
		e = otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
			"Too many codes for this rate_limit_key: %d were sent under it for service %q in the last %s; the next can be sent %s",
			l.Max, s.Service, per(l.Window), in)
	case strings.HasPrefix(l.Key, kindService):
		e = otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeTooManyRequests,
			"Service %q sent %d codes in the last %s, its limit; try again %s", s.Service, l.Max, per(l.Window), in)
	default:
		e = otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeTooManyRequests,
			"This account sent %d messages in the last %s, its limit; try again %s", l.Max, per(l.Window), in)
	}
	e.RetryAfter = time.Duration(secs) * time.Second
	return e
}

// thousands writes 10000 as 10,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// roughly says a wait as a person would: "12 s", "4 min", "2 h".
func roughly(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return strconv.Itoa(int((d+time.Second-1)/time.Second)) + " s"
	case d < 2*time.Hour:
		return strconv.Itoa(int((d+time.Minute-1)/time.Minute)) + " min"
	}
	return strconv.Itoa(int((d+time.Hour-1)/time.Hour)) + " h"
}

// LimitStore forgets counts that no longer count.
type LimitStore interface {
	ForgetLimits(ctx context.Context, now time.Time) (int, error)
}

// Forgetter deletes rate-limit counts whose window has passed, every
// minute, so the table holds only the last window's keys.
type Forgetter struct {
	Store  LimitStore
	Clock  otpgate.Clock
	Logger *slog.Logger
	Every  time.Duration // default 1m

	loop periodic.Loop
}

// Start runs the forgetter until Stop.
func (f *Forgetter) Start(ctx context.Context) {
	if f.Clock == nil {
		f.Clock = otpgate.SystemClock{}
	}
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
	f.loop.Every = cmp.Or(f.Every, time.Minute)
	f.loop.Run = func(ctx context.Context) error {
		_, err := f.Store.ForgetLimits(ctx, f.Clock.Now())
		return err
	}
	f.loop.OnError = func(err error) {
		f.Logger.Warn("forgetting old rate-limit counts failed; retried in a minute", "err", err)
	}
	f.loop.Start(ctx)
}

// Stop stops the forgetter; safe to call twice, or without Start.
func (f *Forgetter) Stop() { f.loop.Stop() }
