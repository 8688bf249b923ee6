package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/internal/pipeline"
	"github.com/otpgate/otpgate/internal/store"
)

// Rate is a limit's size: at most Max in any Window. Max 0 is no limit.
type Rate struct {
	Max    int
	Window time.Duration
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.Max <= 0 }

// String is the form ParseRate reads: "10/1h", or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return strconv.Itoa(r.Max) + "/" + shortDuration(r.Window)
}

// ParseRate reads "N/DURATION" ("10/1h", "1000/1m") or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	max, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || max < 1 {
		return Rate{}, fmt.Errorf("%q: want a count per duration, like 10/1h or 1000/1m, or off", s)
	}
	w, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil || w < time.Second || w > 7*24*time.Hour {
		return Rate{}, fmt.Errorf("%q: the duration must be 1s to 168h, like 1h or 10m", s)
	}
	return Rate{Max: max, Window: w}, nil
}

// shortDuration writes 1h, 10m, 90s rather than 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

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
	return shortDuration(w)
}

// LimitsConfig is the rate limits of sends; each may be off.
type LimitsConfig struct {
	PerNumber  Rate // codes to one number, across an account's services
	PerKey     Rate // codes under one rate_limit_key of a service
	PerService Rate // codes of one service
	PerAccount Rate // every SMS of an account, codes and messages
}

// DefaultLimits are the limits of a server not told otherwise.
var DefaultLimits = LimitsConfig{
	PerNumber: Rate{Max: 10, Window: time.Hour},
	PerKey:    Rate{Max: 10, Window: time.Hour},
}

// Limits is the rate-limit policy of the send pipeline: it names the
// limits each send counts against (the store counts them in the send's own
// transaction, so they hold across nodes and restarts) and words a refusal.
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
func (g *Limits) Limits(s pipeline.Send) []store.Limit {
	var out []store.Limit
	add := func(r Rate, key string) {
		if !r.Off() {
			out = append(out, store.Limit{Key: key, Max: r.Max, Window: r.Window})
		}
	}
	add(g.cfg.PerAccount, kindAccount+s.AccountSID)
	if s.Code {
		add(g.cfg.PerNumber, kindNumber+s.AccountSID+":"+s.To.E164)
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
func (g *Limits) Refuse(s pipeline.Send, l store.Limit, retryAt time.Time, now time.Time) error {
	wait := max(retryAt.Sub(now), time.Second)
	secs := int((wait + time.Second - 1) / time.Second)
	in := "in " + roughly(wait)
	var e *otpgate.Error
	switch {
	case strings.HasPrefix(l.Key, kindNumber):
		e = otpgate.Errorf(otpgate.KindTooMany, otpgate.CodeMaxSendAttempts,
			"Too many codes to %s: %d were sent to it in the last %s, the most for one number across this account's services; the next can be sent %s",
			phone.Mask(s.To.E164), l.Max, per(l.Window), in)
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

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Start runs the forgetter until Stop.
func (f *Forgetter) Start(ctx context.Context) {
	if f.Clock == nil {
		f.Clock = otpgate.SystemClock{}
	}
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
	if f.Every == 0 {
		f.Every = time.Minute
	}
	ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		t := time.NewTicker(f.Every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := f.Store.ForgetLimits(ctx, f.Clock.Now()); err != nil && !errors.Is(err, context.Canceled) {
					f.Logger.Warn("forgetting old rate-limit counts failed; retried in a minute", "err", err)
				}
			}
		}
	}()
}

// Stop stops the forgetter; safe to call twice, or without Start.
func (f *Forgetter) Stop() {
	f.once.Do(func() {
		if f.cancel != nil {
			f.cancel()
			<-f.done
		}
	})
}
