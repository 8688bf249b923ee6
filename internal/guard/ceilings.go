package guard

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/account"
	"github.com/otpgate/otpgate/internal/otpgate"
	"github.com/otpgate/otpgate/internal/policy"
	"github.com/otpgate/otpgate/internal/store"
)

// Accounts reads an account's settings (the store).
type Accounts interface {
	Account(ctx context.Context, sid string) (account.Account, error)
}

// CeilingsConfig configures Ceilings.
type CeilingsConfig struct {
	// Defaults are the ceilings of an account the operator set none for
	// (--region or the config file's countries, --limit-per-number,
	// --daily-budget, the config file's "policy").
	Defaults policy.Effective
	Accounts Accounts
	// CacheFor is how long an account's ceilings are kept before they are
	// read again (a change made on another node or by the CLI applies
	// within it); default 5 s.
	CacheFor time.Duration
	Clock    otpgate.Clock
}

// Ceilings reads what applies to each account's sends: its ceilings (the
// operator's policy for it over the server's defaults) and the countries
// it chose within them, kept for CacheFor. It is what every send's
// policies judge by (pipeline.Ceilings).
type Ceilings struct {
	cfg   CeilingsConfig
	mu    sync.Mutex
	cache map[string]cachedCeilings
}

type cachedCeilings struct {
	ceilings  policy.Effective
	countries string
	until     time.Time
}

// NewCeilings returns the cache.
func NewCeilings(cfg CeilingsConfig) *Ceilings {
	if cfg.CacheFor == 0 {
		cfg.CacheFor = 5 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = otpgate.SystemClock{}
	}
	return &Ceilings{cfg: cfg, cache: map[string]cachedCeilings{}}
}

// Defaults are the ceilings of an account the operator set none for.
func (c *Ceilings) Defaults() policy.Effective { return c.cfg.Defaults }

// Ceilings returns an account's ceilings and the countries it chose ("" for
// its whole ceiling). An account deleted meanwhile has the defaults.
func (c *Ceilings) Ceilings(ctx context.Context, sid string) (policy.Effective, string, error) {
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	e, ok := c.cache[sid]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.ceilings, e.countries, nil
	}
	a, err := c.cfg.Accounts.Account(ctx, sid)
	if errors.Is(err, store.ErrNotFound) {
		a, err = account.Account{}, nil
	}
	if err != nil {
		return policy.Effective{}, "", err
	}
	e = cachedCeilings{ceilings: c.cfg.Defaults.Apply(a.Policy), countries: a.Countries, until: now.Add(c.cfg.CacheFor)}
	c.mu.Lock()
	c.cache[sid] = e
	c.mu.Unlock()
	return e.ceilings, e.countries, nil
}

// Forget drops an account's cached ceilings: this node applies a change at
// once (others within CacheFor).
func (c *Ceilings) Forget(accountSID string) {
	c.mu.Lock()
	delete(c.cache, accountSID)
	c.mu.Unlock()
}
